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
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import PHOTOS, ROOT
from PIL import Image

from monitor.hashing.decode import ImageRejected, decode_image
from monitor.hashing.resample import fit

JPEG_JS = ROOT / "monitor" / "web" / "hasher" / "jpeg.js"
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
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    outside: list[str] = []

    def guard(route: Any) -> None:  # the page needs no request at all
        outside.append(route.request.url)
        route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.add_script_tag(content=JPEG_JS.read_text())
    yield page
    context.close()
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
        if subsampling != 2 and size[0] * size[1] > 5_000_000:
            continue  # the big ones once (4:2:0) is enough, and keeps the test quick
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


# ------------------------------------------- files Pillow cannot write, made by hand


def huffman_tables() -> dict[int, tuple[bytes, bytes]]:
    """The standard tables (JPEG Annex K), as Pillow writes them without optimize."""
    data = jpeg(Image.new("RGB", (8, 8)))
    tables, i = {}, 2
    while data[i + 1] != 0xDA:
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if data[i + 1] == 0xC4:
            segment, j = data[i + 4 : i + 2 + length], 0
            while j < len(segment):
                counts = segment[j + 1 : j + 17]
                tables[segment[j]] = (counts, segment[j + 17 : j + 17 + sum(counts)])
                j += 17 + sum(counts)
        i += 2 + length
    return tables


def huffman_codes(counts: bytes, values: bytes) -> dict[int, tuple[int, int]]:
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            codes[values[k]] = (code, length)
            code, k = code + 1, k + 1
        code <<= 1
    return codes


class Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = self.count = 0

    def put(self, value: int, length: int) -> None:
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.count += length
        while self.count >= 8:
            self.count -= 8
            byte = (self.acc >> self.count) & 0xFF
            self.out += b"\xff\x00" if byte == 0xFF else bytes([byte])
        self.acc &= (1 << self.count) - 1

    def flush(self) -> bytes:
        if self.count:
            self.put((1 << (8 - self.count)) - 1, 8 - self.count)
        data, self.out = bytes(self.out), bytearray()
        return data


ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]  # fmt: skip


