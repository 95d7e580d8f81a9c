"""Built-in algorithms: PDQ (Meta), pHash and dHash (as imagehash computes them).

Each computes what its reference implementation computes on the nominal image
(see ``resample``), as matrix products over the decoded pixels:

* ``pdq``: ``pdqhash.compute`` (Meta's C++ PDQ) on the nominal image: luma, two
  passes of PDQ's box filter (Jarosz) per axis, decimation to 64x64, quality
  from the 64x64 gradients, 16x16 DCT, bits above the median.
* ``phash``: ``imagehash.phash``: Lanczos reduction to 32x32, DCT-II along both
  axes (scipy.fftpack, as imagehash), bits of the 8x8 lowest frequencies above
  their median.
* ``dhash``: ``imagehash.dhash``: Lanczos reduction to 9x8, one bit per pair of
  horizontal neighbours. Registered, not computed by default.

When the decoded image is the nominal image (every image that fits HASH_SIZE)
the bits are the reference implementation's, exactly (PDQ's quality too): pHash
and dHash let Pillow resize it. For larger images the reductions are projected
from the decoded pixels: Pillow would round the nominal image, and the result of
each axis, to 8 bits, the projection rounds once at the end, which moves a bit
now and then (tests/test_hashing.py: at most 4 bits for PDQ and pHash, 8 for
dHash, under 1 on average).

Versions (``HashAlgorithm.version``): 1, RGB decoding and Pillow's thumbnail to
512 px, then pdqhash / imagehash; 2, luma decoding and projections (decode.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import scipy.fftpack
from PIL import Image

from monitor.hashing import examples
from monitor.hashing.base import Example, HashAlgorithm, HashValue
from monitor.hashing.resample import HashInput, Operator

# --------------------------------------------------------------------------- PDQ

#: PDQ's grid and DCT size.
_GRID = 64
_DCT = 16


@lru_cache(maxsize=512)
def pdq_matrix(rows: int, n: int) -> np.ndarray:
    """(64 x n) float64: PDQ's downsampling along an axis of ``n`` pixels.

    PDQ (``pdqhashing.cpp``, ``downscaling.cpp``) blurs with two passes of a box
    filter of ``w = ceil(n / 128)`` pixels (truncated, and renormalised, at the
    edges), then keeps pixel ``int((k + 0.5) * n / 64)`` for k in 0..63. Both
    steps are linear, so they are one matrix: rows of (box @ box).
    """
    assert rows == _GRID
    window = (n + 2 * _GRID - 1) // (2 * _GRID)
    half = (window + 2) // 2
    before, after = window - half, half - 1  # out[i] = mean(in[i - before .. i + after])
    index = np.arange(n)
    low = np.maximum(0, index - before)[:, None]
    high = np.minimum(n - 1, index + after)[:, None]
    box = ((index >= low) & (index <= high)) / (high - low + 1.0)
    kept = ((np.arange(_GRID) + 0.5) * n / _GRID).astype(np.int64)
    return box[kept] @ box


_PDQ_GRID = Operator(pdq_matrix, _GRID)

#: PDQ's DCT matrix (float32, as pdqhashing.cpp): rows 1..16 of the 64-point DCT-II.
_PDQ_DCT = (
    np.sqrt(2.0 / _GRID)
    * np.cos(np.pi / 2.0 / _GRID * np.outer(np.arange(1, _DCT + 1), 2 * np.arange(_GRID) + 1))
).astype(np.float32)


def pdq_from_grid(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ's bits (256 booleans, bit 0 first) and quality from its 64x64 downsample."""
    grid = grid.astype(np.float32, copy=False)
    # Quality: the sum of quantised gradients (int truncation, as the C++).
    down = np.abs(np.trunc((grid[:-1, :] - grid[1:, :]) * 100 / 255)).sum()
    across = np.abs(np.trunc((grid[:, :-1] - grid[:, 1:]) * 100 / 255)).sum()
    quality = min(int(down + across) // 90, 100)
    coefficients = (_PDQ_DCT @ grid @ _PDQ_DCT.T).ravel()
    # Torben's median of 256 values is the 128th smallest; bits are strictly above it.
    median = np.partition(coefficients, 127)[127]
    return coefficients > median, quality


class PdqHash(HashAlgorithm):
    name = "pdq"
    bits = 256
    default_threshold = 31  # the field's customary distance (of 256 bits)
    min_quality = 50  # PDQ's own advice: drop hashes of quality 49 or less
    version = 2

    def compute(self, image: HashInput | Image.Image) -> HashValue:
        image = HashInput.of(image)
        width, height = image.size
        if width < 5 or height < 5:  # PDQ's MIN_HASHABLE_DIM: an all-zero hash of quality 0
            return HashValue(self.name, "0" * 64, 0)
        bits, quality = pdq_from_grid(image.project(_PDQ_GRID, _PDQ_GRID))
        # Written as python-threatexchange writes PDQ hashes: the hash's bit 255
        # is the most significant bit of the first hex digit.
        return HashValue(self.name, np.packbits(bits[::-1]).tobytes().hex(), quality)

    def get_examples(self) -> Sequence[Example]:
        return examples.for_algorithm(self.name)


# --------------------------------------------------------------------------- imagehash


def _hex(bits: np.ndarray) -> str:
    """imagehash's hex form: the bits row by row, most significant first."""
    return np.packbits(bits.ravel()).tobytes().hex()


class PHash(HashAlgorithm):
    name = "phash"
    bits = 64
    default_threshold = 10
    version = 2

    def compute(self, image: HashInput | Image.Image) -> HashValue:
        image = HashInput.of(image)
        pixels = image.resized(32, 32)
        dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:8, :8]
        return HashValue(self.name, _hex(dct > np.median(dct)))

    def get_examples(self) -> Sequence[Example]:
        return examples.for_algorithm(self.name)


