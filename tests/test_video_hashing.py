"""Video hashing: frames sampled by time and at cuts, hashed so altered copies still match,
partial fetches hashed as far as they go, hostile bytes rejected, nothing written to disk.

Every video is made here, in memory, from the photographs in tests/data/photos
(``monitor.video.synth``): camera moves over a photo per shot, cut to the next.
"""

from __future__ import annotations

import io
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
from conftest import PHOTOS

from monitor.hashing.base import hamming_hex
from monitor.video import REFERENCE_FPS, Frame, VideoHashes, VideoRejected
from monitor.video.hashing import SparseBytes, crop_borders, hash_video
from monitor.video.synth import camera_video, transform

PICTURES = sorted(PHOTOS.glob("*.jpg"))
MAX_PIXELS = 4096 * 2160
#: The original: 7 s at 30 fps, 800x450, shots of 2.5 s over three photos: cuts at 2.5 s
#: (between the 1 s samples) and 5 s (on one).
SECONDS, FPS, SHOT = 7.0, 30, 2.5
CUTS = (2.5, 5.0)


@pytest.fixture(scope="module")
def original() -> bytes:
    return camera_video(
        PICTURES[:3], seconds=SECONDS, fps=FPS, size=(800, 450), seed=5, shot_seconds=SHOT
    )


@pytest.fixture(scope="module")
def original_hashes(original: bytes) -> VideoHashes:
    return hash_video(original, max_pixels=MAX_PIXELS, mirrored=True)


@pytest.fixture(scope="module")
def small() -> bytes:
    """A small one for the partial fetches and hostile bytes: 6 s, 320x180, 25 fps."""
    return camera_video(PICTURES[4:7], seconds=6, size=(320, 180), seed=9)


def aligned(
    reference: Sequence[Frame],
    copy: Sequence[Frame],
    *,
    offset: float = 0.0,
    tolerance: float = 0.1,
) -> list[int]:
    """PDQ distances of the copy's frames to the reference frame nearest in time (the copy's
    time plus ``offset``), for those with one within ``tolerance`` seconds."""
    distances = []
    for frame in copy:
        nearest = min(reference, key=lambda r: abs(r.at - (frame.at + offset)))
        if abs(nearest.at - (frame.at + offset)) <= tolerance:
            distances.append(hamming_hex(nearest.pdq, frame.pdq))
    return distances


# --------------------------------------------------------------------------- synth


def test_synth_is_deterministic_and_in_memory() -> None:
    one = camera_video(PICTURES[:2], seconds=1, size=(160, 90), seed=1)
    assert one == camera_video(PICTURES[:2], seconds=1, size=(160, 90), seed=1)
    assert one != camera_video(PICTURES[:2], seconds=1, size=(160, 90), seed=2)
    assert transform(one, flip=True) == transform(one, flip=True)
    with av.open(io.BytesIO(one)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 90)
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) == 25


def test_synth_faststart_moves_the_index_first() -> None:
    plain = camera_video(PICTURES[:2], seconds=1, size=(160, 90), seed=1)
    fast = camera_video(PICTURES[:2], seconds=1, size=(160, 90), seed=1, faststart=True)
    assert plain.index(b"moov") > plain.index(b"mdat")
    assert fast.index(b"moov") < fast.index(b"mdat")
    assert len(fast) == len(plain)

    def pictures(data: bytes) -> list[bytes]:
        with av.open(io.BytesIO(data)) as container:
            return [f.to_ndarray().tobytes() for f in container.decode(video=0)]

    assert pictures(fast) == pictures(plain)  # the chunk offsets were moved too


# --------------------------------------------------------------------------- sampling


def test_frames_every_second_and_at_cuts(original: bytes, original_hashes: VideoHashes) -> None:
    hashes = original_hashes
    assert (hashes.width, hashes.height, hashes.format) == (800, 450, "mp4")
    assert hashes.duration == pytest.approx(SECONDS, abs=0.05)
    assert not hashes.partial
    times = [frame.at for frame in hashes.frames]
    assert times == sorted(times)
    # One frame per second (a non-reference frame is skipped, so up to 2 frames late),
    # and the cut between samples.
    grid = [t for t in times if abs(t - 2.5) > 0.05]
    assert len(grid) == 7
    for second, t in enumerate(grid):
        assert second <= t <= second + 0.07
    assert any(abs(t - 2.5) < 0.04 for t in times), times
    assert len(times) == 8
    assert all(frame.quality >= 80 for frame in hashes.frames)
    # Frames of different shots are far apart.
    first, second_shot = hashes.frames[0], next(f for f in hashes.frames if f.at >= 2.5)
    assert hamming_hex(first.pdq, second_shot.pdq) > 80