def hand_made(
    image: Image.Image,
    sampling: list[tuple[int, int]],
    *,
    interleaved: bool = True,
    order: list[int] | None = None,
    restart: int = 0,
    dht: bool = True,
) -> bytes:
    """A baseline JPEG with any sampling factors, scans and restart interval."""
    import scipy.fft

    planes = [np.asarray(image.convert("L"), float)]
    if len(sampling) == 3:
        planes = [np.asarray(band, float) for band in image.convert("YCbCr").split()]
    height, width = planes[0].shape
    hmax, vmax = max(h for h, _ in sampling), max(v for _, v in sampling)
    mcus_x, mcus_y = -(-width // (8 * hmax)), -(-height // (8 * vmax))
    quant = np.full((8, 8), 16.0)
    quant[2:, 2:] = 40
    tables = huffman_tables()
    coefs = []
    for plane, (h, v) in zip(planes, sampling, strict=True):
        sub = plane[:: vmax // v if vmax % v == 0 else 1, :: hmax // h if hmax % h == 0 else 1]
        rows, cols = mcus_y * v * 8, mcus_x * h * 8
        sub = np.pad(sub[:rows, :cols], ((0, max(0, rows - sub.shape[0])), (0, max(0, cols - sub.shape[1]))), mode="edge")  # fmt: skip
        blocks = sub.reshape(rows // 8, 8, cols // 8, 8).transpose(0, 2, 1, 3) - 128
        dct = scipy.fft.dctn(blocks, axes=(2, 3), norm="ortho")
        zigzagged = np.rint(dct / quant).astype(int).reshape(*dct.shape[:2], 64)[:, :, ZIGZAG]
        coefs.append(zigzagged.tolist())

    codes = {i: huffman_codes(*table) for i, table in tables.items()}

    def block_code(bits: Bits, flat: list[int], k: int, pred: list[int]) -> None:
        dc_codes, ac_codes = (codes[0x00], codes[0x10]) if k == 0 else (codes[0x01], codes[0x11])
        diff, pred[k] = flat[0] - pred[k], flat[0]
        size = abs(diff).bit_length()
        bits.put(*dc_codes[size])
        bits.put(diff if diff >= 0 else diff + (1 << size) - 1, size)
        last = 0
        for position in range(1, 64):
            value = flat[position]
            if not value:
                continue
            run = position - last - 1
            while run > 15:
                bits.put(*ac_codes[0xF0])
                run -= 16
            size = abs(value).bit_length()
            bits.put(*ac_codes[(run << 4) | size])
            bits.put(value if value >= 0 else value + (1 << size) - 1, size)
            last = position
        if last < 63:
            bits.put(*ac_codes[0x00])

    def scan(components: list[int]) -> bytes:
        if len(components) == 1:
            (k,) = components
            h, v = sampling[k]
            units = [
                [(k, by, bx)]
                for by in range(-(-height * v // (8 * vmax)))
                for bx in range(-(-width * h // (8 * hmax)))
            ]
        else:
            units = [
                [
                    (k, my * sampling[k][1] + y, mx * sampling[k][0] + x)
                    for k in components
                    for y in range(sampling[k][1])
                    for x in range(sampling[k][0])
                ]
                for my in range(mcus_y)
                for mx in range(mcus_x)
            ]
        bits, out, pred = Bits(), bytearray(), [0] * len(sampling)
        for n, unit in enumerate(units):
            if restart and n and n % restart == 0:
                out += bits.flush() + bytes([0xFF, 0xD0 + (n // restart - 1) % 8])
                pred = [0] * len(sampling)
            for k, by, bx in unit:
                block_code(bits, coefs[k][by][bx], k, pred)
        out += bits.flush()
        header = bytes([len(components)])
        for k in components:
            header += bytes([k + 1, 0x00 if k == 0 else 0x11])
        header += bytes([0, 63, 0])
        return b"\xff\xda" + (len(header) + 2).to_bytes(2, "big") + header + bytes(out)

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload

    table = bytes(int(quant.reshape(64)[z]) for z in ZIGZAG)
    out = b"\xff\xd8" + segment(0xDB, b"\x00" + table + b"\x01" + table)
    sof = bytes([8]) + height.to_bytes(2, "big") + width.to_bytes(2, "big") + bytes([len(sampling)])
    for k, (h, v) in enumerate(sampling):
        sof += bytes([k + 1, (h << 4) | v, 0 if k == 0 else 1])
    out += segment(0xC0, sof)
    if dht:
        for index, (counts, values) in tables.items():
            out += segment(0xC4, bytes([index]) + counts + values)
    if restart:
        out += segment(0xDD, restart.to_bytes(2, "big"))
    components = list(range(len(sampling)))
    for group in [components] if interleaved else [[k] for k in (order or components)]:
        out += scan(group)
    return out + b"\xff\xd9"


def test_sampling_scans_and_tables_pillow_cannot_write(page: Any) -> None:
    images = photos()
    variants: list[tuple[str, list[tuple[int, int]], dict[str, Any]]] = [
        ("4:4:0", [(1, 2), (1, 1), (1, 1)], {}),
        ("4:1:1", [(4, 1), (1, 1), (1, 1)], {}),
        ("three scans", [(2, 2), (1, 1), (1, 1)], {"interleaved": False, "order": [2, 0, 1]}),
        ("scans, restarts", [(1, 1)] * 3, {"interleaved": False, "restart": 5}),
        ("no DHT", [(2, 1), (1, 1), (1, 1)], {"dht": False}),
        ("4x4 luma, scans", [(4, 4), (1, 1), (1, 1)], {"interleaved": False, "restart": 7}),
    ]
    small = [
        ("Y 2x2, Cb 2x1, Cr 1x2", [(2, 2), (2, 1), (1, 2)], {}),
        ("gray 2x2", [(2, 2)], {}),
        ("gray 2x2, restarts", [(2, 2)], {"restart": 3}),
        ("4x4 luma", [(4, 4), (1, 1), (1, 1)], {}),  # 18 blocks an MCU: libjpeg refuses it
    ]
    cases = []
    # Scales 1/1, 1/1, 1/2, 1/4, 1/8 (thin images: this encoder is slow).
    for i, size in enumerate([(37, 29), (300, 205), (1100, 200), (2100, 200), (4200, 400)]):
        image = images[i].resize(size)
        chosen = variants + small if size[0] < 1000 else variants
        if size[0] > 4000:
            chosen = variants[:1] + variants[2:3]
        for name, sampling, options in chosen:
            cases.append((f"{size} {name}", hand_made(image, sampling, **options)))
    results = check(page, cases)
    kinds = [result.get("kind") for result in results]
    assert kinds.count("corrupt") == 2 and kinds.count(None) == len(cases) - 2


def test_upsampled_luma_is_refused(page: Any) -> None:
    image = photos()[2].resize((600, 410))
    cases = [
        hand_made(image, [(1, 1), (2, 2), (1, 1)]),
        hand_made(image, [(2, 1), (1, 2), (1, 1)]),
    ]
    for data, result in zip(cases, run(page, cases), strict=True):
        decode_image(data, max_pixels=MAX_PIXELS)  # Pillow upsamples luma here
        assert result.get("kind") == "unsupported", brief(result)
