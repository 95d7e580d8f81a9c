"""A corpus of hostile and unusual image files, built in memory with Pillow.

Used by tests/test_fuzz_images.py (every entry must hash or be refused with
``ImageRejected``) and as the seed corpus of the atheris harness
(tests/fuzz/fuzz_targets.py). Nothing is committed as a binary: every file is
generated here, deterministically (fixed seeds), so the corpus is the same on
every machine and the repository stays small.

``corpus()`` maps a name to ``(bytes, expected)`` where ``expected`` is one of
``HASHES`` (a valid image: it must hash), ``REJECTED`` (it must be refused with
ImageRejected) or ``EITHER`` (a damaged file Pillow may still partly decode).
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "EITHER",
    "HASHES",
    "REJECTED",
    "corpus",
    "encode",
    "png_chunk",
    "png_declaring",
    "png_flat",
    "sample_image",
]

HASHES = "hashes"
REJECTED = "rejected"
EITHER = "either"

_EXIF_ORIENTATION = 0x0112


def sample_image(size: tuple[int, int] = (96, 64), seed: int = 7) -> Image.Image:
    """A small RGB picture with structure on every axis (so rotations change its hash)."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    red = (x * 255 // max(1, width - 1)).astype(np.uint8)
    green = (y * 255 // max(1, height - 1)).astype(np.uint8)
    blue = rng.integers(0, 256, (height, width), dtype=np.uint8) // 4 + 96
    image = Image.fromarray(np.dstack([red, green, blue]), "RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 8, height // 6, width // 3, height // 2), fill=(10, 10, 10))
    draw.ellipse((width // 2, height // 3, width - 4, height - 4), fill=(250, 240, 20))
    return image


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, *, bit_depth: int = 8, colour: int = 0) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + png_chunk(b"IEND", b"")
    )


def png_flat(width: int, height: int, value: int = 128) -> bytes:
    """A real greyscale PNG of ``width`` x ``height`` pixels of one grey: a few KB that
    decode to width x height bytes (within a pixel limit, this is what decoding costs)."""
    row = b"\0" + bytes([value]) * width  # filter byte "none", then the pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def _gif_declaring(width: int, height: int) -> bytes:
    """A GIF whose logical screen and only frame claim ``width`` x ``height``."""
    data = encode(Image.new("P", (4, 4), 1), "GIF")
    screen = struct.pack("<HH", width, height)
    data = data[:6] + screen + data[10:]
    # The image descriptor (0x2C, left, top, width, height) follows the colour tables.
    at = data.index(b"\x2c\x00\x00\x00\x00")
    return data[: at + 5] + screen + data[at + 9 :]


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 marker claims ``width`` x ``height`` (the scan is a 8x8 image's)."""
    data = bytearray(encode(Image.new("L", (8, 8), 128), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _webp_declaring(width: int, height: int) -> bytes:
    """A lossy WebP (VP8) whose frame header claims ``width`` x ``height`` (up to 16383)."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (1, 2, 3)), "WEBP", quality=50))
    vp8 = data.index(b"VP8 ")
    # VP8 frame: 3-byte tag, start code 9d 01 2a, then 14-bit width and height.
    at = vp8 + 8 + 6
    data[at : at + 4] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    return bytes(data)


def _tiff_declaring(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("L", (4, 4), 9), "TIFF"))
    # Tag 256 (ImageWidth) and 257 (ImageLength), stored as SHORT or LONG in the first IFD.
    for tag, value in ((256, width), (257, height)):
        at = data.index(struct.pack("<H", tag), 8)
        data[at + 2 : at + 12] = struct.pack("<HII", 4, 1, value)  # type LONG, count 1
    return bytes(data)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = orientation
    return exif.tobytes()


def _animated(fmt: str) -> bytes:
    frames = [sample_image(seed=seed).rotate(angle) for seed, angle in ((1, 0), (2, 90), (3, 45))]
    params: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": 100}
    if fmt == "WEBP":
        params["lossless"] = True
    return encode(frames[0], fmt, **params)


def _apng() -> bytes:
    frames = [sample_image(seed=1), sample_image(seed=2).transpose(Image.Transpose.ROTATE_180)]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def _zip_bytes() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<html><script>alert(1)</script></html>")
    return buffer.getvalue()


def _cuts(data: bytes, count: int) -> list[int]:
    """``count`` cut points spread over ``data``, the header bytes included."""
    points = {1, 2, 4, 8, 12, 16, 24, 33, 50}
    points.update(len(data) * k // count for k in range(1, count))
    return sorted(p for p in points if 0 < p < len(data))


def _build() -> dict[str, tuple[bytes, str]]:
    rng = random.Random(20261129)
    base = sample_image()
    out: dict[str, tuple[bytes, str]] = {}

    def add(name: str, data: bytes, expected: str) -> None:
        assert name not in out, name
        out[name] = (data, expected)

    # --- valid images in every mode and container a page may serve -------------------
    valid: dict[str, Callable[[], bytes]] = {
        "jpeg": lambda: encode(base, "JPEG", quality=85),
        "jpeg-progressive": lambda: encode(base, "JPEG", progressive=True),
        "jpeg-cmyk": lambda: encode(base.convert("CMYK"), "JPEG"),
        "jpeg-gray": lambda: encode(base.convert("L"), "JPEG"),
        "png-rgb": lambda: encode(base, "PNG"),
        "png-rgba": lambda: encode(base.convert("RGBA"), "PNG"),
        "png-la": lambda: encode(base.convert("LA"), "PNG"),
        "png-1bit": lambda: encode(base.convert("1"), "PNG"),
        "png-palette": lambda: encode(base.convert("P"), "PNG"),
        "png-palette-transparent": lambda: encode(base.convert("P"), "PNG", transparency=0),
        "png-gray16": lambda: encode(
            Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257), "PNG"
        ),
        "png-rgb16": lambda: _png_rgb16(base),
        "png-interlaced": lambda: _png_interlaced(base),
        "gif": lambda: encode(base, "GIF"),
        "gif-transparent": lambda: encode(base.convert("P"), "GIF", transparency=3),
        "gif-animated": lambda: _animated("GIF"),
        "webp-lossy": lambda: encode(base, "WEBP", quality=60),
        "webp-lossless-rgba": lambda: encode(base.convert("RGBA"), "WEBP", lossless=True),
        "webp-animated": lambda: _animated("WEBP"),
        "apng": _apng,
        "bmp": lambda: encode(base, "BMP"),
        "bmp-1bit": lambda: encode(base.convert("1"), "BMP"),
        "tiff": lambda: encode(base, "TIFF"),
        "tiff-cmyk": lambda: encode(base.convert("CMYK"), "TIFF"),
        "tiff-float": lambda: encode(base.convert("F"), "TIFF"),
        "tiff-int32": lambda: encode(base.convert("I"), "TIFF"),
        "tiff-lzw": lambda: encode(base, "TIFF", compression="tiff_lzw"),
        "mpo": lambda: encode(base, "MPO", save_all=True, append_images=[base.rotate(5)]),
        "jpeg-exif-6": lambda: encode(
            base.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=_exif(6)
        ),
        "jpeg-exif-8": lambda: encode(
            base.transpose(Image.Transpose.ROTATE_270), "JPEG", exif=_exif(8)
        ),
        "png-exif-6": lambda: encode(base.transpose(Image.Transpose.ROTATE_90), exif=_exif(6)),
        "tiny-1x1-png": lambda: encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"),
        "tiny-1x1-jpeg": lambda: encode(Image.new("RGB", (1, 1), (9, 9, 9)), "JPEG"),
        "tiny-1x1-gif": lambda: encode(Image.new("P", (1, 1), 0), "GIF"),
        "thin-1x900-png": lambda: encode(Image.new("L", (1, 900), 40), "PNG"),
        "thin-900x1-jpeg": lambda: encode(Image.new("L", (900, 1), 40), "JPEG"),
        "flat-white-png": lambda: encode(Image.new("RGB", (64, 64), (255, 255, 255)), "PNG"),
    }
    for name, build in valid.items():
        add(name, build(), HASHES)

    # --- refused outright: nothing, or not an image we decode -------------------------
    add("empty", b"", REJECTED)
    add("one-byte", b"\xff", REJECTED)
    add("html", b"<!doctype html><html><body><img src=x.jpg></body></html>", REJECTED)
    add(
        "svg",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10"><rect width="10" height="10"/></svg>',
        REJECTED,
    )
    add("svg-script", b"<svg onload=alert(1) xmlns='http://www.w3.org/2000/svg'/>", REJECTED)
    add("zip", _zip_bytes(), REJECTED)
    add("eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", REJECTED)
    add("psd", encode(base, "PSD") if _can_save("PSD") else b"8BPS\x00\x01" + b"\0" * 40, REJECTED)
    add("ico", encode(base, "ICO"), REJECTED)  # not one of the decoded formats
    add("jpeg-magic-only", b"\xff\xd8\xff", REJECTED)
    add("png-magic-only", b"\x89PNG\r\n\x1a\n", REJECTED)
    add("gif-magic-only", b"GIF89a", REJECTED)
    add("webp-magic-only", b"RIFF\x00\x00\x00\x00WEBP", REJECTED)

    # --- decompression bombs: a few bytes declaring billions of pixels ----------------
    # Above the crawler's limit (64 MP) but below Pillow's own (89 MP: no warning).
    add("bomb-png-9000x9000", png_declaring(9_000, 9_000), REJECTED)
    add("bomb-png-100000x100000", png_declaring(100_000, 100_000), REJECTED)
    add("bomb-png-16bit-rgba", png_declaring(65_535, 65_535, bit_depth=16, colour=6), REJECTED)
    add("bomb-png-max-u32", png_declaring(2**31 - 1, 2**31 - 1), REJECTED)
    add("bomb-gif-65535x65535", _gif_declaring(65_535, 65_535), REJECTED)
    add("bomb-jpeg-65535x65535", _jpeg_declaring(65_535, 65_535), REJECTED)
    add("bomb-webp-16383x16383", _webp_declaring(16_383, 16_383), REJECTED)
    add("bomb-tiff-100000x100000", _tiff_declaring(100_000, 100_000), REJECTED)
    add("zero-size-png", png_declaring(0, 0), REJECTED)

    # --- corrupt: a real header, then garbage ------------------------------------------
    for magic_name, magic in (
        ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
        ("png", b"\x89PNG\r\n\x1a\n"),
        ("gif", b"GIF89a\x10\x00\x10\x00\xf7\x00\x00"),
        ("webp", b"RIFF\x40\x00\x00\x00WEBPVP8 "),
        ("bmp", b"BM6\x00\x00\x00\x00\x00\x00\x006\x00\x00\x00(\x00\x00\x00"),
        ("tiff", b"II*\x00\x08\x00\x00\x00"),
    ):
        for k in range(3):
            noise = rng.randbytes(rng.choice((16, 200, 3000)))
            add(f"corrupt-{magic_name}-{k}", magic + noise, EITHER)

    # Valid files with random bytes flipped in their body (header kept).
    for name in ("jpeg", "png-rgb", "gif", "webp-lossy", "tiff", "bmp"):
        data = bytearray(out[name][0])
        for k in range(3):
            damaged = bytearray(data)
            for _ in range(1 + k * 4):
                at = rng.randrange(min(32, len(damaged) - 1), len(damaged))
                damaged[at] = rng.randrange(256)
            add(f"bitflip-{name}-{k}", bytes(damaged), EITHER)

    # --- truncated at many cut points ---------------------------------------------------
    for name in ("jpeg", "jpeg-progressive", "png-rgb", "gif-animated", "webp-lossy", "tiff"):
        data = out[name][0]
        for cut in _cuts(data, 12):
            add(f"truncated-{name}-{cut}", data[:cut], EITHER)

    # --- polyglots ----------------------------------------------------------------------
    html_tail = b"<html><body><script>alert(document.domain)</script></body></html>"
    add("polyglot-gif-html", out["gif"][0] + html_tail, HASHES)
    add("polyglot-jpeg-html", out["jpeg"][0] + html_tail, HASHES)
    add("polyglot-jpeg-zip", out["jpeg"][0] + _zip_bytes(), HASHES)
    add("polyglot-png-trailing", out["png-rgb"][0] + rng.randbytes(500), HASHES)
    add("polyglot-html-then-jpeg", html_tail + out["jpeg"][0], REJECTED)
    add("polyglot-gif-comment-js", _gif_with_comment(b"*/=alert(1)//"), HASHES)

    return out


def _can_save(fmt: str) -> bool:
    Image.init()
    return fmt in Image.SAVE


def _png_rgb16(base: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow has no mode for it, so written by hand)."""
    pixels = np.asarray(base).astype(">u2") * 257
    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def _png_interlaced(base: Image.Image) -> bytes:
    """An Adam7-interlaced PNG: Pillow cannot write one, so zlib-compress the passes by hand."""
    pixels = np.asarray(base.convert("L"))
    height, width = pixels.shape
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
    passes += ((0, 1, 1, 2),)
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def _gif_with_comment(comment: bytes) -> bytes:
    return encode(Image.new("P", (8, 8), 2), "GIF", comment=comment)


@cache
def corpus() -> dict[str, tuple[bytes, str]]:
    """The corpus, built once per process."""
    return _build()
