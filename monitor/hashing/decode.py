"""Decoding untrusted image bytes, in memory, with limits.

Everything here sees bytes fetched from hostile sites, so each failure is
turned into ``ImageRejected`` with a short ``kind`` that the crawl counts.
Nothing is ever written to disk.

The decoding rules (version 2, see ``HashAlgorithm.version``):

1. The pixel count is checked from the header, before anything is decoded.
2. JPEG (and MPO) is decoded straight to luma (libjpeg's Y channel: no chroma upsampling,
   no colour conversion) at the smallest DCT scale (1/1, 1/2, 1/4, 1/8) that
   keeps the image at least its nominal size (``resample.fit``: fitting
   ``HASH_SIZE``) on both axes. Other formats are decoded whole, transparent
   areas flattened on white, converted to luma (ITU-R 601-2, as Pillow's "L"),
   and reduced by the integer factor (box average) that keeps them at least
   their nominal size, as the JPEG scaling does.
3. The EXIF orientation is applied.

The result is a ``HashInput``: the algorithms hash its nominal image (the
decoded pixels reduced to the nominal size with Pillow's bilinear filter).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from monitor.hashing.resample import HASH_SIZE, HashInput, fit

__all__ = ["FORMATS", "HASH_SIZE", "DecodedImage", "ImageRejected", "decode_image", "to_luma"]

#: Formats we decode. Anything else (EPS, which runs Ghostscript, PSD, ...) is refused.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")


class ImageRejected(Exception):
    """Bytes that cannot be hashed; ``kind`` is the statistic it is counted under."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[type[ImageRejected], tuple[str, str]]:
        # So that it crosses from a hashing worker process (monitor.hashing.workers).
        return ImageRejected, (self.kind, str(self))


@dataclass(frozen=True)
class DecodedImage:
    input: HashInput  # what every algorithm hashes
    width: int  # of the original image, as stored (before EXIF orientation)
    height: int
    format: str

    @property
    def image(self) -> Image.Image:
        """The nominal image (luma, at most HASH_SIZE on its longer side), built on demand."""
        return self.input.image


def decode_image(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode ``data`` into a ``HashInput`` ready for hashing, or raise ImageRejected."""
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
    if fmt in ("JPEG", "MPO"):  # MPO: a phone's JPEG with extra frames (the first is used)
        # Reduced-size decoding, in luma: the decoder skips detail and colour the
        # hashes never see, and never goes below the nominal size.
        image.draft("L", fit((width, height)))
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    image = to_luma(image)
    nominal = fit(image.size)
    factor = min(image.width // nominal[0], image.height // nominal[1])
    if factor >= 2:
        image = image.reduce(factor)
    return DecodedImage(HashInput(image, nominal), width, height, fmt)


def to_luma(image: Image.Image) -> Image.Image:
    """Any decoded image as luma ("L"), transparent areas shown on white as a browser would."""
    if image.mode == "L":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background.convert("L")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.point(lambda v: v / 256).convert("L")
    if image.mode == "RGB":
        return image.convert("L")
    return image.convert("RGB").convert("L")