class DHash(HashAlgorithm):
    name = "dhash"
    bits = 64
    default_threshold = 10
    version = 1

    def compute(self, image: HashInput | Image.Image) -> HashValue:
        image = HashInput.of(image)
        pixels = image.resized(9, 8)
        return HashValue(self.name, _hex(pixels[:, 1:] > pixels[:, :-1]))

    def get_examples(self) -> Sequence[Example]:
        return examples.for_algorithm(self.name)


#: The reference implementations, on a PIL image (tests and benchmarks compare against them).
def reference_implementations() -> dict[str, Callable[[Image.Image], str]]:
    import imagehash
    import pdqhash

    def pdq(image: Image.Image) -> str:
        vector, _quality = pdqhash.compute(np.asarray(image.convert("RGB")))
        return np.packbits(vector.astype(np.uint8)).tobytes().hex()

    return {
        "pdq": pdq,
        "phash": lambda image: str(imagehash.phash(image)),
        "dhash": lambda image: str(imagehash.dhash(image)),
    }


# --------------------------------------------------------------------------- PDQ's dihedral

#: The eight dihedral variants in ``pdqhash.compute_dihedral``'s order, each as
#: (transpose the coefficients, negate odd vertical frequencies, negate odd horizontal ones).
#: Flipping the grid along an axis multiplies its DCT coefficient k along that axis by
#: (-1)^k; transposing the grid transposes them.
PDQ_DIHEDRAL = (
    ("original", (False, False, False)),
    ("rot90", (True, True, False)),
    ("rot180", (False, True, True)),
    ("rot270", (True, False, True)),
    ("flip_v", (False, True, False)),
    ("flip_h", (False, False, True)),
    ("rot90_flip_v", (True, False, False)),
    ("rot90_flip_h", (True, True, True)),
)
_ODD = np.where(np.arange(1, _DCT + 1) % 2 == 1, -1.0, 1.0).astype(np.float32)


def pdq_dihedral_from_grid(grid: np.ndarray) -> tuple[list[np.ndarray], int]:
    """PDQ's bits (as ``pdq_from_grid``) of the eight dihedral transforms of the image, in
    ``PDQ_DIHEDRAL`` order, from one DCT of its 64x64 downsample, and the quality (the
    same for all eight). The first is ``pdq_from_grid(grid)``; the eight are
    ``pdqhash.compute_dihedral``'s."""
    grid = grid.astype(np.float32, copy=False)
    _bits, quality = pdq_from_grid(grid)
    coefficients = _PDQ_DCT @ grid @ _PDQ_DCT.T
    variants = []
    for _name, (transpose, vertical, horizontal) in PDQ_DIHEDRAL:
        matrix = coefficients.T if transpose else coefficients
        if vertical:
            matrix = matrix * _ODD[:, None]
        if horizontal:
            matrix = matrix * _ODD[None, :]
        flat = matrix.ravel()
        variants.append(flat > np.partition(flat, 127)[127])
    return variants, quality


def pdq_hex(bits: np.ndarray) -> str:
    """PDQ's hex form of 256 bits (bit 0 first), as ``PdqHash.compute`` writes it."""
    return np.packbits(bits[::-1]).tobytes().hex()
