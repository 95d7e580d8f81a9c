"""The decision rule: which hashes are stored for a reference image, which hashes a crawled
image is looked up with, and which of the matches the index returns are hits.

Status: measured by benchmarks/robustness.py (``DecisionRule`` is its ``rule`` matcher).

One global hash misses most republished copies: a mirrored, rotated, letterboxed or
cropped copy, a meme, a screenshot or a collage hashes far from its original. The rule
adds views on both sides:

- reference side (``reference_views``, once per enrolled image, about 0.2 s): the plain
  PDQ, pHash and dHash; PDQ of the image turned by +-3.75, 5.5 and 7.25 degrees and
  cropped to its largest upright box (``REFERENCE_TURNS``); PDQ and pHash of 675 crops
  keeping 70-90 % of each side (``crop_windows``: a copy cropped anywhere lands within a
  few pHash bits of the nearest) and of 18 fills, the centre keeping 35-75 % of the width
  or the height (``fill_windows``: a square thumbnail, a collage's cell of another shape).
  Imported hash lists have the plain hashes only.
- query side (``query_views``, every crawled image): the plain PDQ, pHash and dHash; PDQ of
  the seven other dihedral transforms (mirrors, quarter turns: the flips are applied to the
  projection operators, so a mirrored copy hashes within a few bits); boxes found in the
  image, each with PDQ and pHash: the image with uniform borders trimmed (padding,
  letterboxes; PDQ of its dihedral transforms too), the image without the caption bands of
  a meme, the large rectangles that flat lines separate (the photo in a screenshot,
  ``regions.regions``), the cells of a grid with bright gutters (a collage); and PDQ of a
  photo turned by a few degrees and shown whole on a flat background, turned back. Boxes
  are found on the block-averaged pixels (``coarse``); PDQ is hashed on the decoded pixels
  (PDQ moves 15-30 bits when hashed at 200 px instead), pHash (low frequencies only) on the
  block averages.

``decide`` keeps the matches that are hits (see its docstring): PDQ alone within 31 between
plain views, 28 when either side is derived (never a reference crop or fill); pHash alone
within 8 between the plain views; a pHash match confirmed by PDQ of the same two views
(``pair_pdq_limit``: 14 and 64 between the plain views, 8 and 80 between a reference crop or
fill and the plain query, or between a box found in the query and the reference's plain
view or fill, 12 and 64 between a box and the plain view); and three weak agreements of the plain views (dHash 14, pHash 20, PDQ 80).
``thresholds`` are the distances within which every match ``decide`` may need lies; the
crawler (``monitor.detection``) asks its index only at the distances that can start a hit
(PDQ 31, pHash 14, dHash 14) and checks the confirming agreements on the one reference
image concerned (``MatchIndex.distance_to``), which gives the same hits at a fraction of
the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fftpack
import scipy.sparse
from PIL import Image

from monitor.hashing import regions
from monitor.hashing.algorithms import (
    _PDQ_GRID,
    pdq_from_grid,
    pdq_hex,
)
from monitor.hashing.base import HashValue
from monitor.hashing.decode import DecodedImage, decode_image
from monitor.hashing.registry import ALGORITHMS
from monitor.hashing.resample import HashInput, _composed, pillow_matrix

#: Decoding limit for ``enrol``/``query`` (the benchmark's entry points).
MAX_PIXELS = 200_000_000

#: Distances at which the index is queried (every match ``decide`` can accept is within:
#: PDQ_CROP_CONFIRM and PDQ_TRIPLE, PHASH_TRIPLE, DHASH_TRIPLE).
PDQ_LOOKUP = 80
PHASH_LOOKUP = 20
DHASH_LOOKUP = 14

#: PDQ distance accepted between two plain or dihedral/trimmed views.
PDQ_PLAIN = 31
#: PDQ distance accepted when one side is a derived view (a reference crop or turn, a
#: query region): more views, more chances of a false match, so a little stricter.
PDQ_DERIVED = 28
#: pHash distance accepted between the plain views when PDQ's plain views of the same
#: reference image agree within PDQ_CONFIRM: two weak agreements make a hit (stickers,
#: watermarks, captions move both hashes, unrelated photos are far on both)...
PHASH_CONFIRMED = 14
PDQ_CONFIRM = 64
#: ...and without PDQ's agreement (imported pHash-only lists, PDQ unusable, or a small
#: crop that moves PDQ by 70+ bits but pHash by 8). At 8, benchmarks/robustness.py
#: still sees no false match among its 4.3 million copy pairs (pHash alone at 10 has 2).
PHASH_ALONE = 8
#: Three weak agreements of the plain views make a hit: dHash within DHASH_TRIPLE, pHash
#: within PHASH_TRIPLE and PDQ within PDQ_TRIPLE of the same reference image (stickers
#: over part of a photo move each hash a little and unrelated photos are far on at least
#: one). Measured on 200 photos of benchmarks/robustness.py: stickered copies found
#: 89.5 -> 96.5 %, no false match among 875,600 distinct pairs.
DHASH_TRIPLE = 14
PHASH_TRIPLE = 20
PDQ_TRIPLE = 80

#: Reference crops. PDQ does not survive crops of 10-30 % per side (a crop lands 80-130 bits
#: from the plain hash and from any fixed crop), pHash does better: a copy cropped to
#: 70-90 % of each side, anywhere, is within 8 bits of the pHash of the nearest of the
#: reference windows whose edges lie on a lattice of CROP_STEP (of each side) and that keep
#: CROP_KEEP of each side (26 windows per axis, 675 crops with the whole image), and PDQ
#: of that same window is within 80. pHash of the plain query against those crop views,
#: confirmed by PDQ of the same window, makes a hit (``decide``). Measured on 150 photos
#: of benchmarks/robustness.py: lattice steps of 0.05 / 0.075 / 0.1 find 98.7 / 86 / 48 %
#: of the crops, none of 134,100 distinct pairs.
CROP_STEP = 0.05
CROP_KEEP = (0.7, 0.9)
#: pHash distance (of 64 bits) between the plain query and a reference crop view...
PHASH_CROP = 8
#: ...when PDQ's distance between the two is within this.
PDQ_CROP_CONFIRM = 80
#: pHash distance between a box found in the query (a screenshot's photo, not cut quite
#: to its edges) and the reference's plain view when PDQ agrees within PDQ_CONFIRM.
PHASH_BOX = 12
CROP_PREFIX = "crop:"
#: Reference fills: the centre of the image keeping FILL_KEEP of its width (whole height)
#: or of its height (whole width), in steps of FILL_STEP: what a gallery, a feed's square
#: thumbnail or a collage's cell of another shape shows of a photo ("cover"). Matched like
#: crops, from the plain query and from the boxes found in it (a collage's cells).
FILL_KEEP = (0.35, 0.75)
FILL_STEP = 0.05
FILL_PREFIX = "fill:"


def crop_windows(
    step: float = CROP_STEP, keep: tuple[float, float] = CROP_KEEP
) -> tuple[tuple[float, float], ...]:
    """The (start, end) fractions of one side that reference crops keep: every pair on a
    lattice of ``step`` whose length is within ``keep`` (half a step of slack either way),
    and the whole side."""
    low, high = keep
    count = int(round((1 - low) / step))
    found = {(0.0, 1.0)}
    for i in range(count + 1):
        for j in range(count + 1):
            start, end = round(i * step, 6), round(1 - j * step, 6)
            if low - step / 2 <= end - start <= high + step / 2:
                found.add((start, end))
    return tuple(sorted(found))


_CROP_WINDOWS = crop_windows()


def fill_windows() -> tuple[tuple[str, tuple[float, float], tuple[float, float]], ...]:
    """The reference fills: (view name, (left, right), (top, bottom)) fractions."""
    low, high = FILL_KEEP
    found = []
    for step in range(int(round((high - low) / FILL_STEP)) + 1):
        keep = round(low + step * FILL_STEP, 6)
        middle = (round((1 - keep) / 2, 6), round((1 + keep) / 2, 6))
        percent = round(keep * 100)
        found.append((f"{FILL_PREFIX}w{percent}", middle, (0.0, 1.0)))
        found.append((f"{FILL_PREFIX}h{percent}", (0.0, 1.0), middle))
    return tuple(found)


def crop_view(x: tuple[float, float], y: tuple[float, float]) -> str:
    """The view name of a reference crop: its left, top, right and bottom in % of the image."""
    return CROP_PREFIX + "-".join(str(round(v * 100)) for v in (x[0], y[0], x[1], y[1]))


#: Reference turns (degrees, counter-clockwise), each cropped to its largest upright box.
REFERENCE_TURNS: tuple[float, ...] = (-7.25, -5.5, -3.75, 3.75, 5.5, 7.25)

#: Query views whose PDQ is compared at PDQ_PLAIN: the image itself, flipped or turned by
#: quarter turns, trimmed (and its flips): the first part of the view's name is one of these.
_PLAIN_QUERY = frozenset(
    (
        "original",
        "trimmed",
        "flip_h",
        "flip_v",
        "rot180",
        "transpose",
        "rot90",
        "rot270",
        "transverse",
    )
)
#: Query views that have a pHash too (besides PDQ): the plain image and the boxes found in
#: it (the first part of the view's name).
_PHASH_QUERY = frozenset(("original", "trimmed", "uncaptioned", "region", "cell"))


@dataclass(frozen=True)
class QueryHash:
    value: HashValue
    view: str  # "original", "flip_h", "rot90", "trimmed", "trimmed/flip_h", "region:1", ...


@dataclass(frozen=True)
class ViewMatch:
    entry_id: int  # the reference hash entry that matched
    group: object  # the reference image the entry belongs to (None: the entry alone)
    case_id: int
    algorithm: str
    distance: int
    query_view: str
    reference_view: str  # "original" for imported lists


# --------------------------------------------------------------------------- hashing views


@lru_cache(maxsize=4096)
def _grid_matrix(n: int) -> scipy.sparse.csr_matrix:
    """(64 x n) float32: ``pdq_matrix(64, n)`` (PDQ's two box-filter passes and decimation),
    sparse (a few taps per row: cheap to build for every region size, and to apply)."""
    window = (n + 127) // 128
    half = (window + 2) // 2
    before, after = window - half, half - 1
    index = np.arange(n)
    low = np.maximum(0, index - before)
    high = np.minimum(n - 1, index + after)
    counts = high - low + 1
    rows = np.repeat(index, counts)
    starts = np.cumsum(counts) - counts
    columns = np.repeat(low, counts) + np.arange(counts.sum()) - np.repeat(starts, counts)
    values = np.repeat(1.0 / counts, counts)
    box = scipy.sparse.csr_matrix((values, (rows, columns)), shape=(n, n))
    kept = ((np.arange(64) + 0.5) * n / 64).astype(np.int64)
    return scipy.sparse.csr_matrix((box[kept] @ box).astype(np.float32))


def _box_grid(array: np.ndarray, box: regions.Box) -> np.ndarray:
    """PDQ's 64x64 downsample of ``array[box]`` (its tent filter and decimation)."""
    left, top, right, bottom = box
    piece = array[top:bottom, left:right]
    partial = _grid_matrix(piece.shape[0]) @ piece  # (64 x width)
    return np.asarray(_grid_matrix(piece.shape[1]) @ partial.T).T


def _crop_views(array: np.ndarray) -> list[QueryHash]:
    """PDQ and pHash of every reference crop (``crop_windows`` on both axes, but the whole
    image) and fill (``fill_windows``): PDQ's grid and imagehash's pHash (Lanczos to 32x32)
    of each, with the rows of each distinct window filtered once."""
    height, width = array.shape
    if min(height, width) < 20:
        return []
    # Fills first: a crop that is also a fill (the centre keeping 70 % of a side) is kept
    # under the fill's name (matched in more pairs), not twice.
    windows = list(fill_windows())
    windows += [
        (crop_view(x, y), x, y)
        for x in _CROP_WINDOWS
        for y in _CROP_WINDOWS
        if not x == y == (0.0, 1.0)  # the plain view
    ]
    pixels = array.astype(np.float64, copy=False)
    rows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    hashes: list[QueryHash] = []
    for view, x, y in windows:
        left, right = round(x[0] * width), round(x[1] * width)
        top, bottom = round(y[0] * height), round(y[1] * height)
        filtered = rows.get((top, bottom))
        if filtered is None:
            band = pixels[top:bottom]
            filtered = rows[top, bottom] = (
                _grid_matrix(bottom - top) @ band,
                pillow_matrix("lanczos", 32, bottom - top) @ band,
            )
        grid = np.asarray(_grid_matrix(right - left) @ filtered[0][:, left:right].T).T
        bits, quality = pdq_from_grid(grid)
        hashes.append(QueryHash(_pdq(bits, quality), view))
        columns = pillow_matrix("lanczos", 32, right - left).T
        small = np.clip(np.floor(filtered[1][:, left:right] @ columns + 0.5), 0, 255)
        hashes.append(QueryHash(_phash_of(small), view))
    return hashes


def _box_views(
    pixels: np.ndarray, work: np.ndarray, box: regions.Box, factor: int, view: str
) -> list[QueryHash]:
    """PDQ of a box found on the block averages (``work``), hashed on the decoded pixels,
    and its pHash, hashed on the block averages (pHash keeps low frequencies only)."""
    bits, quality = pdq_from_grid(_box_grid(pixels, _scale(box, factor, pixels)))
    return [QueryHash(_pdq(bits, quality), view), QueryHash(_box_phash(work, box), view)]


def _box_phash(array: np.ndarray, box: regions.Box) -> HashValue:
    """imagehash's pHash (Lanczos to 32x32, DCT, 8x8 above the median) of ``array[box]``."""
    left, top, right, bottom = box
    piece = array[top:bottom, left:right].astype(np.float64)
    rows = pillow_matrix("lanczos", 32, piece.shape[0])
    columns = pillow_matrix("lanczos", 32, piece.shape[1])
    return _phash_of(np.clip(np.floor(rows @ piece @ columns.T + 0.5), 0, 255))


def _phash_of(pixels: np.ndarray) -> HashValue:
    """imagehash's pHash of 32x32 pixels (DCT, the 8x8 lowest frequencies above their median)."""
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:8, :8]
    return HashValue("phash", np.packbits((dct > np.median(dct)).ravel()).tobytes().hex())


