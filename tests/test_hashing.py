"""Hashing: every algorithm obeys the same contract; untrusted bytes are decoded safely."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from conftest import PHOTOS
from PIL import Image, ImageDraw

from monitor.hashing import ALGORITHMS, ImageRejected, decode_image, hash_image_bytes
from monitor.hashing.base import hamming_hex

MAX_PIXELS = 64_000_000


def photo(name: str) -> bytes:
    return (PHOTOS / f"{name}.jpg").read_bytes()


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def hashes_of(data: bytes) -> dict[str, str]:
    return {h.algorithm: h.value for h in hash_image_bytes(data, max_pixels=MAX_PIXELS).hashes}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
class TestAlgorithmContract:
    """The checks every hash algorithm passes (a new plug-in gets them for free)."""

    def test_shape_and_determinism(self, name: str) -> None:
        algorithm = ALGORITHMS[name]
        first = hashes_of(photo("astronaut"))[name]
        assert len(first) == algorithm.bits // 4 and int(first, 16) >= 0
        assert hashes_of(photo("astronaut"))[name] == first
        assert algorithm.distance(first, first) == 0

    def test_copies_match_and_unrelated_photos_do_not(self, name: str) -> None:
        algorithm = ALGORITHMS[name]
        original = Image.open(io.BytesIO(photo("coffee"))).convert("RGB")
        reference = hashes_of(photo("coffee"))[name]
        copies = [
            encode(original.resize((original.width // 2, original.height // 2))),
            encode(original, quality=30),
            encode(original, "PNG"),
            encode(original.convert("L").convert("RGB")),
        ]
        for copy in copies:
            assert (
                algorithm.distance(reference, hashes_of(copy)[name]) <= algorithm.default_threshold
            )
        for other in ("camera", "hubble", "brick", "gravel", "grass", "ihc"):
            distance = algorithm.distance(reference, hashes_of(photo(other))[name])
            assert distance > algorithm.default_threshold * 2, (other, distance)


def test_pdq_quality_is_reported_and_flat_images_are_unusable() -> None:
    flat = encode(Image.new("RGB", (300, 300), (120, 120, 120)))
    pdq = hash_image_bytes(flat, max_pixels=MAX_PIXELS).get("pdq")
    assert pdq is not None and pdq.quality is not None and pdq.quality < 50
    assert not ALGORITHMS["pdq"].usable(pdq)
    good = hash_image_bytes(photo("rocket"), max_pixels=MAX_PIXELS).get("pdq")
    assert good is not None and ALGORITHMS["pdq"].usable(good)


def test_hamming_hex() -> None:
    assert hamming_hex("00", "ff") == 8
    assert hamming_hex("0f0f", "0f0e") == 1
    with pytest.raises(ValueError):
        hamming_hex("00", "000")


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "data, kind",
    [
        (b"", "empty"),
        (b"<html>not an image</html>", "not_image"),
        (photo("coffee")[:4000], "corrupt"),
        (photo("coffee")[:200] + b"\0garbage" * 500, "corrupt"),
        (png_declaring(30000, 30000), "too_many_pixels"),
        (png_declaring(100_000, 100_000), "too_many_pixels"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not_image"),
    ],
)
def test_bad_bytes_are_rejected_with_a_kind(data: bytes, kind: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, max_pixels=MAX_PIXELS)
    assert caught.value.kind == kind


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(ImageRejected) as caught:
        decode_image(photo("astronaut"), max_pixels=512 * 511)
    assert caught.value.kind == "too_many_pixels"
    assert decode_image(photo("astronaut"), max_pixels=512 * 512).width == 512


def test_unusual_images_decode_to_rgb() -> None:
    base = Image.open(io.BytesIO(photo("chelsea"))).convert("RGB")
    samples = {
        "cmyk": encode(base.convert("CMYK")),
        "palette": encode(base.convert("P"), "PNG"),
        "transparent": encode(base.convert("RGBA"), "PNG"),
        "gray16": encode(
            Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 256), "PNG"
        ),
        "gif": encode(base, "GIF", save_all=True, append_images=[base.rotate(5)]),
        "webp": encode(base, "WEBP"),
        "bmp": encode(base, "BMP"),
        "tiff": encode(base, "TIFF"),
    }
    reference = hashes_of(photo("chelsea"))["phash"]
    for name, data in samples.items():
        decoded = decode_image(data, max_pixels=MAX_PIXELS)
        assert decoded.image.mode == "RGB", name
        assert hamming_hex(reference, hashes_of(data)["phash"]) <= 12, name


def test_exif_rotation_is_applied() -> None:
    base = Image.open(io.BytesIO(photo("rocket"))).convert("RGB")
    rotated = base.rotate(90, expand=True)  # stored sideways, EXIF says "rotate back"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    data = encode(rotated, exif=exif.tobytes())
    decoded = decode_image(data, max_pixels=MAX_PIXELS)
    assert decoded.image.size == base.size
    assert hamming_hex(hashes_of(photo("rocket"))["pdq"], hashes_of(data)["pdq"]) <= 31


def test_large_images_are_reduced_before_hashing() -> None:
    big = Image.open(io.BytesIO(photo("astronaut"))).convert("RGB").resize((3000, 3000))
    draw = ImageDraw.Draw(big)
    draw.rectangle((0, 0, 10, 10), fill=(0, 0, 0))
    decoded = decode_image(encode(big), max_pixels=MAX_PIXELS)
    assert (decoded.width, decoded.height) == (3000, 3000)
    assert max(decoded.image.size) <= 512
