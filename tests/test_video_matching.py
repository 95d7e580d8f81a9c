"""In-order video matching (monitor.video.matching): synthetic frame sequences, then a
few small real videos made from the test photos."""

from __future__ import annotations

import io
import random
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from monitor.video import CRAWL_FPS, REFERENCE_FPS, Frame, VideoHashes, synth
from monitor.video.matching import VideoIndex, VideoMatch

# ----------------------------------------------------------------------------- synthetic


class Footage:
    """Synthetic footage: scenes of slowly drifting content, whose hash at any instant is
    defined, so that copies can be sampled at other instants (a trimmed copy samples
    between the original's samples).

    A scene has a random 256-bit base hash and a random order of its bits; at ``s``
    seconds into the scene the first ``drift * s`` bits of that order are flipped (a
    camera move changes the picture a little every second).
    """

    def __init__(
        self, rng: random.Random, scenes: int, scene_seconds: float = 6.0, drift: float = 10.0
    ):
        self.scene_seconds = scene_seconds
        self.drift = drift
        self.bases = [rng.getrandbits(256) for _ in range(scenes)]
        self.orders = [rng.sample(range(256), 256) for _ in range(scenes)]

    @property
    def duration(self) -> float:
        return len(self.bases) * self.scene_seconds

    def scene_hash(self, scene: int, s: float) -> int:
        value = self.bases[scene]
        for bit in self.orders[scene][: min(256, int(self.drift * s))]:
            value ^= 1 << bit
        return value

    def hash_at(self, t: float) -> int:
        scene = min(int(t // self.scene_seconds), len(self.bases) - 1)
        return self.scene_hash(scene, t - scene * self.scene_seconds)


def noisy(value: int, flips: int, rng: random.Random) -> str:
    for bit in rng.sample(range(256), flips):
        value ^= 1 << bit
    return f"{value:064x}"


def sample(
    footage: Footage,
    rng: random.Random,
    *,
    start: float = 0.0,
    end: float | None = None,
    noise: int = 0,
    quality: int = 90,
    fps: float = 1.0,
) -> list[Frame]:
    """The frames an ``fps`` sampling of footage[start:end] gives, timed from the copy's
    start."""
    end = footage.duration if end is None else end
    frames = []
    n = 0
    while start + n / fps < end - 1e-9:
        at = n / fps
        frames.append(Frame(at, noisy(footage.hash_at(start + at), noise, rng), quality))
        n += 1
    return frames


def random_frames(rng: random.Random, seconds: int, quality: int = 90) -> list[Frame]:
    return [Frame(float(t), f"{rng.getrandbits(256):064x}", quality) for t in range(seconds)]


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261129)


def only(matches: list[VideoMatch], entry_id: int) -> VideoMatch:
    assert [m.entry_id for m in matches] == [entry_id], matches
    return matches[0]


def test_identical_copy_matches_whole(rng: random.Random) -> None:
    footage = Footage(rng, scenes=10)  # 60 s
    index = VideoIndex()
    index.add(1, 7, sample(footage, rng))
    m = only(index.match(sample(footage, rng, noise=10)), 1)
    assert (m.case_id, m.view) == (7, "original")
    assert m.matched == 60 and m.query_share == 1.0
    assert m.ref_share == pytest.approx(1.0)
    assert m.distance <= 12
    assert m.query_start == 0 and m.query_end == 59
    assert m.ref_start == 0 and m.ref_end == 59


def test_excerpt_reports_its_time_ranges(rng: random.Random) -> None:
    footage = Footage(rng, scenes=20)  # 120 s
    index = VideoIndex()
    index.add(1, 1, sample(footage, rng))
    index.add(2, 1, sample(Footage(rng, scenes=20), rng))  # another video
    excerpt = sample(footage, rng, start=40.5, end=76.5, noise=12)  # 36 s, between samples
    m = only(index.match(excerpt), 1)
    assert m.query_share >= 0.9
    assert m.ref_share >= 0.8  # within the matched span, not over the 120 s
    assert m.query_start == pytest.approx(0, abs=1.01)
    assert m.query_end == pytest.approx(35, abs=1.01)
    assert m.ref_start == pytest.approx(40.5, abs=1.01)
    assert m.ref_end == pytest.approx(75.5, abs=1.01)
    # the offset is the trim: the reference's time is the copy's + 40.5 s
    assert m.ref_start - m.query_start == pytest.approx(40.5, abs=1.0)


def test_reference_sampled_more_densely(rng: random.Random) -> None:
    """References are hashed at 4 frames a second (monitor.video.REFERENCE_FPS), copies at
    1: the shares count seconds of the reference, not its frames."""
    footage = Footage(rng, scenes=10, drift=40.0)  # fast motion: 1 s apart is 40 bits
    index = VideoIndex()
    index.add(1, 1, sample(footage, rng, fps=4.0))
    assert index.frames == 240
    copy = sample(footage, rng, start=12.4, noise=8)  # between the 1 fps samples
    m = only(index.match(copy), 1)
    assert m.matched == len(copy) == 48 and m.query_share == 1.0
    assert m.ref_share == pytest.approx(1.0, abs=0.05)
    assert m.ref_start == pytest.approx(12.4, abs=0.2)
    assert m.ref_end == pytest.approx(59.4, abs=0.2)
    # Sampled at 1 fps, the reference misses most of this copy's frames (0.4 s away from
    # each, the picture has moved by 16 bits more than the noise, 24 bits in all, and the
    # next sample is 0.6 s away: 32 bits), though it still aligns the rest.
    sparse = VideoIndex(frame_threshold=20)
    sparse.add(1, 1, sample(footage, rng))
    assert sparse.match(copy) == []
    dense = VideoIndex(frame_threshold=20)
    dense.add(1, 1, sample(footage, rng, fps=4.0))
    assert only(dense.match(copy), 1).query_share == 1.0


def test_trimmed_start_and_end(rng: random.Random) -> None:
    footage = Footage(rng, scenes=10)
    index = VideoIndex()
    index.add(5, 2, sample(footage, rng))
    m = only(index.match(sample(footage, rng, start=7.3, noise=12)), 5)
    assert m.ref_start == pytest.approx(7.3, abs=1.01)
    assert m.ref_end == pytest.approx(59, abs=1.01)
    m = only(index.match(sample(footage, rng, end=21, noise=12)), 5)
    assert (m.ref_start, m.query_start) == (0, 0)
    assert m.ref_end == pytest.approx(20, abs=1.01)


def test_unrelated_videos_do_not_match(rng: random.Random) -> None:
    index = VideoIndex()
    for entry in range(20):
        index.add(entry, 1, sample(Footage(rng, scenes=10), rng))
    for _ in range(10):
        assert index.match(sample(Footage(rng, scenes=10), rng, noise=5)) == []
        assert index.match(random_frames(rng, 60)) == []


def test_one_shared_frame_or_still_does_not_match(rng: random.Random) -> None:
    footage = Footage(rng, scenes=10)
    index = VideoIndex()
    index.add(1, 1, sample(footage, rng))
    shared = footage.hash_at(25.0)
    # one identical frame in an unrelated minute
    frames = random_frames(rng, 60)
    frames[30] = Frame(30.0, f"{shared:064x}", 90)
    assert index.match(frames) == []
    # the same picture held for 5 s (a still) in an unrelated minute
    frames = random_frames(rng, 60)
    for t in range(30, 35):
        frames[t] = Frame(float(t), noisy(shared, 4, rng), 90)
    assert index.match(frames) == []
    assert index.explain(frames)[0].matched <= 5  # it was seen, and refused


def test_scenes_reordered_report_the_longest_in_order_run(rng: random.Random) -> None:
    footage = Footage(rng, scenes=8, scene_seconds=8.0)  # 64 s
    index = VideoIndex()
    index.add(1, 1, sample(footage, rng))
    # The copy shows scenes 5, 1, 6, 2 (8 s each, frames within scenes in order).
    frames: list[Frame] = []
    for n, scene in enumerate((5, 1, 6, 2)):
        for s in range(8):
            value = footage.scene_hash(scene, float(s))
            frames.append(Frame(float(n * 8 + s), noisy(value, 8, rng), 90))
    (m,) = index.explain(frames)
    # one scene's run, or two adjacent in the original order (5 then 6 at the same
    # offset: copy 16-23 is ref 48-55, copy 0-7 is ref 40-47 -> offset 40 vs 32: no)
    assert m.matched <= 8
    assert m.query_end - m.query_start <= 7
    assert m.ref_end - m.ref_start <= 8
    # shares of at most 8 / 32 frames: not a match with the default shares
    assert m.query_share <= 0.25
    assert index.match(frames) == []


def test_in_order_half_of_a_shuffled_copy(rng: random.Random) -> None:
    """Where half the copy is in order, that half is the alignment, and it matches."""
    footage = Footage(rng, scenes=10)
    index = VideoIndex()
    index.add(1, 1, sample(footage, rng))
    frames = sample(footage, rng, end=36, noise=8)  # 36 s in order (ref 0-35)
    tail = list(range(40, 60))
    rng.shuffle(tail)  # then 20 s of the rest, in random order
    frames += [Frame(36.0 + n, noisy(footage.hash_at(t), 8, rng), 90) for n, t in enumerate(tail)]
    # shuffled frames that land within 2 s of their place are in order (the centre may
    # move by the tolerance, 1.25 s, and still hold the in-order part)
    lucky = sum(abs(t - (36 + n)) <= 2 for n, t in enumerate(tail))
    m = only(index.match(frames), 1)
    assert 35 <= m.matched <= 36 + lucky
    assert m.query_start == 0 and m.ref_start <= 1


def test_low_quality_frames_are_ignored(rng: random.Random) -> None:
    black = "0" * 64
    footage = Footage(rng, scenes=10)
    index = VideoIndex()
    index.add(1, 1, sample(footage, rng) + [Frame(60.0 + t, black, 0) for t in range(30)])
    assert index.frames == 60  # the 30 black frames are not held
    edge = VideoIndex()  # the default min_quality: 30
    edge.add(2, 1, [Frame(0.0, "1" * 64, 29), Frame(1.0, "2" * 64, 30)])
    assert edge.frames == 1
    # A video of black frames (quality 0) matches nothing, even the same black frames.
    assert index.match([Frame(float(t), black, 0) for t in range(60)]) == []
    # Black frames in a copy count neither for nor against it.
    copy = sample(footage, rng, noise=8)
    copy = [Frame(f.at, black, 0) if 10 <= f.at < 40 else f for f in copy]
    m = only(index.match(copy), 1)
    assert m.matched == 30 and m.query_share == 1.0
    # ... but at quality 60 (over min_quality) they are frames, unmatched: half the copy.
    copy = [Frame(f.at, black, 60) if 10 <= f.at < 40 else f for f in copy]
    (m,) = index.explain(copy)
    assert m.query_share == pytest.approx(0.5, abs=0.02)


def test_flipped_copy_matches_the_mirrored_view(rng: random.Random) -> None:
    footage = Footage(rng, scenes=10)
    mirrored = Footage(rng, scenes=10)  # stands for the mirrored frames' hashes
    index = VideoIndex()
    index.add(3, 9, sample(footage, rng))
    index.add(3, 9, sample(mirrored, rng), view="mirrored")
    assert len(index) == 1
    m = only(index.match(sample(mirrored, rng, start=4, noise=10)), 3)
    assert m.view == "mirrored" and m.case_id == 9
    m = only(index.match(sample(footage, rng, start=4, noise=10)), 3)
    assert m.view == "original"
    with pytest.raises(ValueError):
        index.add(3, 9, sample(footage, rng), view="upside-down")


def test_noise_up_to_the_threshold(rng: random.Random) -> None:
    footage = Footage(rng, scenes=10)
    index = VideoIndex(frame_threshold=31)
    index.add(1, 1, sample(footage, rng))
    assert index.match(sample(footage, rng, noise=28))  # within 31 bits of each sample
    assert index.match(sample(footage, rng, noise=60)) == []  # far past it


def test_remove(rng: random.Random) -> None:
    footages = [Footage(rng, scenes=5) for _ in range(3)]
    index = VideoIndex()
    for entry, footage in enumerate(footages, 1):
        index.add(entry, 1, sample(footage, rng))
    index.add(2, 1, sample(footages[1], rng), view="mirrored")
    assert len(index) == 3
    assert index.remove([2, 99]) == 1
    assert len(index) == 2 and index.frames == 60
    assert index.match(sample(footages[1], rng, noise=5)) == []
    only(index.match(sample(footages[2], rng, noise=5)), 3)
    only(index.match(sample(footages[0], rng, noise=5)), 1)
    assert index.remove([]) == 0 and index.remove([2]) == 0
    index.add(2, 1, sample(footages[1], rng))  # added again after the removal
    only(index.match(sample(footages[1], rng, noise=5)), 2)


def test_thresholds_are_applied(rng: random.Random) -> None:
    footage = Footage(rng, scenes=10)
    copy = sample(footage, rng, end=12, noise=6)  # 12 frames, 11 s
    index = VideoIndex(min_frames=13)
    index.add(1, 1, sample(footage, rng))
    assert index.match(copy) == []
    index = VideoIndex(min_seconds=12.0)
    index.add(1, 1, sample(footage, rng))
    assert index.match(copy) == []
    index = VideoIndex(min_seconds=11.0)
    index.add(1, 1, sample(footage, rng))
    assert index.match(copy)
    # query share: 12 matched frames among 40 usable
    padded = copy + random_frames(rng, 40)[12:]
    padded = [Frame(float(n), f.pdq, f.quality) for n, f in enumerate(padded)]
    index = VideoIndex(min_query_share=0.35)
    index.add(1, 1, sample(footage, rng))
    assert index.match(padded) == []
    index = VideoIndex(min_query_share=0.25)
    index.add(1, 1, sample(footage, rng))
    assert only(index.match(padded), 1).query_share == pytest.approx(12 / 40)
    # reference share: every other reference frame replaced by an unrelated one
    holes = [
        f if n % 2 else Frame(f.at, f"{rng.getrandbits(256):064x}", 90)
        for n, f in enumerate(sample(footage, rng))
    ]
    index = VideoIndex(frame_threshold=20)
    index.add(1, 1, holes)
    (m,) = index.explain(sample(footage, rng, noise=4))
    assert m.ref_share == pytest.approx(0.5, abs=0.05)
    index = VideoIndex(frame_threshold=20, min_ref_share=0.6)
    index.add(1, 1, holes)
    assert index.match(sample(footage, rng, noise=4)) == []


def test_speed_and_snapshot_reads(rng: random.Random) -> None:
    """600 query frames against 300 reference videos of 160 frames (48,000 frames)."""
    index = VideoIndex()
    bases = np.random.default_rng(1).integers(0, 256, (300 * 160, 32), dtype=np.uint8)
    hexes = [row.tobytes().hex() for row in bases]
    for entry in range(300):
        chunk = hexes[entry * 160 : (entry + 1) * 160]
        index.add(entry, 1, [Frame(float(t), h, 90) for t, h in enumerate(chunk)])
    footage = Footage(rng, scenes=100)
    index.add(1000, 1, sample(footage, rng, end=160))
    query = sample(footage, rng, noise=8)  # 600 frames, the first 160 s from entry 1000
    index.match(query)  # warm
    began = time.perf_counter()
    matches = index.match(query)
    took = time.perf_counter() - began
    assert took < 1.0, took
    # A snapshot read while another thread adds.
    stop = threading.Event()

    def writer() -> None:
        for n in range(2000, 2300):
            if stop.is_set():
                break
            index.add(n, 2, random_frames(random.Random(n), 20))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            again = index.match(query)
            assert [m.entry_id for m in again] == [m.entry_id for m in matches]
    finally:
        stop.set()
        thread.join()
    # 160 of 600 query frames: a share of 0.27, under the default 0.5
    assert matches == []
    (m,) = [m for m in index.explain(query) if m.entry_id == 1000]
    # (the query's next two seconds are still within 31 bits of the reference's last frame)
    assert 160 <= m.matched <= 162 and m.ref_end == 159 and m.query_start == 0


def test_bad_hash_is_refused() -> None:
    index = VideoIndex()
    with pytest.raises(ValueError):
        index.add(1, 1, [Frame(0.0, "zz" * 32, 90)] * 5)
    assert len(index) == 0 and index.frames == 0


# ----------------------------------------------------------------------------- real videos

PHOTOS = sorted((Path(__file__).parent / "data" / "photos").glob("*.jpg"))
SECONDS = 16.0  # four shots of 4 s
SMALL = {"fps": 15, "size": (320, 180)}
MAX_PIXELS = 10_000_000


def _hash(data: bytes, *, reference: bool = False) -> VideoHashes:
    from monitor.video.hashing import hash_video

    if reference:  # as monitor.hashes enrols a victim's video
        return hash_video(data, max_pixels=MAX_PIXELS, fps=REFERENCE_FPS, mirrored=True)
    return hash_video(data, max_pixels=MAX_PIXELS, fps=CRAWL_FPS)


@pytest.fixture(scope="module")
def real() -> tuple[VideoIndex, bytes]:
    """An index of two reference videos (entries 1 and 2, original and mirrored views)
    made from the test photos, and entry 1's bytes."""
    first = synth.camera_video(PHOTOS[:4], seconds=SECONDS, seed=1, **SMALL)
    second = synth.camera_video(PHOTOS[4:8], seconds=SECONDS, seed=2, **SMALL)
    index = VideoIndex()
    for entry, data in ((1, first), (2, second)):
        hashes = _hash(data, reference=True)
        index.add(entry, 10 + entry, hashes.frames)
        index.add(entry, 10 + entry, hashes.mirrored, view="mirrored")
    return index, first


def test_real_trimmed_copy_matches_with_its_time_range(real: tuple[VideoIndex, bytes]) -> None:
    index, original = real
    m = only(index.match(_hash(synth.transform(original, start=3.4)).frames), 1)
    assert (m.case_id, m.view) == (11, "original")
    assert m.query_share >= 0.8 and m.ref_share >= 0.7
    assert m.query_start == pytest.approx(0.0, abs=0.6)
    assert m.ref_start == pytest.approx(3.4, abs=0.6)
    assert m.ref_end == pytest.approx(SECONDS - 0.5, abs=1.0)
    assert m.query_end == pytest.approx(SECONDS - 3.4 - 0.5, abs=1.0)


def test_real_excerpt_matches_with_its_time_range(real: tuple[VideoIndex, bytes]) -> None:
    index, original = real
    m = only(index.match(_hash(synth.transform(original, start=4.6, end=10.6)).frames), 1)
    assert m.query_start == pytest.approx(0.0, abs=0.6)
    assert m.query_end == pytest.approx(5.5, abs=1.0)
    assert m.ref_start == pytest.approx(4.6, abs=0.6)
    assert m.ref_end == pytest.approx(10.1, abs=1.0)


def test_real_rescaled_reencoded_watermarked_copy_matches(real: tuple[VideoIndex, bytes]) -> None:
    index, original = real
    copy = synth.transform(original, size=(192, 108), bitrate=120_000, watermark="@someone")
    m = only(index.match(_hash(copy).frames), 1)
    assert m.view == "original" and m.query_share >= 0.7
    assert m.ref_start == pytest.approx(0.0, abs=0.6)


def test_real_flipped_letterboxed_copy_matches_the_mirrored_view(
    real: tuple[VideoIndex, bytes],
) -> None:
    index, original = real
    copy = synth.transform(original, flip=True, letterbox=0.25, fps=24)
    m = only(index.match(_hash(copy).frames), 1)
    assert m.view == "mirrored" and m.query_share >= 0.7


def test_real_unrelated_and_shared_photo_videos_do_not_match(
    real: tuple[VideoIndex, bytes],
) -> None:
    """Other videos, even one that shows one of the reference's photos (another camera
    move over it, 4 s of 16) or a still of one of its frames, match nothing."""

    index, original = real
    unrelated = synth.camera_video(PHOTOS[6:10], seconds=SECONDS, seed=5, **SMALL)
    assert index.match(_hash(unrelated).frames) == []
    shared = synth.camera_video(
        [PHOTOS[0], PHOTOS[8], PHOTOS[9], PHOTOS[4]], seconds=SECONDS, seed=6, **SMALL
    )
    assert index.match(_hash(shared).frames) == []
    with av.open(io.BytesIO(original)) as container:  # the reference's frame at 6 s
        still = next(f for f in container.decode(video=0) if f.time >= 6.0).to_image()
    stills = synth.camera_video(
        [still, PHOTOS[8], PHOTOS[9], PHOTOS[5]], seconds=SECONDS, seed=7, **SMALL
    )
    assert index.match(_hash(stills).frames) == []
