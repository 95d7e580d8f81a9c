"""Synthetic example images (computed: no randomness, no lossy encoding), and their hashes.

They document each algorithm's output and double as test data: the conformance
tests encode each as PNG, hash it through the whole path and expect exactly the
hex below. A change to the decoding rules or to an algorithm that changes any of
them needs the algorithm's ``version`` bumped, and the table updated
(``python -m monitor.hashing.examples`` prints it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from monitor.hashing.base import Example


def waves(width: int, height: int, a: float, b: float, c: float, d: float) -> np.ndarray:
    """Two plane waves and a ramp, as 8-bit values: smooth, so that no bit of any hash
    sits on a tie that rounding could tip (the parameters were chosen for that)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x /= width
    y /= height
    value = (
        128
        + 70 * np.sin(2 * np.pi * (a * x + b * y) + c)
        + 45 * np.cos(2 * np.pi * (b * x - a * y) * 1.7 + d)
        + 30 * (x - y)
    )
    return np.clip(value, 0, 255).astype(np.uint8)


def colour_waves() -> Image.Image:
    """800x600 RGB, reduced to the nominal 512x384."""
    v = waves(800, 600, 2.5, 0.5, 1.1, 0.7)
    return Image.fromarray(np.dstack([v, v[:, ::-1], 255 - v]))


def grey_waves() -> Image.Image:
    """300x300 greyscale, hashed at its own size."""
    return Image.fromarray(waves(300, 300, 1.3, 1.4, 2.2, 3.5))


def portrait_waves() -> Image.Image:
    """600x1400 RGB, decoded by 2x2 blocks, nominal 219x512."""
    v = waves(600, 1400, 3, 1.4, 2.2, 2.0)
    return Image.fromarray(np.dstack([v, v[:, ::-1], 255 - v]))


def waves_on_transparency() -> Image.Image:
    """400x250 RGBA, half transparent: flattened on white, hashed at its own size."""
    v = waves(400, 250, 1.3, 2, 1.1, 0.7)
    alpha = np.where(waves(400, 250, 2, 1.3, 0.7, 1.1) > 100, 255, 0).astype(np.uint8)
    return Image.fromarray(np.dstack([v, v // 2, 255 - v, alpha]), "RGBA")


BUILDERS: dict[str, Callable[[], Image.Image]] = {
    "waves, 800x600 RGB": colour_waves,
    "waves, 300x300 greyscale": grey_waves,
    "waves, 600x1400 RGB": portrait_waves,
    "waves on transparency, 400x250 RGBA": waves_on_transparency,
}

#: algorithm -> description -> hex, under the algorithm's current version.
EXPECTED: dict[str, dict[str, str]] = {
    "pdq": {
        "waves, 800x600 RGB": "5519aaab5419aaab5019aaab0001aaabfffe5554955e5554555ef554555e554e",
        "waves, 300x300 greyscale": "515bdd0e555bd40e155bd00e555b400e555b000e555b000faaa3fff6ffecaab1",
        "waves, 600x1400 RGB": "054aaff0055abff0155afff0aaa5000fffe0002fffe0002fffe0003faa95454f",
        "waves on transparency, 400x250 RGBA": "f225827381de43b8e041b10e1e1bb90f555a2d0f2a652dd355eef4f09ce70ead",
    },
    "phash": {
        "waves, 800x600 RGB": "d3b8bc943c943c95",
        "waves, 300x300 greyscale": "9ac61ab7e2b8ac38",
        "waves, 600x1400 RGB": "d48954de03fa03fa",
        "waves on transparency, 400x250 RGBA": "c15a2307bb65d2f8",
    },
    "dhash": {
        "waves, 800x600 RGB": "9b99c9cdcccc4c4c",
        "waves, 300x300 greyscale": "d864e38bcc3e31d9",
        "waves, 600x1400 RGB": "2db692db496d24b6",
        "waves on transparency, 400x250 RGBA": "cc8c99333366c68c",
    },
}


def for_algorithm(name: str) -> list[Example]:
    return [
        Example(description, BUILDERS[description], hex_value)
        for description, hex_value in EXPECTED.get(name, {}).items()
    ]


def compute_table() -> dict[str, dict[str, str]]:
    """What the table would be with the code as it is (to update it after a version bump)."""
    import io

    from monitor.hashing.pipeline import hash_image_bytes
    from monitor.hashing.registry import ALGORITHMS

    table: dict[str, dict[str, str]] = {name: {} for name in ALGORITHMS}
    for description, build in BUILDERS.items():
        buffer = io.BytesIO()
        build().save(buffer, "PNG")
        hashes = hash_image_bytes(
            buffer.getvalue(), max_pixels=10**8, algorithms=ALGORITHMS.values()
        )
        for value in hashes.hashes:
            table[value.algorithm][description] = value.value
    return table


if __name__ == "__main__":
    import pprint

    pprint.pprint(compute_table(), width=100, sort_dicts=False)
