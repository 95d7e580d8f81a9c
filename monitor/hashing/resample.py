"""The image every algorithm hashes, and resampling as matrix products.

Every hash is defined on the *nominal image*: the decoded image reduced to fit
``HASH_SIZE`` with Pillow's bilinear filter (what version 1 of the rules built
with ``Image.thumbnail``). Building it with Pillow costs more than all the hashes
together (Pillow's resampling runs about 1 ns per filter tap), so it is never
built on the fast path: the algorithms describe what they compute from it as
separable linear operators (PDQ's tent filter and 64x64 decimation, pHash's
Lanczos reduction to 32x32), each a matrix along each axis, and
``HashInput.project`` composes them with the bilinear reduction and applies the
product to the decoded pixels with sparse matrix products.

The filter coefficients are Pillow's own (``libImaging/Resample.c``:
``precompute_coeffs``), computed in double precision. What differs from running
Pillow: rounding (Pillow stores every intermediate image as 8-bit integers, the
products here keep fractions until an algorithm rounds), and the wide, smooth
Lanczos reductions to 32x32 and less, which are applied to the decoded pixels
averaged by small blocks (``Image.reduce``) rather than to every pixel. When the
decoded image already is the nominal image (it fits ``HASH_SIZE``), the hashes are
those of their reference implementations on it, bit for bit (tests/test_hashing.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import scipy.sparse
from PIL import Image

#: The nominal image fits this box: the size every hash is defined on.
HASH_SIZE = 512
#: Smooth, wide operators (Lanczos to 32x32 or less) are applied to the decoded
#: pixels averaged by blocks that keep at least this many pixels on the shorter axis.
COARSE_SIZE = 128


def fit(size: tuple[int, int], box: int = HASH_SIZE) -> tuple[int, int]:
    """The size ``Image.thumbnail((box, box))`` gives an image of ``size`` (unchanged if it fits)."""
    width, height = size
    if width <= box and height <= box:
        return width, height
    aspect = width / height

    def round_aspect(number: float, key: Callable[[int], float]) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if aspect <= 1:  # Pillow: x / y >= aspect, with x == y == box
        return round_aspect(box * aspect, key=lambda n: abs(aspect - n / box)), box
    return box, round_aspect(box / aspect, key=lambda n: 0 if n == 0 else abs(aspect - box / n))


# --------------------------------------------------------------------------- Pillow's filters


def _bilinear(x: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - np.abs(x))


def _sinc(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sin(np.pi * x) / (np.pi * x)
    return np.where(x == 0.0, 1.0, out)


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where((x >= -3.0) & (x < 3.0), _sinc(x) * _sinc(x / 3.0), 0.0)


_FILTERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bilinear": (_bilinear, 1.0),
    "lanczos": (_lanczos, 3.0),
}


def _pillow_taps(kind: str, out_size: int, in_size: int) -> tuple[np.ndarray, ...]:
    """(rows, columns, weights) of the nonzero coefficients of ``pillow_matrix``."""
    filter_, filter_support = _FILTERS[kind]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = filter_support * filterscale
    taps = math.ceil(support) * 2 + 1
    center = (np.arange(out_size) + 0.5) * scale
    # astype(int) truncates toward zero, as C's (int) cast does.
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)
    xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size)
    x = xmin[:, None] + np.arange(taps)[None, :]
    inside = x < xmax[:, None]
    weights = np.where(inside, filter_((x - center[:, None] + 0.5) / filterscale), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=weights, where=total != 0.0)
    rows = np.broadcast_to(np.arange(out_size)[:, None], x.shape)
    return rows[inside], x[inside], weights[inside]


@lru_cache(maxsize=1024)
def pillow_matrix(kind: str, out_size: int, in_size: int) -> np.ndarray:
    """(out_size x in_size) float64: Pillow's ``resize`` along one axis, as a matrix.

    Row ``i`` holds the normalised weights Pillow gives the input pixels of output
    pixel ``i`` (before it rounds them to 22-bit fixed point).
    """
    rows, columns, weights = _pillow_taps(kind, out_size, in_size)
    matrix = np.zeros((out_size, in_size))
    matrix[rows, columns] = weights
    return matrix


def _pillow_sparse(kind: str, out_size: int, in_size: int) -> scipy.sparse.csr_matrix:
    """``pillow_matrix`` as a sparse matrix (a few taps a row), built without the dense one."""
    rows, columns, weights = _pillow_taps(kind, out_size, in_size)
    return scipy.sparse.csr_matrix((weights, (rows, columns)), shape=(out_size, in_size))


# --------------------------------------------------------------------------- operators


@dataclass(frozen=True)
class Operator:
    """A linear map along one axis of the nominal image: ``build(rows, n)`` is (rows x n)."""

    build: Callable[[int, int], np.ndarray]  # hashable (a module-level function): cache key
    rows: int

    def matrix(self, nominal: int) -> np.ndarray:
        return self.build(self.rows, nominal)


def _lanczos_matrix(rows: int, nominal: int) -> np.ndarray:
    return pillow_matrix("lanczos", rows, nominal)


def lanczos(rows: int) -> Operator:
    """Pillow's ``resize(..., LANCZOS)`` to ``rows`` pixels along one axis (imagehash's ANTIALIAS)."""
    return Operator(_lanczos_matrix, rows)


@lru_cache(maxsize=512)
def _composed(
    operator: Operator, nominal: int, actual: int, factor: int = 1
) -> scipy.sparse.csr_matrix:
    """``operator`` on the nominal axis, applied to an axis of ``actual`` decoded pixels,
    or to those pixels averaged by blocks of ``factor`` (``Image.reduce``)."""
    # Sparse products: each factor has a few nonzero taps a row, and a dense product
    # (64 x 512 by 512 x 1000, say) cost several milliseconds for each new image size.
    matrix = scipy.sparse.csr_matrix(operator.matrix(nominal))
    if actual != nominal:
        matrix = matrix @ _pillow_sparse("bilinear", nominal, actual)
    if factor > 1:
        # A block's mean stands for each of its pixels: sum the weights over each block.
        blocks = -(-actual // factor)
        pixels = np.arange(actual)
        summing = scipy.sparse.csr_matrix(
            (np.ones(actual), (pixels, pixels // factor)), shape=(actual, blocks)
        )
        matrix = matrix @ summing
    return scipy.sparse.csr_matrix(matrix, dtype=np.float32)


# --------------------------------------------------------------------------- the input


class HashInput:
    """One decoded image, shared by every algorithm that hashes it.

    ``pixels`` is the luma image (Pillow mode "L", EXIF orientation applied), at
    least ``size`` on each side; ``size`` is the nominal size, where the hashes
    are defined. Algorithms read it through ``project`` (fast) or ``image`` (the
    nominal image built with Pillow, for algorithms that want a PIL image).
    """

    def __init__(self, pixels: Image.Image, size: tuple[int, int] | None = None) -> None:
        if pixels.mode != "L":
            raise ValueError(f"HashInput needs a luma ('L') image, not {pixels.mode!r}")
        self.pixels = pixels
        self.size = fit(pixels.size) if size is None else size
        if not (0 < self.size[0] <= pixels.width and 0 < self.size[1] <= pixels.height):
            raise ValueError(f"nominal size {self.size} does not fit in {pixels.size}")

    @classmethod
    def of(cls, image: Image.Image | HashInput) -> HashInput:
        """Any decoded PIL image (of any mode), as the decoding rules would hand it on:
        in luma, transparency on white. A HashInput is returned as it is."""
        if isinstance(image, HashInput):
            return image
        from monitor.hashing.decode import to_luma

        return cls(to_luma(image))

    @cached_property
    def array(self) -> np.ndarray:
        """The decoded pixels as a float32 (height x width) array."""
        return np.asarray(self.pixels, dtype=np.float32)

    @cached_property
    def coarse(self) -> tuple[np.ndarray, int]:
        """The decoded pixels averaged by square blocks (``Image.reduce``) that keep at
        least COARSE_SIZE pixels on the shorter axis, as float32, and the block size."""
        factor = max(1, min(self.pixels.size) // COARSE_SIZE)
        if factor == 1:
            return self.array, 1
        return np.asarray(self.pixels.reduce(factor), dtype=np.float32), factor

    @cached_property
    def image(self) -> Image.Image:
        """The nominal image (mode "L"), built with Pillow's bilinear filter as in version 1."""
        if self.size == self.pixels.size:
            return self.pixels
        return self.pixels.resize(self.size, Image.Resampling.BILINEAR)

    def resized(self, width: int, height: int) -> np.ndarray:
        """The nominal image resized by Pillow's Lanczos filter (imagehash's ANTIALIAS).

        8-bit values (as float64). When the decoded pixels are the nominal image
        (images that fit HASH_SIZE) Pillow itself resizes them; otherwise the result is
        projected from the decoded pixels and rounded once (see the module docstring).
        """
        if self.size == self.pixels.size:
            resized = self.pixels.resize((width, height), Image.Resampling.LANCZOS)
            return np.asarray(resized, dtype=np.float64)
        values = self.project(lanczos(height), lanczos(width), coarse=True)
        return np.clip(np.floor(values + 0.5), 0, 255)

    def project(self, rows: Operator, columns: Operator, *, coarse: bool = False) -> np.ndarray:
        """``rows(H) @ nominal image @ columns(W).T``, a (rows.rows x columns.rows) float32 array.

        Computed from the decoded pixels without building the nominal image; with
        ``coarse``, from their block averages (for operators smooth over many pixels).
        """
        width, height = self.size
        pixels, factor = self.coarse if coarse else (self.array, 1)
        left = _composed(rows, height, self.pixels.height, factor)
        right = _composed(columns, width, self.pixels.width, factor)
        partial = left @ pixels  # (rows x pixel columns)
        return np.asarray((right @ partial.T).T)