def test_digests_and_mirrored_frames(original: bytes, original_hashes: VideoHashes) -> None:
    import hashlib

    assert original_hashes.sha256 == hashlib.sha256(original).hexdigest()
    assert original_hashes.md5 == hashlib.md5(original).hexdigest()
    assert original_hashes.size == len(original)
    assert [f.at for f in original_hashes.mirrored] == [f.at for f in original_hashes.frames]
    for frame, mirror in zip(original_hashes.frames, original_hashes.mirrored, strict=True):
        assert hamming_hex(frame.pdq, mirror.pdq) > 64  # a mirror image is another hash
    plain = hash_video(original, max_pixels=MAX_PIXELS)
    assert plain.mirrored == ()
    assert plain.frames == original_hashes.frames  # the same, run again


# --------------------------------------------------------------------------- robustness

TRANSFORMS: dict[str, dict[str, Any]] = {
    "bitrate_150k": {"bitrate": 150_000},
    "rescale_640x360": {"size": (640, 360)},
    "rescale_320x180": {"size": (320, 180)},
    "fps_15": {"fps": 15},
    "letterbox_25pc": {"letterbox": 0.25},
    "watermark": {"watermark": "@reuploader"},
    "vp9_webm": {"codec": "libvpx-vp9", "container": "webm", "size": (640, 360)},
}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_altered_copies_match_frame_by_frame(
    name: str, original_hashes: VideoHashes, original: bytes
) -> None:
    copy = hash_video(transform(original, **TRANSFORMS[name]), max_pixels=MAX_PIXELS)
    distances = aligned(original_hashes.frames, copy.frames)
    print(f"{name}: {len(distances)} aligned of {len(copy.frames)}, distances {sorted(distances)}")
    assert len(distances) >= 0.8 * len(original_hashes.frames)
    assert statistics.median(distances) <= 16  # measured: 2 to 13 (watermark)
    assert sum(d <= 30 for d in distances) >= 0.8 * len(distances)
    # And not the mirrored hashes (a copy is not matched by chance).
    assert statistics.median(aligned(original_hashes.mirrored, copy.frames)) > 80


def test_fps_change_keeps_the_sample_times(original: bytes, original_hashes: VideoHashes) -> None:
    data = transform(original, fps=15)
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].average_rate == 15
    copy = hash_video(data, max_pixels=MAX_PIXELS)
    assert copy.duration == pytest.approx(SECONDS, abs=0.05)
    originals = [f.at for f in original_hashes.frames]
    assert len(copy.frames) == len(originals)
    for frame in copy.frames:  # at most three frames of 30 fps off (skipped B-frames)
        assert min(abs(frame.at - t) for t in originals) <= 0.1


def test_trimmed_copy(original: bytes, original_hashes: VideoHashes) -> None:
    copy = hash_video(transform(original, start=3.3), max_pixels=MAX_PIXELS)
    assert copy.duration == pytest.approx(SECONDS - 3.3, abs=0.1)
    assert copy.frames[0].at == 0.0
    # The copy's cuts are the original's, 3.3 s earlier: sampled in both, the same hashes.
    for cut in (5.0,):
        mine = next(f for f in copy.frames if abs(f.at + 3.3 - cut) < 0.04)
        theirs = next(f for f in original_hashes.frames if abs(f.at - cut) < 0.04)
        assert hamming_hex(mine.pdq, theirs.pdq) <= 8
    # Its 1 s grid falls 0.3 s off the original's: PDQ moves some 50 bits a second with the
    # camera, so frames of the same shot 0.3 s apart differ by up to ~70 bits. A reference
    # hashed at 4 fps has a frame within 0.125 s of any time: then they all match.
    one_fps = aligned(original_hashes.frames, copy.frames, offset=3.3, tolerance=0.4)
    reference = hash_video(original, max_pixels=MAX_PIXELS, fps=4)
    assert 27 <= len(reference.frames) <= 30
    four_fps = aligned(reference.frames, copy.frames, offset=3.3, tolerance=0.15)
    print(f"trim: against 1 fps {sorted(one_fps)}, against 4 fps {sorted(four_fps)}")
    assert len(four_fps) == len(copy.frames)
    assert statistics.median(four_fps) <= 12
    assert max(four_fps) <= 30


