"""Hostile images through the crawler's decoding and hashing path.

Every file a site can serve either hashes or is refused with ``ImageRejected`` (a
documented ``kind`` and a message that says what is wrong), fast and without
allocating what its header claims. The corpus is built in memory by
tests/hostile_images.py (nothing is written to disk); the atheris harness uses the
same corpus as its seeds.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from fuzz_checks import check_image
from fuzz_profile import fuzz_settings
from hostile_images import EITHER, HASHES, REJECTED, corpus, encode, png_declaring, sample_image
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from monitor.config import Config
from monitor.hashing import ImageHashes, ImageRejected, hamming_hex, hash_image_bytes
from monitor.hashing.workers import crawl_hashes

TESTS = Path(__file__).resolve().parent
#: What the crawler allows by default (MONITOR_MAX_IMAGE_PIXELS).
MAX_PIXELS = Config.max_image_pixels
SETTINGS = fuzz_settings(150)

#: Refusals whose kind is known from the file alone (besides "bomb-*": too_many_pixels).
EXPECTED_KIND = {
    "empty": "empty",
    "html": "not_image",
    "svg": "not_image",
    "svg-script": "not_image",
    "zip": "not_image",
    "eps": "not_image",
    "psd": "not_image",
    "ico": "not_image",
    "polyglot-html-then-jpeg": "not_image",
}


def _expected_kind(name: str) -> str | None:
    return "too_many_pixels" if name.startswith("bomb-") else EXPECTED_KIND.get(name)


def plain_hashes(data: bytes) -> dict[str, str]:
    """The whole image's hashes (pdq, phash), as the crawler computes them."""
    result = crawl_hashes(data, MAX_PIXELS)
    return {value.algorithm: value.value for value in result.hashes}


# --------------------------------------------------------------------------- the corpus


@pytest.mark.filterwarnings("ignore:(Corrupt EXIF data|Truncated File Read):UserWarning")
@pytest.mark.parametrize("name", sorted(corpus()))
def test_hostile_corpus(name: str) -> None:
    """Each file hashes or is refused with ImageRejected (never another exception), as
    expected for it, within 2 s."""
    data, expected = corpus()[name]
    started = time.perf_counter()
    outcome = check_image(data, MAX_PIXELS)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{name} took {elapsed:.2f} s"
    if expected == HASHES:
        assert isinstance(outcome, ImageHashes), f"{name}: {outcome!r}"
        assert outcome.hashes and outcome.views_version is not None
    elif expected == REJECTED:
        assert isinstance(outcome, ImageRejected), f"{name} was hashed"
        kind = _expected_kind(name)
        if kind is not None:
            assert outcome.kind == kind, (name, outcome.kind, str(outcome))
    else:
        assert expected == EITHER
        assert isinstance(outcome, (ImageHashes, ImageRejected))


def test_the_corpus_covers_what_it_says() -> None:
    names = set(corpus())
    for needed in (
        "jpeg-cmyk",
        "png-gray16",
        "png-rgb16",
        "png-palette",
        "png-palette-transparent",
        "png-la",
        "png-rgba",
        "png-1bit",
        "gif-animated",
        "webp-animated",
        "apng",
        "jpeg-exif-6",
        "jpeg-exif-8",
        "tiny-1x1-png",
        "empty",
        "svg",
        "html",
        "polyglot-gif-html",
        "polyglot-jpeg-zip",
        "polyglot-png-trailing",
        "bomb-png-100000x100000",
    ):
        assert needed in names
    for prefix in ("truncated-jpeg-", "truncated-png-", "truncated-webp-", "truncated-gif-"):
        assert sum(name.startswith(prefix) for name in names) >= 10, prefix
    assert sum(name.startswith("corrupt-") for name in names) >= 12


def test_bombs_are_refused_by_the_pixel_limit_with_a_clear_message() -> None:
    for name, (data, _expected) in corpus().items():
        if not name.startswith("bomb-"):
            continue
        with pytest.raises(ImageRejected) as caught:
            hash_image_bytes(data, max_pixels=MAX_PIXELS)
        assert caught.value.kind == "too_many_pixels", name
        assert "pixels" in str(caught.value), name
    # Below Pillow's own bomb limit, the configured one refuses, naming both numbers.
    with pytest.raises(ImageRejected, match=r"9000x9000 exceeds the limit of 64000000 pixels"):
        hash_image_bytes(png_declaring(9000, 9000), max_pixels=MAX_PIXELS)