def _pdq(bits: np.ndarray, quality: int) -> HashValue:
    return HashValue("pdq", pdq_hex(bits), quality)


#: The dihedral views of a query: (name, flip rows, flip columns, transpose), each the
#: transform that brings the query back to its original (the query turned by 90 degrees
#: counter-clockwise, as ``Image.Transpose.ROTATE_90``, is brought back by "rot270").
DIHEDRAL = (
    ("", False, False, False),
    ("flip_h", False, True, False),
    ("flip_v", True, False, False),
    ("rot180", True, True, False),
    ("transpose", False, False, True),
    ("rot90", False, True, True),
    ("rot270", True, False, True),
    ("transverse", True, True, True),
)


def _dihedral(
    rows: scipy.sparse.csr_matrix,
    columns: scipy.sparse.csr_matrix,
    pixels: np.ndarray,
    prefix: str,
) -> list[QueryHash]:
    """PDQ of the eight dihedral transforms of ``rows @ pixels @ columns.T`` (the first is
    that grid's own hash): the flips are applied to the pixels (reversed operators), not
    to the DCT's signs, because PDQ's sampling is not symmetric and a flipped copy hashes
    a few bits closer this way (compare ``pdq_dihedral_from_grid``)."""
    partial = {False: rows @ pixels, True: _reversed(rows) @ pixels}
    grids = {}
    for flip_rows in (False, True):
        for flip_columns in (False, True):
            operator = _reversed(columns) if flip_columns else columns
            grids[flip_rows, flip_columns] = np.asarray(operator @ partial[flip_rows].T).T
    hashes = []
    for name, flip_rows, flip_columns, transpose in DIHEDRAL:
        grid = grids[flip_rows, flip_columns]
        bits, quality = pdq_from_grid(grid.T if transpose else grid)
        view = prefix if not name else name if prefix == "original" else f"{prefix}/{name}"
        hashes.append(QueryHash(_pdq(bits, quality), view))
    return hashes


