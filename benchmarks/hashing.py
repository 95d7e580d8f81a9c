"""Decode + hash throughput of the project's path against the plain one, in the same run.

    .venv/bin/python benchmarks/hashing.py [--images 40] [--megapixels 1 2 3]

For each size, builds JPEGs of that many megapixels from the test photos (in memory), then
times
  baseline: Image.open(...).convert("RGB") + imagehash.phash + pdqhash.compute on the full image
  hashes:   monitor.hashing.hash_image_bytes (sha256, luma decoding at a reduced DCT scale,
            every default hash: PDQ + pHash)
  crawler:  the same with the decision rule's query views (monitor.hashing.rule:
            DecisionRule.query_views), exactly what the crawler computes per image
and prints images per second for each and their ratio to the baseline. The process pins itself to one core
(as ``taskset -c 0`` would) and counts its own CPU time, so that the figures are per core
even when other processes share the machine; the ratios against the baseline measured in
the same run hold from one machine to another.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image
from threadpoolctl import threadpool_limits

from monitor.hashing import DEFAULT_ALGORITHMS, decode_image, hash_image_bytes
from monitor.hashing.rule import DecisionRule

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"


def make_jpegs(count: int, megapixels: float) -> list[bytes]:
    photos = [Image.open(p).convert("RGB") for p in sorted(PHOTOS.glob("*.jpg"))]
    images = []
    for i in range(count):
        photo = photos[i % len(photos)]
        scale = (megapixels * 1e6 / (photo.width * photo.height)) ** 0.5
        size = (int(photo.width * scale) + 23, int(photo.height * scale) + 19)
        big = photo.resize(size, Image.BICUBIC)
        buffer = io.BytesIO()
        # Each image distinct: a different crop of a slightly larger picture. (Not turned:
        # flat corners would make every image look like a photo turned on a background,
        # which the decision rule turns back, at a cost ordinary photos never pay.)
        dx, dy = (i * 7) % 23, (i * 11) % 19
        big.crop((dx, dy, big.width - 23 + dx, big.height - 19 + dy)).save(
            buffer, "JPEG", quality=85
        )
        images.append(buffer.getvalue())
    return images


def baseline(data: bytes) -> None:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    imagehash.phash(image)
    pdqhash.compute(np.asarray(image))


def project(data: bytes) -> None:
    hash_image_bytes(data, max_pixels=200_000_000)


RULE = DecisionRule()


def crawler(data: bytes) -> None:
    hash_image_bytes(
        data, max_pixels=200_000_000, views=RULE.query_views, views_version=RULE.version
    )


def rate(fn: Callable[[bytes], None], images: list[bytes], repeat: int = 3) -> float:
    """Images per second of this process's CPU time, from the fastest of ``repeat`` passes.

    CPU time rather than wall time: on a shared machine other processes take turns on
    the core, which stretches the wall time but not the time this process computes.
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for data in images:
            fn(data)
        best = min(best, time.process_time() - start)
    return len(images) / best


def pin_to_one_core() -> str:
    try:
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) > 1:
            os.sched_setaffinity(0, {allowed[0]})
        return f"pinned to core {allowed[0]}"
    except (AttributeError, OSError):  # not Linux: say so rather than pretend
        return "NOT pinned to one core (no sched_setaffinity here)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    args = parser.parse_args()
    # One core, one BLAS thread (as each hashing worker of the crawler: its extra threads
    # would only spin on the one core, and their CPU time would be counted).
    threadpool_limits(1)
    print(
        f"{pin_to_one_core()}, one BLAS thread, CPU time;"
        f" default hashes: {', '.join(DEFAULT_ALGORITHMS)}"
    )
    warm = make_jpegs(1, 0.5)[0]
    project(warm)  # imports and first-use caches out of the timing
    crawler(warm)
    for megapixels in args.megapixels:
        images = make_jpegs(args.images, megapixels)
        size = sum(map(len, images)) / len(images) / 1024
        print(f"{len(images)} JPEGs of {megapixels:g} MP (mean {size:.0f} KiB)")
        base = rate(baseline, images)
        ours = rate(project, images)
        full = rate(crawler, images)
        views = len(RULE.query_views(decode_image(images[0], max_pixels=200_000_000)))
        print(f"  baseline (full decode + phash + pdq):      {base:8.1f} images/s")
        print(
            f"  hashes   (hash_image_bytes):               {ours:8.1f} images/s  {ours / base:6.2f}x"
        )
        print(
            f"  crawler  (hashes + the rule's query views): {full:8.1f} images/s  {full / base:6.2f}x"
            f"  ({views} hashes for the first image)"
        )


if __name__ == "__main__":
    main()
