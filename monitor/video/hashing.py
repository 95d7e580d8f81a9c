"""Hashing untrusted video bytes, in memory: sampled frames' PDQ hashes, and digests.

Everything here sees bytes fetched from hostile sites, so each failure is turned into
``VideoRejected`` with a short ``kind`` that the crawl counts, and nothing is ever
written to disk: PyAV (FFmpeg's libraries) reads only from a Python file-like object
(``io.BytesIO``, or ``SparseBytes`` for a partial fetch), and the demuxers allowed are a
short list of containers that never open another file or URL (no playlists, no
``concat``, no external references).

The sampling and hashing rules (``VPDQ_VERSION`` 1):

1. Times are presentation times (pts) from the first decoded frame, so a copy at another
   frame rate, or remuxed into another container, is sampled at the same times.
2. A frame is sampled at every multiple of 1/``fps`` seconds: the first decoded frame at
   or after that time (non-reference frames are not decoded, see below, so it may be a
   frame or two late). Also at a *scene change*: a decoded frame whose tiny luma
   thumbnail (18 rows by 32 column blocks, read straight from the decoded Y plane: a few
   microseconds) differs from the previous decoded frame's by more than
   ``SCENE_THRESHOLD`` on average (a cut between photographs: about 50; a fast pan: under
   15), at least ``SCENE_MIN_GAP`` after the last scene change. A cut is where a copy's
   frames and the original's line up best. A trimmed copy's 1 s grid falls between the
   original's, and PDQ moves with the camera (some 50 bits a second on a slow pan):
   references can be hashed at a higher ``fps`` (4: a frame within 0.125 s of any time).
3. A sampled frame is reduced to luma at most ``FRAME_SIZE`` px on its longer side
   (swscale, area averaging), its uniform dark borders (letterbox and pillarbox bars,
   tolerant to compression noise) are cropped, and the rest is reduced to PDQ's 64x64
   grid (Pillow, bilinear: a tent filter like PDQ's two box passes), whatever its size
   and aspect, and hashed: PDQ's DCT, median and quality (``pdq_from_grid``: what
   ``pdqhash.compute``, Meta's C++, gives for that 64x64 picture; the hex form is
   ``PdqHash``'s). On the reference side, the mirrored grid's hash too. A fixed reduction
   makes every copy's the same, whatever its size.

Speed: one core (``thread_count = 1``: the crawl runs a hashing worker per core, and
FFmpeg's frame threads would multiply the decoded frames held in memory), and FFmpeg's
cheap-decode switches, which cost little in the hashes: the loop filter (deblocking) is
skipped, and so are non-reference frames (mostly B-frames), which no later frame needs.
Only sampled frames are converted and scaled. Measured (median of 5 runs, CPU time, on
this 2-core machine with other jobs: load about 5) on a 60 s 1280x720 30 fps H.264 clip
(x264's defaults: preset medium, crf 23, High profile, B-frames; 575 kbit/s, as the slow
camera moves of ``synth.camera_video`` compress well): 1.53 s, that is 1180 frames/s,
39x real time (wall time 2.5 s, 24x, with the other jobs); with ``mirrored`` the same.
FFmpeg's decoding alone takes 2.61 s of those frames, 2.18 s without the loop filter,
1.57 s without non-reference frames, 1.20 s without both; the scene thumbnail costs
50-75 us a decoded frame; a sampled frame's reduction to 512 px luma (swscale) 2.5 ms,
its crop, 64x64 reduction and PDQ 0.6 ms.
At 4 Mbit/s (a 20 s clip, x264 defaults otherwise), like real footage's bitrate: 1.22 s
for the 20 s, 490 frames/s, 16x real time. The crawl's side (``fast=True``) skips every
H.264 B-frame too: benchmarks/video.py (one pinned core, best of 3) gives 76.5x real time
at x264's defaults and 23.4x at 4.2 Mbit/s (17.7x without), with recall unchanged.

Memory is bounded whatever the length: one decoded frame at a time (FFmpeg's decoder
keeps its reference frames), the thumbnail of the previous one, and the hashes.

Limits: ``max_pixels`` is checked from the stream's header before anything is decoded
(and again on each frame, as a stream may change size); ``max_frames`` sampled frames
and ``time_budget`` seconds stop hashing early (the frames so far are kept, and the
result is marked ``partial``), as does a decode error once some frames are hashed.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import av
import numpy as np
from PIL import Image

from monitor.hashing.algorithms import pdq_from_grid, pdq_hex
from monitor.video import Frame, VideoHashes, VideoRejected

__all__ = [
    "DEMUXERS",
    "FRAME_SIZE",
    "HASH_GRID",
    "SCENE_MIN_GAP",
    "SCENE_THRESHOLD",
    "SparseBytes",
    "crop_borders",
    "hash_video",
]

#: Demuxers allowed (FFmpeg's names): containers of one file, which open nothing else.
#: HLS/DASH playlists, ``concat``, image sequences and the like are never probed.
DEMUXERS = ("mov", "matroska", "mpegts", "avi", "flv", "ogg", "mpeg", "asf")
#: Sampled frames are reduced to at most this size (px, longer side) for border cropping.
FRAME_SIZE = 512
#: ... and the picture inside the borders to PDQ's 64x64 grid.
HASH_GRID = 64
#: A scene change: the mean absolute difference of consecutive thumbnails (luma, 0-255).
SCENE_THRESHOLD = 30.0
#: ... at least this long (seconds) after the last one (fades and flashes count once).
SCENE_MIN_GAP = 0.3
#: Luma at or below this (in 0-255) is a border's "black" (video black is 16).
BORDER_DARK = 40
#: FFmpeg's ``skip_frame``, by codec: frames not decoded at all. "NONREF" (the default):
#: those no other frame needs. "BIDIR" (every B-frame) would be faster still for H.264
#: (x264 4 Mbit/s 720p30: 23x real time rather than 16x), but moves the sampled frames
#: by up to 4 frames (0.13 s) with the copy's GOP, which a copy in another codec, decoded
#: whole, does not follow: measured, and not used. Never for HEVC, whose encoders make
#: nearly every frame a B-frame (generalised P).
SKIP_FRAME: dict[str, str] = {}
SKIP_FRAME_DEFAULT = "NONREF"
#: ``fast=True`` (the crawl's side): every H.264 B-frame skipped ("BIDIR"). The copy's
#: samples may then lie up to 0.13 s from the times asked (a cut found a few frames
#: late), which the reference side's REFERENCE_FPS absorbs (a reference frame within
#: 0.125 s of any time): benchmarks/video.py measures recall with it, and the speed.
FAST_SKIP_FRAME: dict[str, str] = {"h264": "BIDIR"}
#: Consecutive decode errors tolerated before the rest of the stream is given up.
MAX_DECODE_ERRORS = 8
#: Thumbnail used for scene changes: rows and column blocks.
_THUMB_ROWS, _THUMB_COLUMNS = 18, 32
#: Pixel formats whose first plane is 8-bit luma (read directly for the thumbnail).
_LUMA8 = frozenset(
    "yuv420p yuvj420p yuv422p yuvj422p yuv444p yuvj444p yuv440p yuvj440p yuv411p yuv410p "
    "nv12 nv21 nv16 nv24 nv42 gray yuva420p yuva422p yuva444p".split()
)


class SparseBytes(io.RawIOBase):
    """The parts of a file that were fetched, as a read-only seekable file.

    The crawler fetches the first bytes of a long video (an HTTP Range request) and, for
    an MP4 whose index (``moov``) is at its end, also its last bytes. Reads inside a
    part return its bytes; a read that reaches a gap returns what precedes the gap, and
    a read at a gap returns ``b""``: the demuxer sees the file end there, and the frames
    the prefix holds are hashed. Seeks anywhere in ``total`` (the file's real size, as
    the server said) are allowed, so a demuxer can jump to the index at the end.
    """

    def __init__(self, total: int, parts: Sequence[tuple[int, bytes]]) -> None:
        super().__init__()
        if total < 0:
            raise ValueError("total must not be negative")
        merged: list[tuple[int, bytes]] = []
        for offset, chunk in sorted((o, bytes(c)) for o, c in parts if c):
            if offset < 0 or offset + len(chunk) > total:
                raise ValueError(f"part at {offset} ({len(chunk)} bytes) is outside 0..{total}")
            if merged and offset <= merged[-1][0] + len(merged[-1][1]):
                last_offset, last = merged[-1]
                end = offset + len(chunk)
                if end > last_offset + len(last):
                    last = last + chunk[last_offset + len(last) - offset :]
                merged[-1] = (last_offset, last)
            else:
                merged.append((offset, chunk))
        self.total = total
        self.parts: tuple[tuple[int, bytes], ...] = tuple(merged)
        self._position = 0

    @property
    def held(self) -> int:
        """Bytes held (the parts' total length)."""
        return sum(len(chunk) for _, chunk in self.parts)

    @property
    def complete(self) -> bool:
        return self.held == self.total

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        elif whence == os.SEEK_END:
            position = self.total + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def _part_at(self, position: int) -> tuple[int, bytes] | None:
        for offset, chunk in self.parts:
            if offset <= position < offset + len(chunk):
                return offset, chunk
        return None

    def read(self, size: int | None = -1) -> bytes:
        part = self._part_at(self._position)
        if part is None:
            return b""
        offset, chunk = part
        start = self._position - offset
        stop = len(chunk) if size is None or size < 0 else min(len(chunk), start + size)
        self._position += stop - start
        return chunk[start:stop]

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def digests(self) -> tuple[str, str]:
        """sha256 and MD5 of the bytes held, in offset order."""
        sha256, md5 = hashlib.sha256(), hashlib.md5()
        for _, chunk in self.parts:
            sha256.update(chunk)
            md5.update(chunk)
        return sha256.hexdigest(), md5.hexdigest()


@dataclass
class _Sampler:
    """Decides which decoded frames are hashed (rules 1 and 2)."""

    fps: float
    origin: float | None = None  # time of the first decoded frame
    next_grid: float = 0.0  # the next multiple of 1/fps due
    last_scene: float = -math.inf
    previous: np.ndarray | None = field(default=None, repr=False)  # last thumbnail

    def due(self, at: float, thumbnail: np.ndarray | None) -> bool:
        scene = False
        if thumbnail is not None:
            if self.previous is not None and self.previous.shape == thumbnail.shape:
                scene = float(np.abs(thumbnail - self.previous).mean()) > SCENE_THRESHOLD
            self.previous = thumbnail
        grid = at >= self.next_grid - 1e-3  # tolerance for timestamps rounded by a remux
        if grid:
            # The next multiple after this frame, computed (not stepped: a hostile pts
            # jump of years must not loop).
            self.next_grid = (math.floor(at * self.fps + 1e-3) + 1) / self.fps
        if scene and at - self.last_scene >= SCENE_MIN_GAP:
            self.last_scene = at
            return True
        return grid


def _thumbnail(frame: av.VideoFrame) -> np.ndarray | None:
    """Block means of a few luma rows: 18 x 32 floats, read from the Y plane in place."""
    width, height = frame.width, frame.height
    if width < _THUMB_COLUMNS or height < _THUMB_ROWS:
        return None
    name = frame.format.name
    if name in _LUMA8:
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        rows = luma[np.linspace(0, height - 1, _THUMB_ROWS).astype(int), :width]
        usable = width - width % _THUMB_COLUMNS
        blocks = rows[:, :usable].reshape(_THUMB_ROWS, _THUMB_COLUMNS, -1)
        return blocks.mean(axis=2, dtype=np.float32)
    # Anything else (10-bit, RGB, paletted): let swscale make the thumbnail.
    small = frame.reformat(width=_THUMB_COLUMNS, height=_THUMB_ROWS, format="gray")
    return small.to_ndarray().astype(np.float32)


def crop_borders(luma: np.ndarray) -> np.ndarray:
    """``luma`` without its uniform dark borders (letterbox, pillarbox bars).

    A border row (column) is one whose mean is at most ``BORDER_DARK`` and whose pixels
    are nearly all dark (98% at most ``BORDER_DARK``): compression ringing and a few
    bright pixels of a logo on the bar do not stop it. Nothing is cropped if the rest
    would be under half of either side (a dark scene is not a border).
    """
    dark = luma <= BORDER_DARK

    def extent(share_dark: np.ndarray, means: np.ndarray) -> tuple[int, int]:
        border = (share_dark >= 0.98) & (means <= BORDER_DARK)
        n = len(border)
        first = 0
        while first < n and border[first]:
            first += 1
        last = n
        while last > first and border[last - 1]:
            last -= 1
        return first, last

    top, bottom = extent(dark.mean(axis=1), luma.mean(axis=1))
    left, right = extent(dark.mean(axis=0), luma.mean(axis=0))
    height, width = luma.shape
    if (bottom - top) * 2 < height or (right - left) * 2 < width:
        return luma
    return luma[top:bottom, left:right]


def _frame_luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma, at most FRAME_SIZE px on its longer side (aspect kept)."""
    width, height = frame.width, frame.height
    scale = min(1.0, FRAME_SIZE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = frame.reformat(width=size[0], height=size[1], format="gray", interpolation="AREA")
    return small.to_ndarray()


def _hash_frame(luma: np.ndarray, mirrored: bool) -> tuple[str, str | None, int]:
    """PDQ of the cropped luma (and of its mirror image): hex, mirrored hex, quality."""
    picture = crop_borders(luma)
    if picture.shape[0] < 5 or picture.shape[1] < 5:  # PDQ's minimum
        return "0" * 64, ("0" * 64 if mirrored else None), 0
    # Pillow's bilinear reduction (a tent filter, as PDQ's two box passes make one) to
    # PDQ's 64x64 grid, whatever the size and aspect: every copy is reduced alike (when
    # PDQ's box filter widened with the picture's size, copies at 320x180 and 640x360
    # differed by 20 to 50 bits), and a 64x64 picture is its own PDQ grid, so this is
    # ``pdqhash.compute`` of that picture, in some 0.1 ms (no large matrix products,
    # which cost tens of ms when OpenBLAS's threads fight other jobs for the cores).
    square = Image.fromarray(picture).resize((HASH_GRID, HASH_GRID), Image.Resampling.BILINEAR)
    grid = np.asarray(square, dtype=np.float32)
    bits, quality = pdq_from_grid(grid)
    # The mirror image's grid is the grid mirrored (the reduction is symmetric).
    mirror = pdq_hex(pdq_from_grid(grid[:, ::-1])[0]) if mirrored else None
    return pdq_hex(bits), mirror, int(quality)


def _format_name(container: av.container.InputContainer, head: bytes) -> str:
    """FFmpeg's demuxer names a family ("mov,mp4,m4a,3gp,3g2,mj2"): the member it is."""
    name = container.format.name.split(",")[0]
    if name == "mov":
        brand = container.metadata.get("major_brand", "").strip()
        return "mov" if brand == "qt" else "mp4"
    if name == "matroska":
        return "webm" if b"webm" in head[:64] else "matroska"
    return name


def _first_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # cover art
            return stream
    raise VideoRejected("video_no_stream", "no video stream")


def _duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    deadline: float | None,
) -> Iterator[av.VideoFrame | Exception]:
    """Decoded frames, one at a time, until the end or an error, which is yielded last (the
    caller decides what it means). A demuxing error ends the stream, as a truncated file
    does; decoding errors are skipped unless ``MAX_DECODE_ERRORS`` come in a row. The
    deadline is checked on each packet, so that packets which decode to nothing (skipped
    or broken frames) cannot outlast it."""
    errors = 0
    packets = container.demux(stream)
    while True:
        if deadline is not None and time.monotonic() > deadline:
            yield TimeoutError("over the time budget")
            return
        try:
            packet = next(packets)
        except StopIteration:
            return
        except Exception as exc:  # hostile bytes: any failure of the demuxer ends the stream
            yield exc
            return
        try:
            frames = stream.codec_context.decode(packet)
        except Exception as exc:  # as above, for the decoder
            errors += 1
            if errors > MAX_DECODE_ERRORS:
                yield exc
                return
            continue
        errors = 0 if frames else errors
        yield from frames


