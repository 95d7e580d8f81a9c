"""monitor/web/hasher/jpeg.js (NciiJpeg) against Pillow, in Debian's Chromium.

The hashing page decodes a victim's JPEGs in her browser with NciiJpeg; its luma
must be byte for byte what our crawler gets from Pillow (``decode._prepare``:
``draft("L", fit(size))`` then ``load()``), at every DCT scale, and it must
accept and reject the same files as ``decode_image``. Every fixture is made here,
in memory, from the photos in tests/data/photos; many images go to the page in
one ``page.evaluate`` call (as base64) and the luma comes back as base64.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PHOTOS, ROOT
from PIL import Image

from monitor.hashing.decode import ImageRejected, decode_image
from monitor.hashing.resample import fit

JPEG_JS = ROOT / "monitor" / "web" / "hasher" / "jpeg.js"
CHROMIUM = os.environ.get("MONITOR_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-features=Translate,OptimizationHints,MediaRouter",
]  # fmt: skip
MAX_PIXELS = 50_000_000

#: Decodes a list of base64 JPEGs; returns, for each, the luma (base64) or the error.
DECODE_MANY = """([items, maxPixels, source]) => {
  const decoder = source === null ? NciiJpeg : new Function(source + "; return NciiJpeg;")();
  const toBytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const toB64 = (bytes) => {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  };
  return items.map((b64) => {
    try {
      const r = decoder.decodeLuma(toBytes(b64), { maxPixels, box: 512 });
      return { width: r.width, height: r.height, outWidth: r.outWidth, outHeight: r.outHeight,
               luma: toB64(r.luma), orientation: r.orientation, format: r.format };
    } catch (error) {
      return { kind: error.kind || null, message: String(error && error.message) };
    }
  });
}"""


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        outside: list[str] = []

        def guard(route: Any) -> None:  # the page needs no request at all
            outside.append(route.request.url)
            route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.add_script_tag(content=JPEG_JS.read_text())
        yield page
        browser.close()
        assert outside == []


def run(page: Any, images: list[bytes], *, max_pixels: int = MAX_PIXELS, source: str | None = None):
    items = [base64.b64encode(data).decode() for data in images]
    return page.evaluate(DECODE_MANY, [items, max_pixels, source])


def reference(data: bytes, max_pixels: int = MAX_PIXELS) -> dict[str, Any]:
    """What the crawler does with ``data``: its rejection, or the luma before orientation."""
    try:
        decode_image(data, max_pixels=max_pixels)
    except ImageRejected as exc:
        return {"kind": exc.kind}
    image = Image.open(io.BytesIO(data))
    size = image.size
    image.draft("L", fit(size))
    image.load()
    orientation = Image.open(io.BytesIO(data)).getexif().get(0x0112)
    if orientation not in range(1, 9):
        orientation = 1
    return {"size": size, "luma": np.asarray(image), "orientation": orientation}


def brief(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "luma"}


def check(page: Any, cases: list[tuple[str, bytes]], **kwargs: Any) -> list[dict[str, Any]]:
    """Every case decodes in the browser exactly as the crawler decodes it."""
    results = run(page, [data for _, data in cases], **kwargs)
    failures = []
    for (name, data), got in zip(cases, results, strict=True):
        want = reference(data, **kwargs)
        if "kind" in want:
            if got.get("kind") != want["kind"]:
                failures.append(f"{name}: Pillow rejects ({want['kind']}), page: {brief(got)}")
            continue
        if "kind" in got:
            failures.append(f"{name}: Pillow decodes it, page rejects it: {brief(got)}")
            continue
        luma = np.frombuffer(base64.b64decode(got["luma"]), np.uint8)
        shape = (got["outHeight"], got["outWidth"])
        if shape != want["luma"].shape:
            failures.append(f"{name}: size {shape}, Pillow {want['luma'].shape}")
        elif not np.array_equal(luma.reshape(shape), want["luma"]):
            diff = np.abs(luma.reshape(shape).astype(int) - want["luma"]).max()
            failures.append(f"{name}: luma differs (by up to {diff})")
        if (got["width"], got["height"]) != want["size"]:
            failures.append(f"{name}: stored size {got['width']}x{got['height']}, {want['size']}")
        if got["orientation"] != want["orientation"]:
            failures.append(f"{name}: orientation {got['orientation']}, {want['orientation']}")
        if got["format"] != "JPEG":
            failures.append(f"{name}: format {got['format']}")
    assert failures == [], "\n".join(failures)
    return results


# ---------------------------------------------------------------------------- fixtures


@functools.cache
def photos() -> list[Image.Image]:
    return [Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))]


def jpeg(image: Image.Image, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", **options)
    return out.getvalue()


def exif(orientation: Any) -> bytes:
    data = Image.Exif()
    data[0x0112] = orientation
    return data.tobytes()


def app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


#: Sizes that give every draft scale (box 512): 1/1, 1/2, 1/4, 1/8, odd edges included.
SIZES = [
    (1, 1), (7, 13), (16, 9), (33, 17), (300, 511), (513, 300), (1023, 1023), (1100, 900),
    (1030, 517), (2100, 1500), (2047, 4097), (4100, 3000), (9000, 600), (600, 9000),
]  # fmt: skip


def test_draft_scales_match_pillow() -> None:
    """The sizes above cover the four scales (checked with Pillow's own draft)."""
    scales = set()
    for size in SIZES:
        image = Image.open(io.BytesIO(jpeg(Image.new("RGB", size))))
        image.draft("L", fit(size))
        scales.add(-(-size[0] // image.size[0]))
    assert scales == {1, 2, 4, 8}


def test_photos_as_they_are(page: Any) -> None:
    files = sorted(PHOTOS.glob("*.jpg"))
    assert files
    check(page, [(path.name, path.read_bytes()) for path in files])


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_every_scale_and_odd_sizes(page: Any, subsampling: int) -> None:
    images = photos()
    cases = []
    for i, size in enumerate(SIZES):
        image = images[i % len(images)].resize(size)
        cases.append((f"{size} 4:x:x={subsampling}", jpeg(image, subsampling=subsampling)))
        cases.append(
            (f"{size} progressive", jpeg(image, subsampling=subsampling, progressive=True))
        )
    check(page, cases)


def test_grayscale_optimized_and_qualities(page: Any) -> None:
    images = photos()
    cases = []
    for i, quality in enumerate([10, 20, 35, 50, 65, 75, 85, 90, 95, 100]):
        image = images[i % len(images)].resize((1100, 700) if i % 2 else (480, 320))
        options = {"quality": quality, "subsampling": i % 3}
        cases.append((f"q{quality}", jpeg(image, **options)))
        cases.append((f"q{quality} optimize", jpeg(image, optimize=True, **options)))
        cases.append((f"q{quality} prog", jpeg(image, optimize=True, progressive=True, **options)))
        gray = image.convert("L")
        cases.append((f"q{quality} gray", jpeg(gray, quality=quality)))
        cases.append((f"q{quality} gray prog", jpeg(gray, quality=quality, progressive=True)))
    # Quantization tables of 16-bit values and of all ones.
    cases.append(("16-bit DQT", jpeg(images[0], qtables=[[300] * 64, [2] * 64])))
    cases.append(("DQT ones", jpeg(images[1], qtables=[[1] * 64, [1] * 64], subsampling=0)))
    check(page, cases)


def test_restart_markers(page: Any) -> None:
    images = photos()
    cases = []
    for blocks in (1, 2, 5):
        image = images[blocks].resize((1100, 900))
        cases.append((f"every {blocks} MCU", jpeg(image, restart_marker_blocks=blocks)))
        cases.append(
            (f"every {blocks} prog", jpeg(image, restart_marker_blocks=blocks, progressive=True))
        )
    for rows in (1, 3):
        image = images[rows].resize((2100, 1500))
        cases.append((f"every {rows} rows", jpeg(image, restart_marker_rows=rows, subsampling=0)))
        cases.append((f"{rows} rows gray", jpeg(image.convert("L"), restart_marker_rows=rows)))
    results = check(page, cases)
    assert all("luma" in result for result in results)


def test_exif_orientation(page: Any) -> None:
    image = photos()[4]
    cases = [(f"orientation {value}", jpeg(image, exif=exif(value))) for value in range(10)]
    cases.append(("no exif", jpeg(image)))
    cases.append(("orientation 65535", jpeg(image, exif=exif(65535))))
    with_six = jpeg(image, exif=exif(6))
    # Several APP1 segments: Pillow keeps the first EXIF one (and appends the others).
    cases.append(("second exif after", with_six[:20] + app1(exif(3)) + with_six[20:]))
    cases.append(("second exif before", with_six[:2] + app1(exif(3)) + with_six[2:]))
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'
    cases.append(("xmp only", jpeg(image, xmp=xmp)))
    cases.append(("xmp and exif", jpeg(image, xmp=xmp, exif=exif(3))))
    cases.append(("xmp element", jpeg(image, xmp=b"<tiff:Orientation>5</tiff:Orientation>")))
    big = image.resize((1200, 1000))
    cases.append(("orientation at scale 1/2", jpeg(big, exif=exif(8), progressive=True)))
    results = check(page, cases)
    assert [result["orientation"] for result in results[:10]] == [1, 1, 2, 3, 4, 5, 6, 7, 8, 1]


def test_mpo_and_trailing_bytes(page: Any) -> None:
    images = photos()
    rnd = random.Random(8)
    cases = []
    for size, options in [((512, 341), {}), ((1200, 1000), {"exif": exif(6)})]:
        out = io.BytesIO()
        images[8].resize(size).save(out, "MPO", save_all=True, append_images=[images[9]], **options)
        data = out.getvalue()
        assert Image.open(io.BytesIO(data)).format == "MPO"
        cases.append((f"MPO {size}", data))
    base = jpeg(images[0].resize((1100, 900)))
    cases.append(("trailing garbage", base + bytes(rnd.randrange(256) for _ in range(999))))
    cases.append(("trailing JPEG", base + jpeg(images[1])))
    cases.append(("trailing FF", base + b"\xff" * 10))
    check(page, cases)


def damaged(data: bytes, rnd: random.Random) -> list[tuple[str, bytes]]:
    cases = [(f"cut at {f:.0%}", data[: int(len(data) * f)]) for f in (0.01, 0.3, 0.7, 0.95)]
    cases += [(f"cut {k} bytes short", data[:-k]) for k in (1, 2, 3, 4, 6, 9, 17, 40)]
    cases.append(("EOI in the middle", data[: len(data) // 2] + b"\xff\xd9"))
    for i in range(6):
        broken = bytearray(data)
        start = rnd.randrange(len(data) // 5, len(data) - 50)
        for j in range(start, start + rnd.randrange(1, 40)):
            broken[j] = rnd.randrange(256)
        cases.append((f"garbage {i}", bytes(broken)))
    return cases


def test_truncated_and_damaged(page: Any) -> None:
    images = photos()
    rnd = random.Random(5)
    cases = []
    for name, data in [
        ("baseline", jpeg(images[0].resize((1100, 900)))),
        ("4:4:4 small", jpeg(images[3], subsampling=0)),
        ("restarts", jpeg(images[2].resize((900, 700)), restart_marker_blocks=3)),
        ("progressive", jpeg(images[1].resize((1100, 900)), progressive=True)),
    ]:
        cases += [(f"{name}: {what}", broken) for what, broken in damaged(data, rnd)]
    # The progressive file cut before EOI with an EOI is decoded by Pillow with
    # libjpeg's block smoothing, which the page does not do.
    cases = [case for case in cases if case[0] != "progressive: EOI in the middle"]
    base = jpeg(images[4])
    cases += [
        ("empty", b""),
        ("random", bytes(rnd.randrange(256) for _ in range(3000))),
        ("SOI only", b"\xff\xd8\xff"),
        ("header only", base[: base.index(b"\xff\xda")]),
        ("junk before a marker", base[:2] + b"\x00\x12" + base[2:]),
        ("unknown marker", base[:2] + b"\xff\x05" + base[2:]),
        ("PNG", b"\x89PNG\r\n\x1a\n" + bytes(40)),
    ]
    check(page, cases)


def test_too_many_pixels(page: Any) -> None:
    images = photos()
    cases = [
        ("just fits", jpeg(images[0].resize((1000, 1000)))),
        ("one too many", jpeg(images[0].resize((1000, 1001)))),
        ("huge header", jpeg(images[1].resize((4100, 3000)), progressive=True)),
        ("huge, broken", jpeg(images[1].resize((4100, 3000)))[:5000]),
    ]
    results = check(page, cases, max_pixels=1_000_000)
    assert [result.get("kind") for result in results] == [None] + ["too_many_pixels"] * 3


def test_unsupported_files_are_refused(page: Any) -> None:
    """Files Pillow decodes but the page would not decode exactly: refused, never wrong."""
    images = photos()
    partial = jpeg(images[1].resize((1100, 900)), progressive=True)
    cases = {
        "CMYK": jpeg(images[2].convert("CMYK")),
        "Adobe RGB": jpeg(images[3], keep_rgb=True),
        "progressive missing scans": partial[: len(partial) // 2] + b"\xff\xd9",
    }
    results = run(page, list(cases.values()))
    for (name, data), result in zip(cases.items(), results, strict=True):
        decode_image(data, max_pixels=MAX_PIXELS)  # the crawler takes it
        assert result.get("kind") == "unsupported", (name, result)


@functools.cache
def sharp_cases() -> list[bytes]:
    """Images at each scale (thin, so they are quick to make) and all-black ones."""
    image = photos()[0]
    sizes = [(512, 384), (1100, 105), (2100, 200), (4200, 400)]  # 1/1, 1/2, 1/4, 1/8
    cases = [jpeg(image.resize(size), quality=q) for size in sizes for q in (15, 95)]
    return cases + [jpeg(Image.new("L", size, 0)) for size in ((64, 64), (4200, 400))]


def perturbed(source: str, old: str, new: str) -> str:
    assert source.count(old) >= 1, old
    return source.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("imul(z3 + z4, 9633)", "imul(z3 + z4, 9634)"),  # jpeg_idct_islow
        ("imul(y3, -17799)", "imul(y3, -17800)"),  # jpeg_idct_4x4, pass 1
        ("imul(ws[w + 1], 29692)", "imul(ws[w + 1], 29693)"),  # jpeg_idct_2x2, pass 2
        ("(imul(dc, q0) + 4) >> 3", "(imul(dc, q0) + 3) >> 3"),  # jpeg_idct_1x1
        ("i < 896 ? 0 : i - 896", "i < 896 ? 0 : i - 895"),  # range limiting (1x1)
        ("v > 127 ? 255 : v + 128", "v > 127 ? 255 : v + 127"),  # saturation (SIMD IDCTs)
    ],
)
def test_a_broken_decoder_is_caught(page: Any, old: str, new: str) -> None:
    """The comparison is sharp: one constant off by one shows up."""
    cases = sharp_cases()
    broken = perturbed(JPEG_JS.read_text(), old, new)
    good = run(page, cases)
    bad = run(page, cases, source=broken)
    assert all("luma" in result for result in good + bad)
    assert any(g["luma"] != b["luma"] for g, b in zip(good, bad, strict=True))


def test_speed_of_a_12_megapixel_photo(page: Any) -> None:
    image = photos()[0].resize((4000, 3000))
    baseline = jpeg(image, quality=90)
    progressive = jpeg(image, quality=90, progressive=True)
    timing = """([b64, box]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const times = [];
      let r;
      for (let i = 0; i < 2; i++) {
        const t = performance.now();
        r = NciiJpeg.decodeLuma(bytes, { maxPixels: 50e6, box });
        times.push(performance.now() - t);
      }
      return [times, r.outWidth, r.outHeight];
    }"""
    report = []
    for name, data in [("baseline", baseline), ("progressive", progressive)]:
        for box, scale in [(512, 4), (400, 8)]:
            times, width, height = page.evaluate(timing, [base64.b64encode(data).decode(), box])
            assert (width, height) == (4000 // scale, 3000 // scale)
            report.append(f"{name} 1/{scale}: " + ", ".join(f"{t:.0f}" for t in times) + " ms")
            assert min(times) < 2000, report
    print("\n4000x3000 in Chromium: " + "; ".join(report))


@pytest.mark.skipif(shutil.which("node") is None, reason="no node")
def test_loads_in_node() -> None:
    data = jpeg(photos()[0].resize((1100, 900)), exif=exif(6))
    script = (
        f"const J = require({str(JPEG_JS)!r});"
        "const b = require('fs').readFileSync(0);"
        "const r = J.decodeLuma(new Uint8Array(b), {maxPixels: 1e8, box: 512});"
        "process.stdout.write(JSON.stringify([r.outWidth, r.outHeight, r.orientation,"
        " Buffer.from(r.luma).toString('base64')]));"
    )
    started = time.monotonic()
    out = subprocess.run(
        ["node", "-e", script], input=data, capture_output=True, check=True, timeout=60
    )
    assert time.monotonic() - started < 30
    width, height, orientation, luma = json.loads(out.stdout)
    want = reference(data)
    assert (height, width) == want["luma"].shape and orientation == 6
    assert np.array_equal(np.frombuffer(base64.b64decode(luma), np.uint8), want["luma"].ravel())