def test_mirrored_copy_matches_the_mirrored_hashes(
    original: bytes, original_hashes: VideoHashes
) -> None:
    copy = hash_video(transform(original, flip=True), max_pixels=MAX_PIXELS)
    distances = aligned(original_hashes.mirrored, copy.frames)
    print(f"flip: distances {sorted(distances)}")
    assert len(distances) >= 0.8 * len(original_hashes.frames)
    assert statistics.median(distances) <= 12
    assert max(distances) <= 30
    assert statistics.median(aligned(original_hashes.frames, copy.frames)) > 80


def test_crop_borders() -> None:
    rng = np.random.default_rng(0)
    picture = rng.integers(40, 220, size=(288, 512), dtype=np.uint8)
    boxed = np.full((288, 512), 16, dtype=np.uint8)
    boxed[36:252] = picture[36:252]
    noisy = (boxed.astype(int) + rng.integers(-6, 7, size=boxed.shape)).clip(0, 255)
    noisy[10, 200:205] = 235  # a few bright pixels (a logo's) on the bar
    assert crop_borders(noisy.astype(np.uint8)).shape == (216, 512)
    pillar = np.full((288, 512), 0, dtype=np.uint8)
    pillar[:, 64:448] = picture[:, 64:448]
    assert crop_borders(pillar).shape == (288, 384)
    dark = np.full((288, 512), 20, dtype=np.uint8)  # a black frame is not all border
    assert crop_borders(dark).shape == (288, 512)
    assert crop_borders(picture).shape == (288, 512)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("codec", "container", "name"),
    [
        ("libvpx-vp9", "webm", "webm"),
        ("libvpx", "webm", "webm"),
        ("libsvtav1", "mp4", "mp4"),
        ("libx264", "mpegts", "mpegts"),
        ("libx264", "matroska", "matroska"),
    ],
)
def test_other_codecs_and_containers(small: bytes, codec: str, container: str, name: str) -> None:
    reference = hash_video(small, max_pixels=MAX_PIXELS)
    copy = hash_video(transform(small, codec=codec, container=container), max_pixels=MAX_PIXELS)
    assert copy.format == name
    assert (copy.width, copy.height) == (320, 180)
    assert copy.frames[0].at == 0.0  # times from the first frame (MPEG-TS starts at 1.4 s)
    distances = aligned(reference.frames, copy.frames)
    assert len(distances) >= 0.8 * len(reference.frames)
    assert statistics.median(distances) <= 12


# --------------------------------------------------------------------------- partial fetches


def test_sparse_bytes_reads() -> None:
    sparse = SparseBytes(100, [(0, b"a" * 10), (90, b"z" * 10), (5, b"b" * 10)])
    assert sparse.parts == ((0, b"aaaaa" * 2 + b"bbbbb"), (90, b"z" * 10))
    assert (sparse.held, sparse.complete) == (25, False)
    assert sparse.read(4) == b"aaaa"
    assert sparse.read(100) == b"aaaaaabbbbb"  # up to the gap
    assert sparse.read(10) == b""  # at the gap: the end, as the demuxer sees it
    assert sparse.seek(-5, os.SEEK_END) == 95
    assert sparse.read() == b"zzzzz"
    assert sparse.seek(50) == 50 and sparse.read(1) == b""
    buffer = bytearray(4)
    sparse.seek(8)
    assert sparse.readinto(buffer) == 4 and bytes(buffer) == b"aabb"
    with pytest.raises(ValueError):
        SparseBytes(10, [(5, b"123456")])
    whole = SparseBytes(3, [(0, b"abc")])
    assert whole.complete


def _moov_tail(data: bytes) -> int:
    """Offset of the top-level ``moov`` box of a (moov-at-end) MP4."""
    return data.rindex(b"moov") - 4


def _prefix_frames(hashes: VideoHashes, full: VideoHashes, limit: float) -> None:
    assert hashes.partial
    assert len(hashes.frames) >= 2
    assert hashes.frames[-1].at < limit
    # The prefix's frames are the whole file's (the same decoded pictures).
    assert hashes.frames[:-1] == full.frames[: len(hashes.frames) - 1]