def hash_video(
    data: bytes | SparseBytes,
    *,
    max_pixels: int,
    fps: float = 1.0,
    max_frames: int = 7200,
    time_budget: float | None = 300.0,
    mirrored: bool = False,
    fast: bool = False,
) -> VideoHashes:
    """Sampled frames' PDQ hashes and the digests of video bytes (see the module's rules).

    ``data`` is the whole file, or a ``SparseBytes`` of the parts fetched (the result is
    then ``partial``). ``mirrored`` (the reference side) also hashes each sampled frame's
    mirror image. ``fast`` (the crawl's side) skips more frames (``FAST_SKIP_FRAME``).
    ``max_frames`` counts sampled frames; reaching it, the time budget, a
    frame over ``max_pixels`` or a stream that breaks off ends hashing: the frames so far
    are kept and the result is ``partial``, or, with none, ``VideoRejected`` is raised
    (``video_timeout``, ``video_too_many_pixels``, ``video_corrupt``). Also raised:
    ``video_corrupt`` (not a container we read, no decoder), ``video_no_stream``,
    ``video_too_many_pixels`` (from the header, before decoding), ``video_no_frames``.
    """
    started = time.monotonic()
    if fps <= 0 or max_frames <= 0:
        raise ValueError("fps and max_frames must be positive")
    if isinstance(data, SparseBytes):
        source: io.RawIOBase | io.BytesIO = data
        sha256, md5 = data.digests()
        size = data.held
        partial = not data.complete
        head = data.parts[0][1][:64] if data.parts and data.parts[0][0] == 0 else b""
        data.seek(0)
    else:
        data = bytes(data)
        source = io.BytesIO(data)
        sha256 = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data).hexdigest()
        size = len(data)
        partial = False
        head = data[:64]
    if size == 0:
        raise VideoRejected("video_corrupt", "no bytes")

    remaining = None if time_budget is None else max(0.1, time_budget)
    options = {
        "format_whitelist": ",".join(DEMUXERS),
        "protocol_whitelist": "none",  # nothing opened besides the bytes given
        "probesize": str(5_000_000),
    }
    try:
        container = av.open(source, "r", options=options, timeout=remaining)
    except Exception as exc:  # hostile bytes: whatever FFmpeg (or PyAV) makes of them
        raise VideoRejected("video_corrupt", f"not a video container: {exc}") from None
    with container:
        stream = _first_video_stream(container)
        context = stream.codec_context
        if context is None or context.codec is None:
            raise VideoRejected("video_corrupt", "no decoder for the video stream")
        width, height = context.width, context.height
        if width * height > max_pixels:
            raise VideoRejected(
                "video_too_many_pixels", f"{width}x{height} is over {max_pixels} pixels"
            )
        context.thread_count = 1
        context.thread_type = "SLICE"
        skips = {**SKIP_FRAME, **FAST_SKIP_FRAME} if fast else SKIP_FRAME
        context.skip_frame = skips.get(context.name, SKIP_FRAME_DEFAULT)
        context.options = {"skip_loop_filter": "all"}
        rate = stream.average_rate or stream.guessed_rate
        step = 1.0 / float(rate) if rate else 1.0 / 25

        sampler = _Sampler(fps)
        frames: list[Frame] = []
        flipped: list[Frame] = []
        last_at: float | None = None
        failure: Exception | None = None
        deadline = None if time_budget is None else started + time_budget
        for item in _decoded(container, stream, deadline):
            if isinstance(item, Exception):
                failure = item
                break
            frame = item
            if frame.width * frame.height > max_pixels:
                failure = VideoRejected(
                    "video_too_many_pixels",
                    f"a frame of {frame.width}x{frame.height} is over {max_pixels} pixels",
                )
                break
            width, height = width or frame.width, height or frame.height
            if frame.pts is not None and frame.time_base is not None:
                at = float(frame.pts * frame.time_base)
            else:
                at = (last_at + step) if last_at is not None else 0.0
            last_at = at
            if sampler.origin is None:
                sampler.origin = at
            at -= sampler.origin
            if not sampler.due(at, _thumbnail(frame)):
                continue
            if len(frames) >= max_frames:
                failure = OverflowError(f"over {max_frames} sampled frames")
                break
            pdq, mirror, quality = _hash_frame(_frame_luma(frame), mirrored)
            at = round(at, 3)
            frames.append(Frame(at, pdq, quality))
            if mirror is not None:
                flipped.append(Frame(at, mirror, quality))
        if failure is not None:
            if not frames:
                if isinstance(failure, VideoRejected):
                    raise failure
                kind = "video_timeout" if isinstance(failure, TimeoutError) else "video_corrupt"
                raise VideoRejected(kind, f"no frame decoded: {failure}")
            partial = True
        if not frames:
            raise VideoRejected("video_no_frames", "no frame could be decoded")
        duration = _duration(container, stream)
        if duration is None and last_at is not None and sampler.origin is not None:
            duration = round(last_at - sampler.origin + step, 3)
        return VideoHashes(
            sha256=sha256,
            md5=md5,
            size=size,
            width=width,
            height=height,
            format=_format_name(container, head),
            duration=duration,
            frames=tuple(frames),
            mirrored=tuple(flipped),
            partial=partial,
        )
