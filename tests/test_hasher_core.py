"""monitor/web/hasher/hashcore.js (the in-browser port of the hashing rules) against the
Python code, in Debian's Chromium driven by Playwright (no browser downloaded, no network:
the script is loaded into a blank page).

Inputs: the luma of every photo of tests/data/photos as Pillow decodes it (``draft("L")``
at the scale ``decode_image`` picks, before EXIF orientation), the same upscaled to
1100x900, 2000x1500 and 700x3000 (the reduce, coarse and projected paths), two photos at
all eight EXIF orientations, tiny, flat and non-square images. The Python reference runs
``decode._prepare`` on the same pixels (orientation given as EXIF) and
``DecisionRule().reference_views``.

Run with ``-s`` to see the measured agreement and timings.
"""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PHOTOS, ROOT
from PIL import Image

from monitor.hashing.base import hamming_hex
from monitor.hashing.decode import _prepare, decode_image
from monitor.hashing.resample import fit
from monitor.hashing.rule import DecisionRule

HASHCORE = ROOT / "monitor" / "web" / "hasher" / "hashcore.js"
MAX_PIXELS = 200_000_000

#: Measured bounds (Hamming distance, JS against Python) per view kind. hashcore.js rounds
#: to float32 where numpy does, in the same order, but computes BLAS's float32 products
#: (PDQ's DCT, the dense Lanczos products of the crops) in float64: a bit differs only
#: where a coefficient sits on the median. Measured on these images: 0 bits for the plain
#: and turned views, at most 2 bits (mean 0.0001) for the crops.
BOUNDS = {"original": 0, "turn": 2, "crop": 4, "fill": 4}
#: ...and the share of those hashes that differ at all. Measured: 1 of 41,325 crops (a
#: single bit flipped near the median moves one more that the median then crosses).
MAX_DIFFERING = 0.0002
#: Images with a side under 64 px: PDQ's 64x64 grid repeats their pixels, many of its DCT
#: coefficients are 0 in exact arithmetic and BLAS's rounding noise decides their bits
#: (pHash and dHash stay exact). Measured: PDQ up to 58 bits (4x4), crops up to 24.
SMALL_BOUND = 64
#: Views named on one side only (a hash dropped by the quality filter on one side, or the
#: deduplication keeping another view of the same value), per image, at most. Measured: 0
#: for the photos, 2 for the 4x4 image (two turns whose quality is 50 on one side only).
VIEW_SET_SLACK = 2


@dataclass(frozen=True)
class Case:
    name: str
    luma: np.ndarray  # (height, width) uint8, as decoded, before EXIF orientation
    orientation: int
    exact: bool  # the plain hashes must be equal bit for bit

    @property
    def small(self) -> bool:
        return min(self.luma.shape) < 64


def _photo_luma(path: Path) -> np.ndarray:
    """The pixels ``decode_image`` hands on before orientation: JPEG drafted to luma."""
    image = Image.open(path)
    image.draft("L", fit(image.size))
    image.load()
    assert image.mode == "L"
    return np.asarray(image).copy()


def _cases() -> list[Case]:
    cases = []
    photos = sorted(PHOTOS.glob("*.jpg"))
    for path in photos:
        cases.append(Case(path.stem, _photo_luma(path), 1, True))
    # Larger than the nominal size: Image.reduce, HashInput.coarse, the projected paths.
    for stem, sizes in (
        ("astronaut", ((1100, 900), (2000, 1500), (700, 3000))),
        ("rocket", ((1100, 900), (700, 3000))),
    ):
        luma = _photo_luma(PHOTOS / f"{stem}.jpg")
        for width, height in sizes:
            big = Image.fromarray(luma).resize((width, height), Image.Resampling.BICUBIC)
            cases.append(Case(f"{stem}@{width}x{height}", np.asarray(big), 1, False))
    astronaut = Image.fromarray(_photo_luma(PHOTOS / "astronaut.jpg"))
    cases.append(Case("astronaut@512x384", np.asarray(astronaut.resize((512, 384))), 1, True))
    luma = _photo_luma(PHOTOS / "chelsea.jpg")
    for orientation in range(2, 9):
        cases.append(Case(f"chelsea/o{orientation}", luma, orientation, True))
    big = np.asarray(Image.fromarray(_photo_luma(PHOTOS / "coffee.jpg")).resize((1300, 870)))
    cases.append(Case("coffee@1300x870/o6", big, 6, False))
    rng = np.random.default_rng(8)
    for width, height in ((1, 1), (4, 4), (19, 30), (21, 21), (64, 23)):
        noise = rng.integers(0, 256, (height, width), dtype=np.uint8)
        cases.append(Case(f"noise{width}x{height}", noise, 1, True))
    cases.append(Case("flat", np.full((300, 400), 128, np.uint8), 1, True))
    ramp = np.tile(np.arange(0, 256, 0.5)[None, :250], (90, 1)).astype(np.uint8)
    cases.append(Case("ramp250x90", ramp, 1, True))
    return cases


