"""The decision rule (monitor.hashing.rule): its views, its decision, its fast path."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw, ImageOps

from monitor.hashing import ALGORITHMS, HashValue, decode_image
from monitor.hashing.algorithms import (
    _PDQ_GRID,
    PDQ_DIHEDRAL,
    pdq_dihedral_from_grid,
    pdq_hex,
)
from monitor.hashing.resample import HashInput
from monitor.hashing.rule import (
    DecisionRule,
    QueryHash,
    ViewMatch,
    _inscribed,
    crop_windows,
    fill_windows,
    query_hashes,
)

PHOTOS = Path(__file__).parent / "data" / "photos"
MAX_PIXELS = 50_000_000


def photo(name: str) -> Image.Image:
    return Image.open(PHOTOS / f"{name}.jpg").convert("RGB")


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def rule() -> DecisionRule:
    return DecisionRule()


@pytest.fixture(scope="module")
def astronaut(rule: DecisionRule) -> tuple[Image.Image, list[QueryHash]]:
    image = photo("astronaut")
    return image, rule.enrol(jpeg(image))


@pytest.fixture(scope="module")
def wide_astronaut(rule: DecisionRule) -> list[QueryHash]:
    return rule.enrol(jpeg(_wide(photo("astronaut"))))


# --------------------------------------------------------------------------- the API


def test_views_start_with_the_plain_hashes(rule: DecisionRule) -> None:
    decoded = decode_image(jpeg(photo("coffee")), max_pixels=MAX_PIXELS)
    plain = [ALGORITHMS[name].compute(decoded.input) for name in ("pdq", "phash", "dhash")]
    for views in (rule.reference_views(decoded), rule.query_views(decoded)):
        assert [v.view for v in views[:3]] == ["original"] * 3
        assert [v.value for v in views[:3]] == plain  # the plain view is the algorithms' own
        assert all(ALGORITHMS[v.value.algorithm].usable(v.value) for v in views)
        # dHash of the plain view only (it confirms, with pHash and PDQ, never alone).
        assert [v.view for v in views if v.value.algorithm == "dhash"] == ["original"]
    assert set(rule.thresholds) == {"pdq", "phash", "dhash"}


def test_reference_crops_cover_every_crop_of_70_to_90_percent(rule: DecisionRule) -> None:
    windows = crop_windows()
    assert (0.0, 1.0) in windows and len(windows) == 26
    for start, end in windows:
        assert 0 <= start < end <= 1
        assert (start, end) == (0.0, 1.0) or 0.675 - 1e-9 <= end - start <= 0.925 + 1e-9
    # Any crop keeping 70-90 % of a side has both edges within half a step of a window's.
    for start in np.linspace(0, 0.3, 31):
        for length in np.linspace(0.7, 0.9, 21):
            if start + length > 1:
                continue
            nearest = min(max(abs(a - start), abs(b - start - length)) for a, b in windows)
            assert nearest <= 0.025 + 1e-9, (start, length)
    views = rule.reference_views(decode_image(jpeg(photo("coffee")), max_pixels=MAX_PIXELS))
    crops = [v for v in views if v.view.startswith("crop:")]
    # PDQ and pHash of each (the whole image aside), a value only once: neighbouring crops
    # may share a pHash.
    fill_boxes = {(x, y) for _, x, y in fill_windows()}  # kept under the fill's name
    assert {v.view for v in crops if v.value.algorithm == "pdq"} == {
        f"crop:{round(x[0] * 100)}-{round(y[0] * 100)}-{round(x[1] * 100)}-{round(y[1] * 100)}"
        for x in windows
        for y in windows
        if not x == y == (0.0, 1.0) and (x, y) not in fill_boxes
    }
    assert 0.9 * 675 <= sum(v.value.algorithm == "phash" for v in crops) <= 675
    values = [(v.value.algorithm, v.value.value) for v in views]
    assert len(values) == len(set(values))
    assert "crop:5-0-85-100" in {v.view for v in crops}
    fills = {v.view for v in views if v.view.startswith("fill:")}
    assert fills == {f"fill:{axis}{keep}" for axis in "wh" for keep in range(35, 80, 5)}


def test_regions_are_trimmed_past_a_frame_line_to_the_fitted_photo() -> None:
    from monitor.hashing import regions

    # A region cut a little wide: a line of the frame (with detail: a dotted border) on
    # its edges, then the dark bars of a photo fitted in the frame, then the photo.
    rng = np.random.default_rng(3)
    array = np.full((220, 300), 22.0, dtype=np.float32)
    array[0, :] = array[-1, :] = rng.integers(100, 255, 300)
    array[:, 0] = array[:, -1] = rng.integers(100, 255, 220)
    grey = photo("coffee").convert("L").resize((180, 200))
    array[10:210, 60:240] = np.asarray(grey, dtype=np.float32)
    assert regions._trimmed(array, (0, 0, 300, 220)) == (60, 10, 240, 210)


def test_regions_are_cut_along_gaps_that_rules_cross() -> None:
    from monitor.hashing import regions

    # An app: a busy sidebar (no row of the page is flat), rules running across the gap
    # between the sidebar and the cards (card borders), a photo in a card.
    page = Image.new("L", (240, 160), 240)
    draw = ImageDraw.Draw(page)
    noise = np.random.default_rng(1).integers(0, 255, (160, 44), dtype=np.uint8)
    page.paste(Image.fromarray(noise), (4, 0))
    for y in (12, 40, 60, 70, 150, 155):  # rules from the sidebar's edge across the page
        draw.line((49, y, 239, y), fill=150)
    page.paste(photo("coffee").convert("L").resize((120, 72)), (90, 74))
    array = np.asarray(page, dtype=np.float32)
    found = regions.regions(array)
    assert any(
        all(abs(a - b) <= 2 for a, b in zip(box, (90, 74, 210, 146), strict=True)) for box in found
    )


def test_unusable_hashes_are_never_views(rule: DecisionRule) -> None:
    flat = jpeg(Image.new("RGB", (300, 200), (120, 120, 120)))
    assert all(v.value.algorithm != "pdq" for v in rule.query(flat))
    assert all(v.value.algorithm != "pdq" for v in rule.enrol(flat))


def test_query_hashes_still_works() -> None:
    views = query_hashes(photo("camera"))
    assert views[0].view == "original" and len({v.view for v in views}) >= 8


# --------------------------------------------------------------------------- dihedral


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "rocket"])
def test_dihedral_variants_are_pdqhash_compute_dihedral(name: str) -> None:
    grey = photo(name).convert("L").resize((240, 180))  # fits HASH_SIZE: exact PDQ
    grid = HashInput(grey).project(_PDQ_GRID, _PDQ_GRID)
    variants, quality = pdq_dihedral_from_grid(grid)
    expected, expected_quality = pdqhash.compute_dihedral(np.asarray(grey.convert("RGB")))
    assert quality == expected_quality
    assert len(variants) == len(PDQ_DIHEDRAL) == 8
    for bits, vector in zip(variants, expected, strict=True):
        assert pdq_hex(bits) == np.packbits(vector.astype(np.uint8)).tobytes().hex()
    assert pdq_hex(variants[0]) == ALGORITHMS["pdq"].compute(grey).value


# --------------------------------------------------------------------------- copies match


def _meme(image: Image.Image) -> Image.Image:
    band = image.height // 6
    sheet = Image.new("RGB", (image.width, image.height + 2 * band), (255, 255, 255))
    sheet.paste(image, (0, band))
    draw = ImageDraw.Draw(sheet)
    draw.rectangle((image.width // 4, band // 4, 3 * image.width // 4, 3 * band // 4), fill=0)
    bottom = image.height + band
    draw.rectangle(
        (image.width // 3, bottom + band // 4, 2 * image.width // 3, bottom + 3 * band // 4), fill=0
    )
    return sheet


def _screenshot(image: Image.Image) -> Image.Image:
    shot = Image.new("RGB", (900, 1100), (250, 250, 250))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, 900, 60), fill=(30, 30, 30))
    for line in range(4):
        draw.rectangle((40, 90 + 30 * line, 500, 104 + 30 * line), fill=(80, 80, 80))
    fitted = ImageOps.contain(image, (820, 700))
    shot.paste(fitted, (40, 230))
    for line in range(3):
        draw.rectangle((40, 960 + 30 * line, 600, 974 + 30 * line), fill=(80, 80, 80))
    return shot


def _collage(image: Image.Image, others: list[Image.Image]) -> Image.Image:
    cell = (image.width // 2, image.height // 2)
    gutter = 8
    size = (2 * cell[0] + 3 * gutter, 2 * cell[1] + 3 * gutter)
    sheet = Image.new("RGB", size, (255, 255, 255))
    for index, tile in enumerate([others[0], image, others[1], others[2]]):
        column, row = index % 2, index // 2
        sheet.paste(
            ImageOps.fit(tile, cell),
            (gutter + column * (cell[0] + gutter), gutter + row * (cell[1] + gutter)),
        )
    return sheet


def _turned_on_white(image: Image.Image) -> Image.Image:
    return image.rotate(6, Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))


def _turned_and_cropped(image: Image.Image) -> Image.Image:
    turned = image.rotate(-5, Image.Resampling.BICUBIC)
    w, h = _inscribed(image.width, image.height, np.radians(5))  # the largest upright box
    left, top = (image.width - w) // 2, (image.height - h) // 2
    return turned.crop((left, top, left + w, top + h))


COPIES = {
    "recompressed": lambda im, others: Image.open(io.BytesIO(jpeg(im, 30))),
    "mirrored": lambda im, others: ImageOps.mirror(im),
    "rotated90": lambda im, others: im.transpose(Image.Transpose.ROTATE_90),
    "rotated180": lambda im, others: im.transpose(Image.Transpose.ROTATE_180),
    "padded": lambda im, others: ImageOps.expand(im, (40, 90, 60, 20), fill=(10, 200, 30)),
    "letterboxed": lambda im, others: ImageOps.pad(im, (im.width, im.width * 16 // 9), color=0),
    "mirrored letterbox": lambda im, others: ImageOps.mirror(
        ImageOps.pad(im, (im.width * 2, im.height), color=0)
    ),
    "meme": lambda im, others: _meme(im),
    "screenshot": lambda im, others: _screenshot(im),
    "collage": _collage,
    "turned on white": lambda im, others: _turned_on_white(im),
    "turned and cropped": lambda im, others: _turned_and_cropped(im),
    # Crops keeping 70-90 % of each side, anywhere: pHash of a reference crop view, with
    # PDQ of the same view agreeing.
    "cropped off-centre": lambda im, others: _crop(im, 0.03, 0.21, 0.81, 0.74),
    "cropped to a corner": lambda im, others: _crop(im, 0.28, 0.0, 0.71, 0.72),
    # A square thumbnail of a wide photo (the centre, whole height): a reference fill.
    "square thumbnail": lambda im, others: ImageOps.fit(_wide(im), (300, 300)),
    # A row of three portrait cells, each filled with a photo: a cell against a fill.
    "row of three": lambda im, others: _row_of_three(_wide(im), others),
}


def _wide(image: Image.Image) -> Image.Image:
    """The astronaut is square: the test photos' fills are made on a 16:9 version of it."""
    return image.resize((image.width * 16 // 9, image.height))


def _row_of_three(image: Image.Image, others: list[Image.Image]) -> Image.Image:
    cell, gutter = (200, 260), 6
    sheet = Image.new("RGB", (3 * cell[0] + 4 * gutter, cell[1] + 2 * gutter), (255, 255, 255))
    for index, tile in enumerate([others[0], image, others[1]]):
        sheet.paste(ImageOps.fit(tile, cell), (gutter + index * (cell[0] + gutter), gutter))
    return sheet


def _crop(image: Image.Image, left: float, top: float, width: float, height: float) -> Image.Image:
    x, y = round(left * image.width), round(top * image.height)
    return image.crop((x, y, x + round(width * image.width), y + round(height * image.height)))


@pytest.mark.parametrize("kind", list(COPIES))
def test_copies_match_their_original(
    rule: DecisionRule,
    astronaut: tuple[Image.Image, list[QueryHash]],
    wide_astronaut: list[QueryHash],
    kind: str,
) -> None:
    image, reference = astronaut
    if kind in ("square thumbnail", "row of three"):
        reference = wide_astronaut
    others = [photo(n) for n in ("brick", "coffee", "rocket")]
    query = rule.query(jpeg(COPIES[kind](image, others)))
    assert rule.matches(reference, query), [v.view for v in query]


def test_different_photos_do_not_match(rule: DecisionRule) -> None:
    names = sorted(p.stem for p in PHOTOS.glob("*.jpg"))
    images = {n: photo(n) for n in names}
    refs = [rule.enrol(jpeg(images[n])) for n in names]
    queries = [rule.query(jpeg(images[n])) for n in names]
    queries += [rule.query(jpeg(ImageOps.mirror(images[n]))) for n in names]
    matrix = rule.match_matrix(refs, queries)
    count = len(names)
    expected = np.vstack([np.eye(count, dtype=bool)] * 2)
    assert (matrix == expected).all()
    # The fast path is decide()'s logic.
    slow = np.array([[rule.matches(r, q) for r in refs] for q in queries])
    assert (slow == matrix).all()


# --------------------------------------------------------------------------- decide


def _match(
    algorithm: str,
    distance: int,
    query_view: str = "original",
    reference_view: str = "original",
    entry: int = 1,
    group: object = "g",
) -> ViewMatch:
    return ViewMatch(entry, group, 7, algorithm, distance, query_view, reference_view)


def test_decide_accepts_pdq_within_its_thresholds(rule: DecisionRule) -> None:
    assert rule.decide([_match("pdq", 31)]) == [_match("pdq", 31)]
    assert rule.decide([_match("pdq", 31, "flip_h")]) == [_match("pdq", 31, "flip_h")]
    assert rule.decide([_match("pdq", 32)]) == []
    # Derived views (query regions, reference turns) are held to a stricter distance.
    assert rule.decide([_match("pdq", 31, "region:1")]) == []
    assert rule.decide([_match("pdq", 31, "original", "turn:+5.5")]) == []
    assert rule.decide([_match("pdq", 20, "region:1")]) != []


def test_decide_drops_weak_phash_only_matches(rule: DecisionRule) -> None:
    assert rule.decide([_match("phash", 10, entry=2)]) == []
    assert rule.decide([_match("phash", 4, entry=2)]) == [_match("phash", 4, entry=2)]
    # pHash of a non-plain view never counts.
    assert rule.decide([_match("phash", 0, "trimmed", entry=2)]) == []
    # pHash within 14 counts with PDQ's agreement (plain views, same reference image)...
    confirmed = rule.decide([_match("pdq", 50, entry=1), _match("phash", 12, entry=2)])
    assert confirmed == [_match("phash", 12, entry=2)]
    # ...not from another image, nor from a derived view, nor past 56.
    assert rule.decide([_match("pdq", 50, group="h"), _match("phash", 12, entry=2)]) == []
    assert rule.decide([_match("pdq", 50, "region:1"), _match("phash", 12, entry=2)]) == []
    assert rule.decide([_match("pdq", 65), _match("phash", 12, entry=2)]) == []
    # Algorithms the rule does not look up never count.
    assert rule.decide([_match("pdq", 60), _match("dhash", 0, entry=3)]) == []
    # Imported entries without a group: a pHash is only supported by its own entry.
    alone = [_match("pdq", 50, group=None), _match("phash", 12, entry=2, group=None)]
    assert rule.decide(alone) == []


def test_decide_accepts_reference_crops_only_with_pdq_of_the_same_view(
    rule: DecisionRule,
) -> None:
    crop, other = "crop:5-10-85-95", "crop:10-10-85-95"
    hit = _match("phash", 8, "original", crop, entry=2)
    assert rule.decide([_match("pdq", 80, "original", crop), hit]) == [hit]
    # Not past 8 bits of pHash or 80 of PDQ, not with PDQ of another view or image...
    assert (
        rule.decide(
            [_match("pdq", 80, "original", crop), _match("phash", 9, "original", crop, entry=2)]
        )
        == []
    )
    assert rule.decide([_match("pdq", 81, "original", crop), hit]) == []
    assert rule.decide([_match("pdq", 10, "original", other), hit]) == []
    assert rule.decide([_match("pdq", 50, "original", "original"), hit]) == []
    assert rule.decide([_match("pdq", 10, "original", crop, group="h"), hit]) == []
    # ...nor from a query view other than the plain one.
    assert rule.decide([_match("pdq", 10, "flip_h", crop), hit]) == []
    assert (
        rule.decide(
            [_match("pdq", 10, "original", crop), _match("phash", 2, "trimmed", crop, entry=2)]
        )
        == []
    )
    # PDQ of a crop view never makes a hit on its own, however close.
    assert rule.decide([_match("pdq", 0, "original", crop)]) == []


def test_decide_accepts_boxes_found_in_the_query_by_phash_with_pdq_of_the_same_view(
    rule: DecisionRule,
) -> None:
    for view in ("region:1", "cell:2", "trimmed", "uncaptioned"):
        hit = _match("phash", 8, view, entry=2)
        assert rule.decide([_match("pdq", 80, view), hit]) == [hit], view
        assert rule.decide([_match("pdq", 81, view), hit]) == [], view
        assert rule.decide([_match("pdq", 80, view), _match("phash", 9, view, entry=2)]) == []
        # PDQ of another view of the query does not confirm this one.
        assert rule.decide([_match("pdq", 40, "original"), hit]) == [], view
    # Closer in PDQ, a box may be further in pHash (the photo of a screenshot, cut a little
    # wide): pHash 12 with PDQ 64.
    near = _match("phash", 12, "region:1", entry=2)
    assert rule.decide([_match("pdq", 64, "region:1"), near]) == [near]
    assert rule.decide([_match("pdq", 65, "region:1"), near]) == []
    fill = [_match("pdq", 10, "region:1", "fill:w55"), _match("phash", 12, "region:1", "fill:w55")]
    assert rule.decide(fill) == []
    # A box of the query against a reference fill (a collage's cell): yes.
    fill = "fill:w55"
    hit = _match("phash", 8, "cell:1", fill, entry=2)
    assert rule.decide([_match("pdq", 80, "cell:1", fill), hit]) == [hit]
    # PDQ of a fill, however close, is no hit on its own.
    assert rule.decide([_match("pdq", 0, "cell:1", fill)]) == []
    # A box of the query against a reference crop: never (too many pairs).
    crop = "crop:5-10-85-95"
    assert (
        rule.decide(
            [_match("pdq", 5, "region:1", crop), _match("phash", 0, "region:1", crop, entry=2)]
        )
        == []
    )
    # Views without a pHash of their own (flips, turns) are never paired.
    assert rule.decide([_match("pdq", 40, "flip_h"), _match("phash", 0, "flip_h", entry=2)]) == []


def test_decide_accepts_three_weak_agreements_of_the_plain_views(rule: DecisionRule) -> None:
    dhash = _match("dhash", 14, entry=3)
    triple = [_match("pdq", 80, entry=1), _match("phash", 20, entry=2), dhash]
    assert rule.decide(triple) == [triple[0]]  # the hit is PDQ's, the field's hash
    for index, too_far in ((0, 81), (1, 21), (2, 15)):
        changed = list(triple)
        changed[index] = dataclasses.replace(triple[index], distance=too_far)
        assert rule.decide(changed) == [], index
    # Each agreement between the plain views of the same reference image.
    assert rule.decide([_match("pdq", 10, "flip_h"), triple[1], dhash]) == [
        _match("pdq", 10, "flip_h")
    ]
    assert rule.decide([triple[0], _match("phash", 15, entry=2, group="h"), dhash]) == []
    assert rule.decide([triple[0], triple[1], _match("dhash", 0, "trimmed", entry=3)]) == []
    assert rule.decide([dhash]) == [] and rule.decide([_match("dhash", 0)]) == []


def test_decide_keeps_one_match_per_entry_deterministically(rule: DecisionRule) -> None:
    matches = [
        _match("pdq", 20, "flip_h", entry=1),
        _match("pdq", 8, "trimmed", entry=1),
        _match("pdq", 8, "original", entry=1),
        _match("pdq", 12, entry=3, group="other"),
    ]
    assert rule.decide(matches) == [matches[1], matches[3]]
    assert rule.decide(matches) == rule.decide(list(matches))
    assert rule.decide([]) == []


def test_fast_path_agrees_with_decide_on_random_hashes(rule: DecisionRule) -> None:
    rng = np.random.default_rng(5)
    base_pdq = rng.integers(0, 2, 256).astype(bool)
    base_phash = rng.integers(0, 2, 64).astype(bool)

    def near(bits: np.ndarray, flips: int) -> str:
        bits = bits.copy()
        bits[rng.choice(len(bits), flips, replace=False)] ^= True
        return np.packbits(bits).tobytes().hex()

    def pdq(view: str) -> QueryHash:
        return QueryHash(HashValue("pdq", near(base_pdq, int(rng.integers(0, 70))), 100), view)

    def phash(view: str) -> QueryHash:
        return QueryHash(HashValue("phash", near(base_phash, int(rng.integers(0, 20)))), view)

    views = ["original", "flip_h", "trimmed", "region:1", "unturned", "cell:1"]
    refs, queries = [], []
    for _ in range(12):
        crops = [
            f(view)
            for view in ("crop:0-0-80-80", "crop:5-10-85-95", "fill:w55")
            for f in (pdq, phash)
        ]
        refs.append([pdq("original"), phash("original"), pdq("turn:+5.5"), *crops])
        queries.append([pdq(v) for v in views] + [phash(v) for v in views if v != "unturned"])
    matrix = rule.match_matrix(refs, queries)
    slow = np.array([[rule.matches(r, q) for r in refs] for q in queries])
    assert (matrix == slow).all()
    assert 0 < matrix.sum() < matrix.size


@pytest.mark.parametrize("size", [(1, 1), (1, 40), (40, 1), (2, 3)])
def test_a_sliver_of_an_image_is_enrolled_without_turns(
    rule: DecisionRule, size: tuple[int, int]
) -> None:
    # No upright box survives a turn of a 1-px-wide image: its turns are left out (they
    # raised IndexError, and `monitor hashes add` stopped at such a file).
    data = io.BytesIO()
    Image.new("L", size, 90).save(data, "PNG")
    views = rule.reference_views(decode_image(data.getvalue(), max_pixels=10**6))
    assert [v.view for v in views if v.view.startswith("turn:")] == []
    assert {v.value.algorithm for v in views} >= {"phash", "dhash"}
