"""Videos made from photographs, in memory, for the tests, the sample site and benchmarks.

Real photographs rather than noise or gradients: PDQ is tuned for natural images,
and a video hash is only tested honestly on frames that look like real footage.
Each photo becomes one *shot*: a slow "camera move" (Ken Burns: a pan and a zoom,
different for each shot, chosen by ``seed``), and a hard cut to the next photo,
which is a scene change. The same arguments give the same bytes (with the default,
fast, encoder options: the encoders run single-threaded, and x264 without its
macroblock tree, which varied its output between runs).

``transform`` re-encodes such a video the way copies found online are altered:
lower bitrate, another size or frame rate, trimmed, letterboxed, watermarked,
mirrored, in another codec or container.

Everything stays in memory (``io.BytesIO``): nothing here writes a file.
"""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

__all__ = ["camera_video", "transform"]

#: Encoder options for speed: the fixtures need pictures, not compression efficiency.
_FAST_OPTIONS: dict[str, dict[str, str]] = {
    # Without macroblock-tree rate control: with it, x264 (single-threaded even) gave
    # outputs that differed by a few bytes between runs of the same frames.
    "libx264": {"preset": "veryfast", "x264-params": "mbtree=0"},
    "libx265": {"preset": "ultrafast"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "0"},
    "libsvtav1": {"preset": "12"},
}


@dataclass(frozen=True)
class _Move:
    """One shot's camera move: where the crop window starts, and how fast it moves.

    Slow, as a documentary's: the zoom changes by 1-2% a second and the pan by 1-2% of
    the photo a second. (PDQ is no more tolerant of a shift than that: frames of a shot a
    second apart are some 50 to 130 bits apart, the more as the photo is textured.)
    """

    zoom: float  # crop width as a share of the largest crop of the frame's aspect
    x: float  # crop position, as a share of the room left to move (0..1)
    y: float
    zoom_rate: float  # relative zoom change a second (+ zooms out, - in)
    x_rate: float  # pan, as a share of the photo's width (height) a second
    y_rate: float

    def window(self, seconds: float, width: int, height: int, aspect: float) -> tuple[float, ...]:
        """The crop box (left, top, right, bottom) ``seconds`` into the shot."""
        zoom = min(1.0, max(0.5, self.zoom * (1 + self.zoom_rate * seconds)))
        w = min(width, height * aspect) * zoom
        h = w / aspect
        left = (width - w) * self.x + self.x_rate * width * seconds
        top = (height - h) * self.y + self.y_rate * height * seconds
        left = min(max(left, 0.0), width - w)
        top = min(max(top, 0.0), height - h)
        return (left, top, left + w, top + h)


def _random_move(rng: random.Random) -> _Move:
    def rate() -> float:
        return rng.choice((-1, 1)) * rng.uniform(0.01, 0.02)

    return _Move(
        rng.uniform(0.75, 0.92),
        rng.uniform(0.2, 0.8),
        rng.uniform(0.2, 0.8),
        rate(),
        rate(),
        rate(),
    )


def _load(photo: Path | Image.Image) -> Image.Image:
    if isinstance(photo, Image.Image):
        image = photo
    else:
        with Image.open(photo) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    return image.convert("RGB")


def _even(n: int) -> int:
    return max(2, n - n % 2)  # yuv420p wants even dimensions


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def _stream(
    output: av.container.OutputContainer,
    codec: str,
    fps: float,
    size: tuple[int, int],
    bitrate: int | None,
    encoder_options: Mapping[str, str] | None = None,
) -> av.video.stream.VideoStream:
    stream = output.add_stream(codec, rate=_rate(fps))
    stream.width, stream.height = _even(size[0]), _even(size[1])
    stream.pix_fmt = "yuv420p"
    options = (
        dict(_FAST_OPTIONS.get(codec, {})) if encoder_options is None else dict(encoder_options)
    )
    if bitrate is not None:
        stream.bit_rate = bitrate
        if codec.startswith("libvpx"):
            options.setdefault("b:v", str(bitrate))
    elif codec.startswith("libvpx"):
        options.setdefault("crf", "32")
        options.setdefault("b:v", "0")
    stream.options = options
    stream.codec_context.thread_count = 1  # deterministic output
    return stream