_MEMORY_PROBE = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from hostile_images import corpus, encode, png_flat, sample_image
    from monitor.hashing import ImageRejected
    from monitor.hashing.workers import crawl_hashes

    def peak_mb():
        # VmHWM: this process's peak RSS since exec (getrusage's ru_maxrss would also
        # count the pytest process this one was forked from).
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024

    crawl_hashes(encode(sample_image(), "PNG"), 64_000_000)  # everything imported, warm
    bombs = {name: data for name, (data, _) in corpus().items() if name.startswith("bomb-")}
    before = peak_mb()
    report = {}
    for name, data in bombs.items():
        started = time.perf_counter()
        try:
            crawl_hashes(data, 64_000_000)
            kind = None
        except ImageRejected as exc:
            kind = exc.kind
        report[name] = [kind, time.perf_counter() - started]
    after = peak_mb()
    # Control: a real 8000x8000 image (64 MP, the limit) is decoded, and shows up.
    crawl_hashes(png_flat(8000, 8000), 64_000_000)
    print(json.dumps({"before": before, "after": after, "control": peak_mb(), "bombs": report}))
    """
)


def test_bombs_are_refused_quickly_without_allocating_their_pixels() -> None:
    """In a fresh process (its peak RSS is its own): refusing every bomb, each
    declaring 0.27 to 4.6e18 pixels, raises the process's peak memory by under 16 MB,
    where decoding one real 64 MP image raises it by more than 32 MB."""
    run = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(report["bombs"]) >= 8
    for name, (kind, seconds) in report["bombs"].items():
        assert kind == "too_many_pixels", name
        assert seconds < 2.0, (name, seconds)
    assert report["after"] - report["before"] < 16, report
    assert report["control"] - report["after"] > 32, report  # the measure sees a decode


# --------------------------------------------------------------------------- what is hashed


@pytest.mark.parametrize("name", ["gif-animated", "webp-animated", "apng"])
def test_animated_images_hash_their_first_frame(name: str) -> None:
    """The first frame, as Pillow decodes it, every time; not any later frame."""
    data = corpus()[name][0]
    with Image.open(io.BytesIO(data)) as animation:
        assert animation.n_frames == {"apng": 2}.get(name, 3)
        first = encode(animation.convert("RGBA"), "PNG")
        animation.seek(1)
        second = encode(animation.convert("RGBA"), "PNG")
    hashes = plain_hashes(data)
    assert hashes == plain_hashes(data)
    assert hashes == plain_hashes(first)
    assert hamming_hex(hashes["pdq"], plain_hashes(second)["pdq"]) > 64


# Stored = inverse(transform)(upright), so that applying the EXIF orientation gives back
# the upright image (PIL.ImageOps.exif_transpose's table, inverted).
_STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _with_orientation(image: Image.Image, orientation: int, fmt: str) -> bytes:
    transform = _STORED[orientation]
    stored = image if transform is None else image.transpose(transform)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, fmt, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_before_hashing(orientation: int) -> None:
    """monitor.hashing.decode rule 3: the EXIF orientation is applied. An image stored
    turned or mirrored, with the orientation that turns it back, hashes exactly as the
    upright image (lossless PNG), and within a few bits as JPEG."""
    upright = sample_image((128, 80))
    expected = plain_hashes(encode(upright, "PNG"))
    data = _with_orientation(upright, orientation, "PNG")
    assert plain_hashes(data) == expected
    result = crawl_hashes(data, MAX_PIXELS)
    stored_size = (80, 128) if orientation >= 5 else (128, 80)
    assert (result.width, result.height) == stored_size  # as stored, before orientation
    if orientation != 1:  # the test can fail: ignoring the tag gives another hash
        assert plain_hashes(encode(Image.open(io.BytesIO(data)), "PNG")) != expected
    jpeg = plain_hashes(_with_orientation(upright, orientation, "JPEG"))
    assert hamming_hex(jpeg["pdq"], expected["pdq"]) <= 16
    assert hamming_hex(jpeg["phash"], expected["phash"]) <= 4


# Lossless conversions of the same picture hash exactly alike; lossy ones stay within
# the distances the decision rule matches at (PDQ 31, pHash 8).
_LOSSLESS = (
    "png-rgba",
    "png-la",
    "png-gray16",
    "png-rgb16",
    "png-interlaced",
    "webp-lossless-rgba",
    "bmp",
    "tiff",
    "tiff-cmyk",
    "tiff-float",
    "tiff-lzw",
    "polyglot-png-trailing",
)
_LOSSY = (
    "jpeg",
    "jpeg-progressive",
    "jpeg-cmyk",
    "jpeg-gray",
    "png-palette",
    "gif",
    "gif-transparent",
    "webp-lossy",
    "mpo",
    "polyglot-gif-html",
    "polyglot-jpeg-html",
    "polyglot-jpeg-zip",
)


@pytest.mark.parametrize("name", _LOSSLESS + _LOSSY)
def test_every_mode_and_container_hashes_the_same_picture(name: str) -> None:
    reference = plain_hashes(corpus()["png-rgb"][0])
    hashes = plain_hashes(corpus()[name][0])
    if name in _LOSSLESS:
        assert hashes == reference
    else:
        assert hamming_hex(hashes["pdq"], reference["pdq"]) <= 31
        assert hamming_hex(hashes["phash"], reference["phash"]) <= 8


# --------------------------------------------------------------------------- properties

_MAGIC = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"\xff\xd8\xff\xdb",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"GIF89a",
    b"GIF87a",
    b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    b"RIFF\x00\x01\x00\x00WEBPVP8L",
    b"RIFF\x00\x01\x00\x00WEBPVP8X",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"<svg ",
    b"",
)


@pytest.mark.filterwarnings("ignore::UserWarning")
@SETTINGS
@given(st.sampled_from(_MAGIC), st.binary(max_size=600))
@example(b"", b"")
def test_arbitrary_bytes_hash_or_are_refused(magic: bytes, body: bytes) -> None:
    check_image(magic + body, MAX_PIXELS)


@pytest.mark.filterwarnings("ignore::UserWarning")
@SETTINGS
@given(
    st.sampled_from(sorted(corpus())),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10**6),
)
def test_damaged_corpus_files_hash_or_are_refused(
    name: str, edits: list[tuple[int, int]], cut: int
) -> None:
    """A corpus file with a few bytes changed and maybe cut short."""
    data = bytearray(corpus()[name][0])
    if not data:
        return
    for at, value in edits:
        data[at % len(data)] = value
    check_image(bytes(data[: max(1, cut % (len(data) + 1))]), MAX_PIXELS)


_MODES_OF = {
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
    "JPEG": ("L", "RGB", "CMYK"),
    "GIF": ("L", "P"),
    "WEBP": ("RGB", "RGBA"),
    "BMP": ("1", "L", "P", "RGB"),
    "TIFF": ("1", "L", "LA", "RGB", "RGBA", "CMYK", "I;16", "F"),
}


@st.composite
def valid_images(draw: st.DrawFn) -> tuple[bytes, tuple[int, int]]:
    fmt = draw(st.sampled_from(sorted(_MODES_OF)))
    mode = draw(st.sampled_from(_MODES_OF[fmt]))
    size = draw(
        st.tuples(st.integers(1, 70), st.integers(1, 70))
        | st.tuples(st.integers(1, 3), st.integers(1, 2500))
        | st.tuples(st.integers(1, 2500), st.integers(1, 3))
    )
    pattern = draw(st.sampled_from(["flat", "noise", "bars", "frame"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    width, height = size
    if pattern == "flat":
        pixels = np.full((height, width, 3), rng.integers(0, 256, 3), dtype=np.uint8)
    elif pattern == "noise":
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    else:
        pixels = np.full((height, width, 3), 255, dtype=np.uint8)
        if pattern == "bars":
            pixels[:, ::7] = 0
            pixels[::5, :] = rng.integers(0, 256, 3)
        else:
            pixels[height // 4 : height - height // 4, width // 4 : width - width // 4] = 30
    image = Image.fromarray(pixels, "RGB")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
    elif mode != "RGB":
        image = image.convert(mode)
    return encode(image, fmt), size


@SETTINGS
@given(valid_images())
@example((encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), (1, 1)))
@example((encode(Image.new("L", (2500, 1), 9), "JPEG"), (2500, 1)))
def test_every_valid_image_hashes(image: tuple[bytes, tuple[int, int]]) -> None:
    """Any valid image of any size (1 px up, any aspect ratio), mode and format is hashed,
    never refused: a hostile site must not be able to hide a copy by its shape."""
    data, (width, height) = image
    result = check_image(data, MAX_PIXELS)
    assert isinstance(result, ImageHashes), result
    assert (result.width, result.height) == (width, height)
    # pHash has no quality floor: every image has one to be matched on (PDQ is dropped
    # when its quality is too low, e.g. on a flat image).
    assert "phash" in {value.algorithm for value in result.hashes}
    assert {value.algorithm for value in result.hashes} <= {"pdq", "phash", "dhash"}


@pytest.mark.parametrize(
    "size", [(1, 1), (1, 2), (2, 1), (3, 1), (1, 3), (900, 1), (1, 900), (20000, 1)]
)
def test_regression_images_one_pixel_thin_are_hashed(size: tuple[int, int]) -> None:
    """Found by the hostile corpus: a 1-pixel-thin image (a tracking pixel, a spacer)
    crashed the crawler's query views with IndexError (regions.fill_rotation read the
    second row and column). They hash now."""
    for image in (Image.new("L", size, 9), Image.effect_noise(size, 60)):
        result = crawl_hashes(encode(image, "PNG"), MAX_PIXELS)
        assert (result.width, result.height) == size
        assert result.views
