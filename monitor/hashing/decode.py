"""Decoding untrusted image bytes, in memory, with limits.

Everything here sees bytes fetched from hostile sites, so each failure is
turned into ``ImageRejected`` with a short ``kind`` that the crawl counts.
Nothing is ever written to disk.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

#: Formats we decode. Anything else (EPS, which runs Ghostscript, PSD, ...) is refused.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")

#: Images are reduced to fit this box before hashing. PDQ and pHash both work on
#: much smaller grids, so this costs no accuracy and bounds the work per image.
HASH_SIZE = 512


class ImageRejected(Exception):
    """Bytes that cannot be hashed; ``kind`` is the statistic it is counted under."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, at most HASH_SIZE on its longer side
    width: int  # of the original image
    height: int
    format: str


def decode_image(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode ``data`` into an RGB image ready for hashing, or raise ImageRejected."""
    if not data:
        raise ImageRejected("empty", "no bytes")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns first; our limit is checked below anyway.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            return _prepare(image, max_pixels)
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected("not_image", "not a supported image format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_many_pixels", str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as exc:
        # Truncated files, broken chunks, bad palettes: Pillow raises a zoo of types.
        raise ImageRejected("corrupt", f"cannot decode: {type(exc).__name__}") from exc


def _prepare(image: Image.Image, max_pixels: int) -> DecodedImage:
    width, height = image.size  # from the header: nothing decoded yet
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt", "image has no pixels")
    if width * height > max_pixels:
        raise ImageRejected(
            "too_many_pixels", f"{width}x{height} exceeds the limit of {max_pixels} pixels"
        )
    fmt = image.format or "?"
    if fmt == "JPEG":
        # Reduced-size decoding: the JPEG decoder skips detail the hash never sees.
        image.draft("RGB", (HASH_SIZE, HASH_SIZE))
    image.load()
    image = ImageOps.exif_transpose(image)
    image = _to_rgb(image)
    if max(image.size) > HASH_SIZE:
        image.thumbnail((HASH_SIZE, HASH_SIZE), Image.Resampling.BILINEAR)
    return DecodedImage(image=image, width=width, height=height, format=fmt)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, as a browser shows them on a white page.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")