def _mux(
    frames: Iterator[tuple[np.ndarray, float]],
    *,
    codec: str,
    container: str,
    fps: float,
    size: tuple[int, int],
    bitrate: int | None,
    faststart: bool,
    encoder_options: Mapping[str, str] | None = None,
) -> bytes:
    """Encode RGB arrays (each with its time in seconds) into a container, in memory."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = _stream(output, codec, fps, size, bitrate, encoder_options)
        time_base = Fraction(1, 90000)
        last_pts = -1
        for array, at in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            pts = max(round(at / time_base), last_pts + 1)
            frame.pts, frame.time_base = pts, time_base
            last_pts = pts
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    data = buffer.getvalue()
    return _faststart(data) if faststart and container in ("mp4", "mov") else data


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """ISO BMFF boxes in ``data[start:end]``: (type, offset, header size, box size)."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise ValueError(f"bad box {kind!r} at {at}")
        yield kind, at, header, size
        at += size


def _shift_chunk_offsets(moov: bytearray, start: int, end: int, shift: int) -> None:
    """Add ``shift`` to every chunk offset (stco, co64) under ``moov[start:end]``."""
    for kind, at, header, size in _boxes(bytes(moov), start, end):
        body = at + header
        if kind in (b"trak", b"mdia", b"minf", b"stbl"):
            _shift_chunk_offsets(moov, body, at + size, shift)
        elif kind in (b"stco", b"co64"):
            (count,) = struct.unpack_from(">I", moov, body + 4)
            wide = kind == b"co64"
            fmt, width = (">Q", 8) if wide else (">I", 4)
            for i in range(count):
                where = body + 8 + i * width
                (offset,) = struct.unpack_from(fmt, moov, where)
                struct.pack_into(fmt, moov, where, offset + shift)


def _faststart(data: bytes) -> bytes:
    """The MP4 with its ``moov`` box moved before ``mdat`` (what ``movflags=+faststart``
    does; FFmpeg's own pass reopens the output by name, which a BytesIO has not)."""
    boxes = list(_boxes(data, 0, len(data)))
    kinds = [kind for kind, *_ in boxes]
    if b"moov" not in kinds or b"mdat" not in kinds or kinds.index(b"moov") < kinds.index(b"mdat"):
        return data
    _, moov_at, _, moov_size = boxes[kinds.index(b"moov")]
    moov = bytearray(data[moov_at : moov_at + moov_size])
    _shift_chunk_offsets(moov, 8, len(moov), moov_size)
    first_media = boxes[kinds.index(b"mdat")][1]
    rest = data[first_media:moov_at] + data[moov_at + moov_size :]
    return data[:first_media] + bytes(moov) + rest