def _python_views(case: Case) -> list[dict[str, Any]]:
    """``decode._prepare`` (orientation as EXIF) and ``reference_views`` on the case's pixels."""
    image = Image.fromarray(case.luma, "L")
    if case.orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = case.orientation
        image.info["exif"] = exif.tobytes()
    decoded = _prepare(image, MAX_PIXELS)
    return [
        {
            "algorithm": v.value.algorithm,
            "value": v.value.value,
            "quality": v.value.quality,
            "view": v.view,
        }
        for v in DecisionRule().reference_views(decoded)
    ]


def _kind(view: str) -> str:
    return view.split(":", 1)[0]


@pytest.fixture(scope="module")
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    outside: list[str] = []
    context.route("**/*", lambda route: (outside.append(route.request.url), route.abort()))
    tab = context.new_page()
    tab.set_content("<!doctype html><title>hashcore</title>")
    tab.add_script_tag(content=HASHCORE.read_text())
    tab.evaluate(
        """() => { window.fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); }"""
    )
    yield tab
    assert not outside, f"the page asked the network for {outside}"
    context.close()


def _run_js(page: Any, case: Case, call: str = "referenceViews") -> tuple[Any, float]:
    height, width = case.luma.shape
    data = base64.b64encode(np.ascontiguousarray(case.luma).tobytes()).decode()
    result = page.evaluate(
        f"""([data, width, height, orientation]) => {{
            const luma = fromB64(data);
            const start = performance.now();
            try {{
                const views = NciiHash.{call}(luma, width, height, orientation);
                return {{views, ms: performance.now() - start}};
            }} catch (e) {{
                return {{error: String(e), ms: performance.now() - start}};
            }}
        }}""",
        [data, width, height, case.orientation],
    )
    return result, result["ms"]


def _compare(py: list[dict[str, Any]], js: list[dict[str, Any]]) -> dict[str, Any]:
    """Per view kind the Hamming distances of the views both sides have (per algorithm),
    and the views (names) one side only has."""
    distances: dict[str, list[int]] = defaultdict(list)
    js_by = {(v["algorithm"], v["view"]): v for v in js}
    py_by = {(v["algorithm"], v["view"]): v for v in py}
    for key, mine in py_by.items():
        other = js_by.get(key)
        if other is not None:
            distances[_kind(key[1])].append(hamming_hex(mine["value"], other["value"]))
    only = sorted(set(py_by) ^ set(js_by), key=str)
    return {"distances": distances, "only": only}


def _python_or_error(case: Case) -> list[dict[str, Any]] | str:
    try:
        return _python_views(case)
    except Exception as exc:  # Python's own failure: the port must fail too
        return f"{type(exc).__name__}: {exc}"


def test_plain_hashes_and_views_match_python(page: Any) -> None:
    cases = _cases()
    figures: dict[str, list[int]] = defaultdict(list)
    view_exceptions: list[tuple[str, int]] = []
    failures = []
    # Python's references are computed in a thread while Chromium runs the port.
    with ThreadPoolExecutor(1) as pool:
        started = time.perf_counter()
        references: list[Future[list[dict[str, Any]] | str]] = [
            pool.submit(_python_or_error, case) for case in cases
        ]
        js_ms: dict[str, float] = {}
        for case, future in zip(cases, references, strict=True):
            result, ms = _run_js(page, case)
            js_ms[case.name] = ms
            py = future.result()
            if isinstance(py, str):
                if "error" not in result:
                    failures.append(f"{case.name}: Python raises ({py}), the port does not")
                continue
            if "error" in result:
                failures.append(f"{case.name}: the port raises {result['error']}")
                continue
            js = result["views"]
            compared = _compare(py, js)
            for kind, values in compared["distances"].items():
                figures[kind if not case.small else "small"].extend(values)
                bound = SMALL_BOUND if case.small else BOUNDS[kind]
                if values and max(values) > bound:
                    failures.append(f"{case.name}: {kind} views differ by up to {max(values)} bits")
            plain_py = [v for v in py if v["view"] == "original"]
            plain_js = [v for v in js if v["view"] == "original"]
            if case.small:  # PDQ's bits are noise (see SMALL_BOUND): its quality, pHash, dHash
                plain_py = [
                    {**v, "value": None} if v["algorithm"] == "pdq" else v for v in plain_py
                ]
                plain_js = [
                    {**v, "value": None} if v["algorithm"] == "pdq" else v for v in plain_js
                ]
            if case.exact and plain_py != plain_js:
                failures.append(f"{case.name}: plain hashes {plain_js} != Python's {plain_py}")
            if compared["only"]:
                view_exceptions.append((case.name, len(compared["only"])))
                if len(compared["only"]) > VIEW_SET_SLACK:
                    failures.append(f"{case.name}: views on one side only: {compared['only'][:8]}")
        elapsed = time.perf_counter() - started
    total = sum(js_ms.values()) / 1000
    print(f"\n{len(cases)} images in {elapsed:.1f} s (the port: {total:.1f} s in Chromium)")
    for name in ("astronaut@512x384", "astronaut@2000x1500"):
        print(f"  referenceViews of {name}: {js_ms[name]:.0f} ms in Chromium")
    for kind in ("original", "turn", "fill", "crop", "small"):
        values = figures.get(kind, [])
        if values:
            exact = sum(1 for v in values if v == 0)
            print(
                f"  {kind:8s} {len(values):6d} hashes compared, {exact} equal, "
                f"max {max(values)} bits, mean {np.mean(values):.5f}"
            )
    print(f"  images whose view sets differ: {len(view_exceptions)} {view_exceptions}")
    derived = [v for kind in ("turn", "fill", "crop") for v in figures.get(kind, [])]
    differing = sum(1 for v in derived if v) / max(1, len(derived))
    if differing > MAX_DIFFERING:
        failures.append(
            f"{differing:.5f} of the turns, fills and crops differ (at most {MAX_DIFFERING})"
        )
    assert not failures, "\n".join(failures)


