"""Decode + hash throughput of the project's path against the plain one, in the same run.

    .venv/bin/python benchmarks/hashing.py [--images 40] [--megapixels 2]

Builds JPEGs of the given size from the test photos (in memory), then times
  baseline: Image.open(...).convert("RGB") + imagehash.phash + pdqhash.compute on the full image
  project:  monitor.hashing.hash_image_bytes (reduced-size decoding, 512 px, PDQ + pHash)
on one core and prints images per second and the ratio. Figures are ratios against the
baseline measured in the same run, so they hold from one machine to another.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from monitor.hashing import hash_image_bytes

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"


def make_jpegs(count: int, megapixels: float) -> list[bytes]:
    photos = [Image.open(p).convert("RGB") for p in sorted(PHOTOS.glob("*.jpg"))]
    images = []
    for i in range(count):
        photo = photos[i % len(photos)]
        scale = (megapixels * 1e6 / (photo.width * photo.height)) ** 0.5
        big = photo.resize((int(photo.width * scale), int(photo.height * scale)), Image.BICUBIC)
        buffer = io.BytesIO()
        big.rotate(i * 0.7).save(buffer, "JPEG", quality=85)  # each image distinct
        images.append(buffer.getvalue())
    return images


def baseline(data: bytes) -> None:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    imagehash.phash(image)
    pdqhash.compute(np.asarray(image))


def project(data: bytes) -> None:
    hash_image_bytes(data, max_pixels=200_000_000)


def rate(fn, images: list[bytes], repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for data in images:
            fn(data)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--megapixels", type=float, default=2.0)
    args = parser.parse_args()
    images = make_jpegs(args.images, args.megapixels)
    size = sum(map(len, images)) / len(images) / 1024
    print(f"{len(images)} JPEGs of {args.megapixels:g} MP (mean {size:.0f} KiB), one core")
    base = rate(baseline, images)
    ours = rate(project, images)
    print(f"baseline (full decode + phash + pdq): {base:8.1f} images/s")
    print(f"project  (hash_image_bytes):          {ours:8.1f} images/s")
    print(f"ratio project/baseline:               {ours / base:8.2f}x")


if __name__ == "__main__":
    main()