def test_partial_mp4_with_index_at_the_end(small: bytes) -> None:
    assert _moov_tail(small) > small.index(b"mdat")
    full = hash_video(small, max_pixels=MAX_PIXELS)
    tail = _moov_tail(small)
    prefix = len(small) // 2
    sparse = SparseBytes(len(small), [(0, small[:prefix]), (tail, small[tail:])])
    hashes = hash_video(sparse, max_pixels=MAX_PIXELS)
    _prefix_frames(hashes, full, limit=4.5)
    assert hashes.size == prefix + len(small) - tail
    assert hashes.duration == pytest.approx(6.0, abs=0.05)  # the index knows the whole
    import hashlib

    assert hashes.sha256 == hashlib.sha256(small[:prefix] + small[tail:]).hexdigest()
    # With too short a prefix, the index and no frame.
    too_short = SparseBytes(len(small), [(0, small[:2000]), (tail, small[tail:])])
    assert _kind(too_short) == "video_no_frames"
    # Without the end, the index is missing: nothing to hash.
    with pytest.raises(VideoRejected) as rejected:
        hash_video(SparseBytes(len(small), [(0, small[:prefix])]), max_pixels=MAX_PIXELS)
    assert rejected.value.kind == "video_corrupt"


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"faststart": True}, "mp4"),
        ({"codec": "libvpx-vp9", "container": "webm"}, "webm"),
        ({"container": "mpegts"}, "mpegts"),
    ],
)
def test_partial_prefix(small: bytes, options: dict[str, Any], name: str) -> None:
    data = transform(small, **options)
    full = hash_video(data, max_pixels=MAX_PIXELS)
    assert len(full.frames) >= 6 and not full.partial
    sparse = SparseBytes(len(data), [(0, data[: len(data) // 2])])
    hashes = hash_video(sparse, max_pixels=MAX_PIXELS)
    assert hashes.format == name
    _prefix_frames(hashes, full, limit=4.5)
    assert hashes.size == len(data) // 2


# --------------------------------------------------------------------------- hostile bytes


def _kind(data: bytes | SparseBytes, **options: Any) -> str:
    with pytest.raises(VideoRejected) as rejected:
        hash_video(data, max_pixels=options.pop("max_pixels", MAX_PIXELS), **options)
    return rejected.value.kind


def _audio_only() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as output:
        stream = output.add_stream("flac", rate=8000)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 2048), dtype=np.int16), format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = 8000, i * 2048, Fraction(1, 8000)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def test_rejections(small: bytes) -> None:
    assert _kind(b"") == "video_corrupt"
    assert _kind(bytes(random.Random(1).randbytes(50_000))) == "video_corrupt"
    assert _kind(small[:200]) == "video_corrupt"
    assert _kind(b"<html><body>not a video</body></html>") == "video_corrupt"
    assert _kind(b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n") == "video_corrupt"  # no HLS
    assert _kind(_audio_only()) == "video_no_stream"
    assert _kind(small, max_pixels=320 * 180 - 1) == "video_too_many_pixels"
    assert _kind(small, time_budget=0) == "video_timeout"


def test_too_many_pixels_is_checked_before_decoding(
    small: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.video.hashing as hashing

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded")

    monkeypatch.setattr(hashing, "_decoded", no_decoding)
    assert _kind(small, max_pixels=1000) == "video_too_many_pixels"


def test_limits_keep_the_frames_so_far(small: bytes) -> None:
    hashes = hash_video(small, max_pixels=MAX_PIXELS, max_frames=3)
    assert [round(f.at) for f in hashes.frames] == [0, 1, 2]
    assert hashes.partial


def test_truncated_and_damaged_files(small: bytes) -> None:
    fast = transform(small, faststart=True)
    full = hash_video(fast, max_pixels=MAX_PIXELS)
    cut = hash_video(fast[: len(fast) // 2], max_pixels=MAX_PIXELS)
    assert 2 <= len(cut.frames) < len(full.frames)
    assert cut.frames[:2] == full.frames[:2]
    # Bytes overwritten in the middle: frames still come, or a rejection; never a crash.
    rng = random.Random(3)
    outcomes = []
    for _ in range(25):
        damaged = bytearray(fast)
        start = rng.randrange(len(fast) // 4, len(fast))
        for i in range(start, min(len(fast), start + rng.randrange(1, 4000))):
            damaged[i] = rng.randrange(256)
        try:
            outcomes.append(len(hash_video(bytes(damaged), max_pixels=MAX_PIXELS).frames))
        except VideoRejected as exc:
            outcomes.append(exc.kind)
    assert any(isinstance(o, int) and o >= 3 for o in outcomes), outcomes


@pytest.mark.parametrize("seed", range(40))
def test_fuzzed_bytes_never_crash(seed: int) -> None:
    data = _fuzz_base()
    rng = random.Random(seed)
    damaged = bytearray(data)
    for _ in range(rng.randrange(1, 30)):
        damaged[rng.randrange(len(damaged))] = rng.randrange(256)
    if rng.random() < 0.3:
        damaged = damaged[: rng.randrange(len(damaged))]
    started = time.monotonic()
    try:
        result = hash_video(bytes(damaged), max_pixels=MAX_PIXELS, time_budget=10)
        assert all(len(f.pdq) == 64 for f in result.frames)
    except VideoRejected as exc:
        assert exc.kind.startswith("video_")
    assert time.monotonic() - started < 10


_FUZZ: list[bytes] = []


def _fuzz_base() -> bytes:
    if not _FUZZ:
        _FUZZ.append(camera_video(PICTURES[:2], seconds=2, size=(96, 64), seed=4))
    return _FUZZ[0]


# --------------------------------------------------------------------------- nothing written

_RECORDING: list[list[tuple[object, ...]]] = []  # the hook records while this holds a list
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not _RECORDING or event != "open":
        return
    path, mode, flags = (tuple(args) + (None, None, None))[:3]
    writes = isinstance(mode, str) and any(c in mode for c in "wax+")
    writes = writes or (isinstance(flags, int) and bool(flags & _WRITING))
    if writes:
        _RECORDING[-1].append((path, mode, flags))


_HOOKED: list[bool] = []


def test_hashing_opens_no_file_for_writing(small: bytes, tmp_path: os.PathLike[str]) -> None:
    """Python's opens, seen by an audit hook. (FFmpeg's own are kept out by the demuxer and
    protocol whitelists: test_rejections, an HLS playlist is refused.)"""
    if not _HOOKED:  # audit hooks cannot be removed: install one, for the whole session
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    opened: list[tuple[object, ...]] = []
    _RECORDING.append(opened)
    try:
        # The hook sees writes (checked here, in tmp_path), ...
        with open(os.path.join(tmp_path, "probe"), "w") as probe:
            probe.write("x")
        assert len(opened) == 1
        opened.clear()
        # ... and hashing makes none, whatever the layout.
        hash_video(small, max_pixels=MAX_PIXELS, mirrored=True)
        tail = _moov_tail(small)
        hash_video(
            SparseBytes(len(small), [(0, small[:30_000]), (tail, small[tail:])]),
            max_pixels=MAX_PIXELS,
        )
        hash_video(transform(small, codec="libvpx", container="webm"), max_pixels=MAX_PIXELS)
        with pytest.raises(VideoRejected):
            hash_video(b"\x00" * 1000, max_pixels=MAX_PIXELS)
    finally:
        _RECORDING.pop()
    assert opened == []


# --------------------------------------------------------------------------- speed (shown)


def test_speed_720p_is_reported() -> None:
    """Shown, not asserted (the machine is shared): decode + hash of 720p30 H.264."""
    clip = camera_video(PICTURES[:3], seconds=3, fps=30, size=(1280, 720), seed=3)
    runs = []
    for _ in range(3):
        started = time.process_time()
        hashes = hash_video(clip, max_pixels=MAX_PIXELS)
        runs.append(time.process_time() - started)
    cpu = statistics.median(runs)
    print(
        f"720p30 H.264 (x264 veryfast), 3 s: {90 / cpu:.0f} frames/s, {3 / cpu:.1f}x real time"
        f" on one core ({cpu:.2f} s CPU, {len(hashes.frames)} frames hashed)"
    )
    assert len(hashes.frames) >= 3


def test_fast_skips_b_frames_and_its_samples_stay_near(original: bytes) -> None:
    """The crawl's side (``fast``): H.264 B-frames are not decoded, so a sample may come a
    few frames late (at most 0.13 s at 30 fps with x264's B-frames), and each is within a
    few bits of the reference side's frame nearest in time (4 a second)."""
    reference = hash_video(original, max_pixels=MAX_PIXELS, fps=REFERENCE_FPS)
    plain = hash_video(original, max_pixels=MAX_PIXELS)
    fast = hash_video(original, max_pixels=MAX_PIXELS, fast=True)
    grid = [f.at for f in fast.frames if all(abs(f.at - c) > 0.2 for c in CUTS)]
    assert len(grid) >= 5
    assert all(0 <= t - round(t) <= 0.14 for t in grid), grid
    # Not the same frames as the plain decoding (else nothing was skipped)...
    assert [f.at for f in fast.frames] != [f.at for f in plain.frames]
    # ... yet close to the reference's.
    distances = aligned(reference.frames, fast.frames, tolerance=0.15)
    assert len(distances) >= len(fast.frames) - 1 and max(distances) <= 24, distances