def test_timings(page: Any) -> None:
    """plainHashes (the quick display) in Chromium; referenceViews' times are printed by
    test_plain_hashes_and_views_match_python."""
    luma = _photo_luma(PHOTOS / "astronaut.jpg")
    for width, height in ((512, 384), (2000, 1500)):
        pixels = np.asarray(Image.fromarray(luma).resize((width, height), Image.Resampling.BICUBIC))
        case = Case(f"{width}x{height}", pixels, 1, False)
        plain = [_run_js(page, case, "plainHashes")[1] for _ in range(3)]
        print(f"\n  {width}x{height}: plainHashes {min(plain):.0f} ms (best of 3, Chromium)")


def test_plain_hashes_of_a_jpeg_match_decode_image(page: Any) -> None:
    """The photo as ``monitor hashes add`` reads it (bytes through decode_image), plain
    hashes through ``plainHashes``."""
    for path in sorted(PHOTOS.glob("*.jpg"))[:4]:
        decoded = decode_image(path.read_bytes(), max_pixels=MAX_PIXELS)
        expected = [
            {
                "algorithm": v.value.algorithm,
                "value": v.value.value,
                "quality": v.value.quality,
                "view": v.view,
            }
            for v in DecisionRule()._plain(decoded.input)
        ]
        result, _ms = _run_js(page, Case(path.stem, _photo_luma(path), 1, True), "plainHashes")
        assert result["views"] == expected, path.name


def test_rules_versions_are_the_ported_ones(page: Any) -> None:
    from monitor.hashing.registry import ALGORITHMS

    rules = page.evaluate("() => NciiHash.RULES")
    assert rules == {
        "pdq": ALGORITHMS["pdq"].version,
        "phash": ALGORITHMS["phash"].version,
        "dhash": ALGORITHMS["dhash"].version,
        "rule": DecisionRule.version,
    }


def test_pillow_steps_match_pillow(page: Any) -> None:
    """The ported Pillow steps, bit for bit: Image.reduce (Reduce.c's integer rounding and
    its special cases), resize(LANCZOS) to the two sizes the hashes use (22-bit fixed
    point, and Pillow 13's choice of which pass runs first), rotate(BILINEAR) of mode "F"."""
    from monitor.hashing.rule import _turn

    rng = np.random.default_rng(21)
    script = """([op, data, width, height, a, b]) => {
        const I = NciiHash._internal;
        if (op === "reduce") return Array.from(I.reduce8(fromB64(data), width, height, a).data);
        if (op === "resize") return Array.from(I.resizeLanczos8(fromB64(data), width, height, a, b));
        const bytes = fromB64(data);
        return Array.from(I.rotateF(new Float32Array(bytes.buffer), width, height, a));
    }"""

    def run(op: str, array: np.ndarray, a: float, b: int = 0) -> np.ndarray:
        data = base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()
        height, width = array.shape
        return np.array(page.evaluate(script, [op, data, width, height, a, b]))

    for _ in range(40):
        width, height = (int(v) for v in rng.integers(1, 300, 2))
        pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
        for size in ((32, 32), (9, 8)):
            expected = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))
            assert (run("resize", pixels, *size).reshape(expected.shape) == expected).all()
        factor = int(rng.integers(2, 9))
        expected = np.asarray(Image.fromarray(pixels).reduce(factor))
        assert (run("reduce", pixels, factor).reshape(expected.shape) == expected).all()
    for angle in (-7.25, 3.75):
        pixels = rng.integers(0, 256, (57, 83)).astype(np.float32)
        expected = _turn(pixels, angle)
        assert (run("rotate", pixels, angle).reshape(expected.shape) == expected).all()