def camera_video(
    photos: Sequence[Path | Image.Image],
    *,
    seconds: float,
    fps: float = 25,
    size: tuple[int, int] = (640, 360),
    codec: str = "libx264",
    container: str = "mp4",
    bitrate: int | None = None,
    seed: int = 0,
    shot_seconds: float | None = None,
    faststart: bool = False,
    encoder_options: Mapping[str, str] | None = None,
) -> bytes:
    """A video of ``seconds`` made of camera moves over ``photos``, one shot each, in turn.

    Shots last ``shot_seconds`` (by default the length divided evenly among the photos;
    when shorter, the photos come round again with a new move). Cuts fall at multiples of
    the shot length. ``bitrate`` None leaves the encoder's quality default (x264: crf 23).
    ``encoder_options`` replace the fast presets used by default (``{}``: the encoder's
    own defaults, e.g. x264's preset medium, as a benchmark wants).
    """
    if not photos:
        raise ValueError("camera_video needs at least one photo")
    if seconds <= 0 or fps <= 0:
        raise ValueError("seconds and fps must be positive")
    width, height = _even(size[0]), _even(size[1])
    aspect = width / height
    shot = shot_seconds if shot_seconds is not None else seconds / len(photos)
    count = max(1, round(seconds * fps))
    rng = random.Random(seed)
    images = [_load(p) for p in photos]
    moves: list[_Move] = []

    def generate() -> Iterator[tuple[np.ndarray, float]]:
        for i in range(count):
            at = i / fps
            index = min(int(at / shot), count)  # shot number
            while len(moves) <= index:
                moves.append(_random_move(rng))
            image = images[index % len(images)]
            box = moves[index].window(at - index * shot, *image.size, aspect)
            picture = image.resize((width, height), Image.Resampling.BILINEAR, box=box)
            yield np.asarray(picture), at

    return _mux(
        generate(),
        codec=codec,
        container=container,
        fps=fps,
        size=(width, height),
        bitrate=bitrate,
        faststart=faststart,
        encoder_options=encoder_options,
    )


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def _watermark(picture: Image.Image, text: str) -> Image.Image:
    """``text`` in the bottom-right corner, white at 60% opacity on a darker band."""
    base = picture.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = _font(max(10, base.height // 14))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = max(4, base.height // 40)
    x = base.width - (right - left) - 2 * margin
    y = base.height - (bottom - top) - 2 * margin
    draw.rectangle(
        (x - margin, y - margin, base.width - margin, base.height - margin), (0, 0, 0, 70)
    )
    draw.text((x - left, y - top), text, font=font, fill=(255, 255, 255, 150))
    return Image.alpha_composite(base, layer).convert("RGB")


def transform(
    data: bytes,
    *,
    bitrate: int | None = None,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    letterbox: float | None = None,
    watermark: str | None = None,
    flip: bool = False,
    codec: str = "libx264",
    container: str = "mp4",
    faststart: bool = False,
) -> bytes:
    """``data`` decoded and re-encoded, altered as a copy found online might be.

    ``start``/``end`` trim (seconds of the original; the copy starts at 0). ``fps``
    resamples in time: each output frame shows the latest original frame at its time.
    ``letterbox`` is the share of the height given to black bars (half at the top, half
    at the bottom), the picture squeezed into the rest, the frame size kept (the
    picture keeps its full width, as a 16:9 frame carrying wider footage would).
    """
    with av.open(io.BytesIO(data), "r") as source:
        video = source.streams.video[0]
        video.codec_context.thread_count = 1
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        out_fps = fps if fps is not None else float(rate)
        width = video.codec_context.width
        height = video.codec_context.height
        out_size = (_even(size[0]), _even(size[1])) if size is not None else (width, height)
        begin = start or 0.0

        def decoded() -> Iterator[tuple[Image.Image, float]]:
            for frame in source.decode(video):
                if frame.pts is None:
                    continue
                yield frame.to_image(), float(frame.pts * frame.time_base)

        def altered(picture: Image.Image) -> np.ndarray:
            if flip:
                picture = ImageOps.mirror(picture)
            if picture.size != out_size:
                picture = picture.resize(out_size, Image.Resampling.BICUBIC)
            if letterbox:
                bar = round(out_size[1] * letterbox / 2)
                inner = picture.resize(
                    (out_size[0], out_size[1] - 2 * bar), Image.Resampling.BICUBIC
                )
                picture = Image.new("RGB", out_size, (0, 0, 0))
                picture.paste(inner, (0, bar))
            if watermark:
                picture = _watermark(picture, watermark)
            return np.asarray(picture)

        def generate() -> Iterator[tuple[np.ndarray, float]]:
            if fps is None:  # keep every frame, at its own time
                for picture, at in decoded():
                    if at < begin - 1e-6 or (end is not None and at >= end):
                        continue
                    yield altered(picture), at - begin
                return
            step = 1.0 / fps
            n = 0
            previous: Image.Image | None = None
            shown = 0.0
            for picture, at in decoded():
                # Emit every output time that this frame's predecessor covers.
                while previous is not None and begin + n * step < at - 1e-6:
                    if end is not None and begin + n * step >= end:
                        return
                    yield altered(previous), n * step
                    n += 1
                previous, shown = picture, at
            # The last frame is shown for one frame of the original's rate.
            until = (
                shown + 1.0 / float(rate) if end is None else min(end, shown + 1.0 / float(rate))
            )
            while previous is not None and begin + n * step < until - 1e-6:
                yield altered(previous), n * step
                n += 1

        return _mux(
            generate(),
            codec=codec,
            container=container,
            fps=out_fps,
            size=out_size,
            bitrate=bitrate,
            faststart=faststart,
        )