_REVERSED: dict[int, tuple[scipy.sparse.csr_matrix, scipy.sparse.csr_matrix]] = {}


def _reversed(matrix: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    """``matrix`` with its columns in reverse order (cached: operators are cached too)."""
    cached = _REVERSED.get(id(matrix))
    if cached is not None and cached[0] is matrix:
        return cached[1]
    reversed_ = scipy.sparse.csr_matrix(matrix[:, ::-1])
    if len(_REVERSED) > 4096:
        _REVERSED.clear()
    _REVERSED[id(matrix)] = (matrix, reversed_)
    return reversed_


def _work(image: HashInput) -> tuple[np.ndarray, int]:
    """The small array regions are looked for in: the decoded pixels averaged by blocks to
    128-255 px on the shorter side (``HashInput.coarse``, which pHash already needs), and
    the block size. The views are hashed on the decoded pixels themselves (PDQ is
    sensitive to resolution: hashing a 200 px version moves 15-30 bits)."""
    return image.coarse


def _scale(box: regions.Box, factor: int, pixels: np.ndarray) -> regions.Box:
    """A box found on the block averages, on the decoded pixels: scaled, then each edge
    moved past the flat lines (of the colour just outside it) within a block of it."""
    height, width = pixels.shape
    left, top, right, bottom = box
    left, top = left * factor, top * factor
    right, bottom = min(width, right * factor), min(height, bottom * factor)
    if factor == 1:
        return left, top, right, bottom
    span = 2 * factor
    above, before = max(0, top - factor), max(0, left - factor)
    below, after = min(height, bottom + factor), min(width, right + factor)
    top += _flat_lead(pixels[above : top + span, left:right], top - above)
    bottom -= _flat_lead(pixels[max(top, bottom - span) : below, left:right][::-1], below - bottom)
    left += _flat_lead(pixels[top:bottom, before : left + span].T, left - before)
    right -= _flat_lead(pixels[top:bottom, max(left, right - span) : after].T[::-1], after - right)
    return left, top, right, bottom


def _flat_lead(rows: np.ndarray, outside: int) -> int:
    """How many rows after the first ``outside`` ones are flat and of the colour of the first
    row (the line just outside the box), at most the rows given minus ``outside``."""
    if rows.shape[0] <= outside + 1 or rows.shape[1] == 0:
        return 0
    colour = float(np.median(rows[0]))
    flat = (rows.std(axis=1) <= regions.BORDER_STD) & (
        np.abs(rows.mean(axis=1) - colour) <= regions.BORDER_STD
    )
    inside = flat[outside:]
    if not flat[:outside].all() if outside else not flat[0]:
        return 0
    count = len(inside) if inside.all() else int(np.argmin(inside))
    return min(count, len(inside) - 1)


def _inscribed(width: int, height: int, angle: float) -> tuple[int, int]:
    """Largest axis-aligned rectangle inside a width x height one turned by ``angle`` (rad)."""
    long_side, short_side = max(width, height), min(width, height)
    sin, cos = abs(np.sin(angle)), abs(np.cos(angle))
    if short_side <= 2 * sin * cos * long_side:
        x = 0.5 * short_side
        w, h = (x / sin, x / cos) if width >= height else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        w, h = (width * cos - height * sin) / cos2, (height * cos - width * sin) / cos2
    return int(w), int(h)


def _turn(array: np.ndarray, angle: float, expand: bool = False) -> np.ndarray:
    image = Image.fromarray(array.astype(np.float32), mode="F")
    return np.asarray(image.rotate(angle, Image.Resampling.BILINEAR, expand=expand))


def _unturned_grid(
    pixels: np.ndarray, angle: float, box: regions.Box, nominal: tuple[int, int]
) -> np.ndarray:
    """PDQ's grid of ``box`` of ``pixels`` turned by ``angle``. Turning costs about 10 ms
    a megapixel, so pixels larger than twice the nominal size (the image every hash is
    defined on, at most 512 px) are first averaged by blocks down to it or a little more."""
    height, width = pixels.shape
    k = max(1, min(width // max(1, nominal[0]), height // max(1, nominal[1])))
    if k >= 2:
        h, w = height // k * k, width // k * k
        pixels = pixels[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))
        left, top, right, bottom = box
        box = (left // k, top // k, min(w // k, -(-right // k)), min(h // k, -(-bottom // k)))
    return _box_grid(_turn(pixels, angle), box)


# --------------------------------------------------------------------------- the rule


class DecisionRule:
    """The project's decision rule (see the module docstring)."""

    name = "rule"
    #: Bump on any change to the views: crawled images hashed by another version of the
    #: rule are hashed again (``images.views_version``), not matched with stale views.
    version = 2

    def __init__(self) -> None:
        self.thresholds: dict[str, int] = {
            "pdq": PDQ_LOOKUP,
            "phash": PHASH_LOOKUP,
            "dhash": DHASH_LOOKUP,
        }
        self._phash = ALGORITHMS["phash"]
        self._dhash = ALGORITHMS["dhash"]

    # ------------------------------------------------------------------ views

    def _plain(self, image: HashInput) -> list[QueryHash]:
        grid = image.project(_PDQ_GRID, _PDQ_GRID)
        bits, quality = pdq_from_grid(grid)
        return [
            QueryHash(_pdq(bits, quality), "original"),
            QueryHash(self._phash.compute(image), "original"),
            QueryHash(self._dhash.compute(image), "original"),
        ]

    def reference_views(self, decoded: DecodedImage) -> list[QueryHash]:
        """Every hash to store for an enrolled reference image: the plain PDQ and pHash
        (view "original") first, then PDQ of a few turns of the image, then PDQ and pHash
        of its crops (``crop_windows``: about 0.1 s an image)."""
        image = decoded.input
        hashes = self._plain(image)
        work = image.array
        height, width = work.shape
        for angle in REFERENCE_TURNS:
            turned = _turn(work, angle)
            w, h = _inscribed(width, height, np.radians(abs(angle)))
            if w < 1 or h < 1:  # a sliver (1 px wide): no upright box survives the turn
                continue
            left, top = (width - w) // 2, (height - h) // 2
            bits, quality = pdq_from_grid(_box_grid(turned, (left, top, left + w, top + h)))
            hashes.append(QueryHash(_pdq(bits, quality), f"turn:{angle:+g}"))
        hashes.extend(_crop_views(work))
        # One entry per distinct hash (a case stores each value once): the first view of a
        # value keeps it (neighbouring crops often share a pHash).
        seen: set[tuple[str, str]] = set()
        unique = []
        for h in hashes:
            key = (h.value.algorithm, h.value.value)
            if key not in seen and self._usable(h.value):
                seen.add(key)
                unique.append(h)
        return unique

    def query_views(self, decoded: DecodedImage) -> list[QueryHash]:
        """Every hash to look up for a crawled image: the plain PDQ and pHash (view
        "original") first, PDQ's other dihedral variants, then the trimmed image (PDQ's
        eight variants and pHash), the image without caption bands, the regions and the
        cells of a grid (PDQ and pHash) and a turned-back photo (PDQ)."""
        image = decoded.input
        hashes = self._plain(image)
        width, height = image.size
        rows = _composed(_PDQ_GRID, height, image.pixels.height)
        columns = _composed(_PDQ_GRID, width, image.pixels.width)
        hashes.extend(_dihedral(rows, columns, image.array, "original")[1:])
        work, factor = _work(image)
        pixels = image.array
        box = regions.trim_box(work)
        if box is not None:
            left, top, right, bottom = _scale(box, factor, pixels)
            hashes.extend(
                _dihedral(
                    _grid_matrix(bottom - top),
                    _grid_matrix(right - left),
                    pixels[top:bottom, left:right],
                    "trimmed",
                )
            )
            hashes.append(QueryHash(_box_phash(work, box), "trimmed"))
        caption = regions.caption_box(work)
        if caption is not None:
            if box is None or not _same_box(caption, box):
                hashes.extend(_box_views(pixels, work, caption, factor, "uncaptioned"))
        for index, region in enumerate(regions.regions(work), 1):
            if box is not None and _same_box(region, box):
                continue
            hashes.extend(_box_views(pixels, work, region, factor, f"region:{index}"))
        for index, cell in enumerate(regions.grid_cells(pixels), 1):
            left, top, right, bottom = cell
            coarse = (left // factor, top // factor, -(-right // factor), -(-bottom // factor))
            bits, quality = pdq_from_grid(_box_grid(pixels, cell))
            hashes.append(QueryHash(_pdq(bits, quality), f"cell:{index}"))
            hashes.append(QueryHash(_box_phash(work, coarse), f"cell:{index}"))
        turned = regions.fill_rotation(work)
        if turned is not None:
            angle, inner = turned
            grid = _unturned_grid(pixels, -angle, _scale(inner, factor, pixels), image.size)
            bits, quality = pdq_from_grid(grid)
            hashes.append(QueryHash(_pdq(bits, quality), "unturned"))
        return [h for h in hashes if self._usable(h.value)]

    def _usable(self, value: HashValue) -> bool:
        return ALGORITHMS[value.algorithm].usable(value)

    # ------------------------------------------------------------------ decision

    @staticmethod
    def accepts(match: ViewMatch) -> bool:
        """Whether one match is a hit on its own (a reference crop or fill never is)."""
        if match.algorithm == "pdq":
            if _paired_only(match.reference_view):
                return False
            plain = _plain_query(match.query_view) and match.reference_view == "original"
            return match.distance <= (PDQ_PLAIN if plain else PDQ_DERIVED)
        if match.algorithm == "phash":
            return plain_pair(match) and match.distance <= PHASH_ALONE
        return False  # other algorithms (not looked up by this rule) never

    def decide(self, matches: Sequence[ViewMatch]) -> list[ViewMatch]:
        """The hits among every match the index returned for one crawled image.

        A match is a hit when (``accepts``) it is a PDQ match within PDQ_PLAIN (31) between
        plain views (the query's plain, dihedral or trimmed views against the reference's
        plain hash) or within PDQ_DERIVED (28) when either side is a derived view (not a
        reference crop); or a pHash match between plain views within PHASH_ALONE (8).
        A pHash match is also a hit when PDQ of the same two views of the same reference
        image (``group``; the entry itself when None, so an imported pHash alone never gets
        PDQ's support) agrees within the pair's limit (``pair_pdq_limit``): pHash 14 and
        PDQ 64 between the plain views; pHash 8 and PDQ 80 between the query's plain view
        and a reference crop or fill, or a box found in the query (trimmed, uncaptioned, a
        region, a cell) and the reference's plain view or a fill; pHash 12 and PDQ 64
        between a box and the reference's plain view. And a PDQ match between the plain
        views within PDQ_TRIPLE (80) is a hit when pHash and dHash of the plain views of
        the same reference image agree within PHASH_TRIPLE (20) and DHASH_TRIPLE (14).

        Returns, for every reference entry with a hit, its hit of smallest distance
        (ties: the first in ``matches``), in the order of ``matches``.
        """
        pdq: dict[tuple[object, str, str], int] = {}
        plain: dict[tuple[object, str], int] = {}  # (group, algorithm): between plain views
        for match in matches:
            if match.algorithm == "pdq":
                key = (_group(match), match.query_view, match.reference_view)
                pdq[key] = min(match.distance, pdq.get(key, match.distance))
            if plain_pair(match):
                pair = (_group(match), match.algorithm)
                plain[pair] = min(match.distance, plain.get(pair, match.distance))
        best: dict[int, ViewMatch] = {}
        order: dict[int, int] = {}
        for index, match in enumerate(matches):
            hit = self.accepts(match)
            if not hit and match.algorithm == "phash":
                limit = pair_pdq_limit(match.query_view, match.reference_view, match.distance)
                agreed = pdq.get((_group(match), match.query_view, match.reference_view))
                hit = limit is not None and agreed is not None and agreed <= limit
            if not hit and match.algorithm == "pdq" and plain_pair(match):
                group = _group(match)
                hit = (
                    match.distance <= PDQ_TRIPLE
                    and plain.get((group, "phash"), PHASH_TRIPLE + 1) <= PHASH_TRIPLE
                    and plain.get((group, "dhash"), DHASH_TRIPLE + 1) <= DHASH_TRIPLE
                )
            if not hit:
                continue
            current = best.get(match.entry_id)
            if current is None or match.distance < current.distance:
                best[match.entry_id] = match
                order.setdefault(match.entry_id, index)
        return [best[entry] for entry in sorted(best, key=order.__getitem__)]

    # ------------------------------------------------------------------ benchmark entry points

    def enrol(self, data: bytes) -> list[QueryHash]:
        return self.reference_views(decode_image(data, max_pixels=MAX_PIXELS))

    def query(self, data: bytes) -> list[QueryHash]:
        return self.query_views(decode_image(data, max_pixels=MAX_PIXELS))

    def candidates(self, ref: Sequence[QueryHash], query: Sequence[QueryHash]) -> list[ViewMatch]:
        """What an index holding ``ref`` (one reference image, one entry per view) returns
        for ``query``: every pair of the same algorithm within ``thresholds``."""
        found = []
        for entry_id, reference in enumerate(ref):
            algorithm = reference.value.algorithm
            limit = self.thresholds.get(algorithm)
            if limit is None:
                continue
            for item in query:
                if item.value.algorithm != algorithm:
                    continue
                distance = ALGORITHMS[algorithm].distance(reference.value.value, item.value.value)
                if distance <= limit:
                    found.append(
                        ViewMatch(entry_id, 0, 0, algorithm, distance, item.view, reference.view)
                    )
        return found

    def matches(self, ref: Sequence[QueryHash], query: Sequence[QueryHash]) -> bool:
        return bool(self.decide(self.candidates(ref, query)))

    def match_matrix(
        self, refs: Sequence[Sequence[QueryHash]], queries: Sequence[Sequence[QueryHash]]
    ) -> np.ndarray:
        """``matches(refs[j], queries[i])`` for every i and j, as a bool array [i, j]:
        ``decide``'s logic on packed hashes (tests/test_rule.py checks they agree)."""
        n_q, n_r = len(queries), len(refs)
        alone = np.zeros((n_q, n_r), dtype=bool)
        for algorithm in ("pdq", "phash"):
            q_bits, q_owner, q_plain = _pack(queries, algorithm, query_side=True)
            r_bits, r_owner, r_plain = _pack(refs, algorithm, query_side=False)
            if not len(q_bits) or not len(r_bits):
                continue
            for start in range(0, len(q_bits), 512):
                stop = min(start + 512, len(q_bits))
                xor = q_bits[start:stop, None, :] ^ r_bits[None, :, :]
                distance = np.bitwise_count(xor).sum(axis=2, dtype=np.uint16)
                plain = q_plain[start:stop, None] & r_plain[None, :]
                owners = q_owner[start:stop]
                if algorithm == "pdq":
                    hit = distance <= np.where(plain, PDQ_PLAIN, PDQ_DERIVED)
                else:
                    hit = plain & (distance <= PHASH_ALONE)
                _scatter(alone, owners, r_owner, hit)
        _pairs_matrix(alone, refs, queries)
        _triple_matrix(alone, refs, queries)
        return alone


def _triple_matrix(
    result: np.ndarray, refs: Sequence[Sequence[QueryHash]], queries: Sequence[Sequence[QueryHash]]
) -> None:
    """Sets ``result[i, j]`` where the plain views of ``queries[i]`` and ``refs[j]`` agree
    in dHash, pHash and PDQ within DHASH_TRIPLE, PHASH_TRIPLE and PDQ_TRIPLE."""
    limits = (("dhash", DHASH_TRIPLE), ("phash", PHASH_TRIPLE), ("pdq", PDQ_TRIPLE))
    q_plain = {name: _plain_bits(queries, name) for name, _ in limits}
    r_plain = {name: _plain_bits(refs, name) for name, _ in limits}
    for start in range(0, len(queries), 1024):
        agreed = np.ones((min(1024, len(queries) - start), len(refs)), dtype=bool)
        for name, limit in limits:
            q_bits, q_known = q_plain[name]
            r_bits, r_known = r_plain[name]
            xor = q_bits[start : start + 1024, None, :] ^ r_bits[None, :, :]
            near = np.bitwise_count(xor).sum(axis=2, dtype=np.uint16) <= limit
            agreed &= near & q_known[start : start + 1024, None] & r_known[None, :]
        result[start : start + len(agreed)] |= agreed


def _plain_bits(
    items: Sequence[Sequence[QueryHash]], algorithm: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's plain hash of ``algorithm`` as bytes (zeros if none) and whether it has one."""
    size = ALGORITHMS[algorithm].bits // 8
    bits = np.zeros((len(items), size), dtype=np.uint8)
    known = np.zeros(len(items), dtype=bool)
    for index, hashes in enumerate(items):
        for h in hashes:
            if h.view == "original" and h.value.algorithm == algorithm:
                bits[index] = np.frombuffer(bytes.fromhex(h.value.value), np.uint8)
                known[index] = True
                break
    return bits, known


def _pairs_matrix(
    result: np.ndarray, refs: Sequence[Sequence[QueryHash]], queries: Sequence[Sequence[QueryHash]]
) -> None:
    """Sets ``result[i, j]`` where a view of ``queries[i]`` and a view of ``refs[j]`` agree
    in pHash and in PDQ within the pair's limits (``pair_pdq_limit``)."""
    q_phash, q_pdq, q_owner, q_kind = _paired(queries, _query_kind)
    r_phash, r_pdq, r_owner, r_kind = _paired(refs, _reference_kind)
    if not len(q_phash) or not len(r_phash):
        return
    kinds = {"original": 0, "box": 1, "crop": 2, "fill": 3}
    widest = max(PHASH_CONFIRMED, PHASH_CROP)
    for start in range(0, len(q_phash), 64):
        distance = np.bitwise_count(q_phash[start : start + 64, None] ^ r_phash[None, :])
        rows, columns = np.nonzero(distance <= widest)
        near = distance[rows, columns]
        rows += start
        query, reference = q_kind[rows], r_kind[columns]
        plain = (query == kinds["original"]) & (reference == kinds["original"])
        never = (query == kinds["box"]) & (reference == kinds["crop"])
        box = (query == kinds["box"]) & (reference == kinds["original"])
        # pair_pdq_limit, vectorised (-1: no limit).
        limit = np.where(
            plain,
            np.where(near <= PHASH_CONFIRMED, PDQ_CONFIRM, -1),
            np.where(
                never,
                -1,
                np.where(
                    near <= PHASH_CROP,
                    PDQ_CROP_CONFIRM,
                    np.where(box & (near <= PHASH_BOX), PDQ_CONFIRM, -1),
                ),
            ),
        )
        pdq = np.bitwise_count(q_pdq[rows] ^ r_pdq[columns]).sum(axis=1)
        agreed = pdq <= limit
        result[q_owner[rows[agreed]], r_owner[columns[agreed]]] = True


def _paired(
    items: Sequence[Sequence[QueryHash]], kind_of: Callable[[str], str | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The views that have both a pHash and a PDQ and that ``pair_pdq_limit`` pairs (``kind_of``
    is not None): pHash as uint64, PDQ as 32 bytes, the owner's index, the view's kind."""
    kinds = {"original": 0, "box": 1, "crop": 2, "fill": 3}
    phash, pdq, owners, kind = [], [], [], []
    for owner, hashes in enumerate(items):
        pdq_of = {h.view: h.value.value for h in hashes if h.value.algorithm == "pdq"}
        for h in hashes:
            name = kind_of(h.view)
            if h.value.algorithm == "phash" and h.view in pdq_of and name is not None:
                phash.append(int(h.value.value, 16))
                pdq.append(pdq_of[h.view])
                owners.append(owner)
                kind.append(kinds[name])
    return (
        np.array(phash, dtype=np.uint64),
        np.frombuffer(bytes.fromhex("".join(pdq)), np.uint8).reshape(len(pdq), 32),
        np.array(owners, dtype=np.int64),
        np.array(kind, dtype=np.int8),
    )


def _scatter(result: np.ndarray, q_owner: np.ndarray, r_owner: np.ndarray, hit: np.ndarray) -> None:
    rows, columns = np.nonzero(hit)
    result[q_owner[rows], r_owner[columns]] = True


def _pack(
    items: Sequence[Sequence[QueryHash]], algorithm: str, *, query_side: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values, owners, plain = [], [], []
    for owner, hashes in enumerate(items):
        for item in hashes:
            if item.value.algorithm != algorithm:
                continue
            if not query_side and _paired_only(item.view):
                continue  # matched by _pairs_matrix only
            values.append(bytes.fromhex(item.value.value))
            owners.append(owner)
            if algorithm == "pdq":
                plain.append(_plain_query(item.view) if query_side else item.view == "original")
            else:
                plain.append(item.view == "original")
    if not values:
        return np.zeros((0, 0), np.uint8), np.zeros(0, np.int64), np.zeros(0, bool)
    bits = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), -1)
    return bits, np.array(owners), np.array(plain)


def _paired_only(view: str) -> bool:
    """A reference crop or fill: matched in pairs only (``pair_pdq_limit``), never alone."""
    return _reference_kind(view) in ("crop", "fill")


def pair_pdq_limit(query_view: str, reference_view: str, phash_distance: int) -> int | None:
    """The PDQ distance (between the same two views) that makes a pHash match of these two
    views at ``phash_distance`` a hit; None when none does:

    - the plain views: pHash within PHASH_CONFIRMED (14), PDQ within PDQ_CONFIRM (64);
    - the plain query and a reference crop or fill, a box of the query and the reference's
      plain view or a fill: pHash within PHASH_CROP (8), PDQ within PDQ_CROP_CONFIRM (80);
      a box and the reference's plain view also pHash within PHASH_BOX (12), PDQ within 64;
    - a box of the query and a reference crop: never (every box against 675 crops).
    """
    query, reference = _query_kind(query_view), _reference_kind(reference_view)
    if query is None or reference is None or (query == "box" and reference == "crop"):
        return None
    if query == reference == "original":
        return PDQ_CONFIRM if phash_distance <= PHASH_CONFIRMED else None
    if phash_distance <= PHASH_CROP:
        return PDQ_CROP_CONFIRM
    if query == "box" and reference == "original" and phash_distance <= PHASH_BOX:
        return PDQ_CONFIRM
    return None


def _query_kind(view: str) -> str | None:
    """ "original", "box" (found in the query: it has a pHash too) or None (PDQ only)."""
    if view == "original":
        return view
    return "box" if view.split(":", 1)[0] in _PHASH_QUERY else None


def _reference_kind(view: str) -> str | None:
    """ "original", "crop", "fill" or None (PDQ only: the turns)."""
    if view == "original":
        return view
    if view.startswith(CROP_PREFIX):
        return "crop"
    return "fill" if view.startswith(FILL_PREFIX) else None


def _plain_query(view: str) -> bool:
    return view.split("/", 1)[0] in _PLAIN_QUERY


def plain_pair(match: ViewMatch) -> bool:
    return match.query_view == "original" and match.reference_view == "original"


def _group(match: ViewMatch) -> object:
    return ("entry", match.entry_id) if match.group is None else match.group


def _same_box(a: regions.Box, b: regions.Box, tolerance: int = 3) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def query_hashes(image: Image.Image) -> list[QueryHash]:
    """Every hash a crawled image (a decoded PIL image) is looked up with: ``query_views``."""
    from monitor.hashing.decode import to_luma

    luma = to_luma(image)
    return DecisionRule().query_views(DecodedImage(HashInput(luma), luma.width, luma.height, "?"))
