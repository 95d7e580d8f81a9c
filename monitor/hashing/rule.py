"""The decision rule: which hashes a query image is looked up with, and what counts as a hit.

Status: measured by benchmarks/robustness.py, not yet used by the crawler (issue 3).

One global hash misses most republished copies: a mirrored, rotated or
letterboxed copy hashes far from its original. The rule adds, on the query side
only (so that imported hash lists, which carry one hash per image, benefit too):

- the eight dihedral PDQ variants (flips and 90° rotations), from one pass;
- the hashes of the image with uniform borders trimmed (padding, letterboxes).

Every view is matched with the same per-algorithm thresholds. pHash is only
computed for the upright views: its false-positive rate is higher than PDQ's,
and multiplying its lookups would multiply its false hits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

from monitor.hashing.base import HashValue
from monitor.hashing.registry import default_algorithms

#: A border is uniform when its pixels vary less than this (grey levels, 0-255).
BORDER_STD = 6.0
#: Borders are only trimmed when they take at least this share of a side...
MIN_BORDER = 0.04
#: ...and leave at least this share of it.
MIN_KEPT = 0.3


@dataclass(frozen=True)
class QueryHash:
    value: HashValue
    view: str  # "original", "trimmed", "flip_h", "rot90", ...


DIHEDRAL_VIEWS = (
    "original",
    "rot90",
    "rot180",
    "rot270",
    "flip_v",
    "flip_h",
    "rot90_flip_v",
    "rot90_flip_h",
)


def trim_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The box inside uniform borders, or None if there are none worth trimming."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    height, width = grey.shape
    top = _uniform_run(grey)
    bottom = _uniform_run(grey[::-1])
    left = _uniform_run(grey.T)
    right = _uniform_run(grey.T[::-1])
    kept_h, kept_w = height - top - bottom, width - left - right
    if kept_h < MIN_KEPT * height or kept_w < MIN_KEPT * width:
        return None
    if max(top, bottom) < MIN_BORDER * height and max(left, right) < MIN_BORDER * width:
        return None
    return left, top, width - right, height - bottom


def _uniform_run(rows: np.ndarray) -> int:
    """How many leading rows are uniform and of the same colour as the first one."""
    first = float(np.median(rows[0]))
    count = 0
    for row in rows:
        if row.std() > BORDER_STD or abs(float(row.mean()) - first) > BORDER_STD:
            break
        count += 1
    return count


def query_hashes(image: Image.Image) -> list[QueryHash]:
    """Every hash a crawled image is looked up with."""
    views = [("original", image)]
    box = trim_box(image)
    if box is not None:
        views.append(("trimmed", image.crop(box)))
    hashes: list[QueryHash] = []
    for name, view in views:
        vectors, quality = pdqhash.compute_dihedral(np.asarray(view.convert("RGB")))
        for variant, vector in zip(DIHEDRAL_VIEWS, vectors, strict=True):
            value = np.packbits(vector.astype(np.uint8)).tobytes().hex()
            label = name if variant == "original" else f"{name}/{variant}"
            hashes.append(QueryHash(HashValue("pdq", value, int(quality)), label))
        for algorithm in default_algorithms():
            if algorithm.name != "pdq":
                hashes.append(QueryHash(algorithm.compute(view), name))
    return hashes
