"""From bytes to every configured hash: the one path for crawled and reference images."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.hashing.base import HashAlgorithm, HashValue
from monitor.hashing.decode import decode_image
from monitor.hashing.registry import default_algorithms


@dataclass(frozen=True)
class ImageHashes:
    sha256: str
    size: int  # bytes
    width: int
    height: int
    format: str
    hashes: tuple[HashValue, ...]

    def get(self, algorithm: str) -> HashValue | None:
        for value in self.hashes:
            if value.algorithm == algorithm:
                return value
        return None


def hash_image_bytes(
    data: bytes,
    *,
    max_pixels: int,
    algorithms: Iterable[HashAlgorithm] | None = None,
    sha256: str | None = None,
) -> ImageHashes:
    """Decode and hash ``data`` (by default with ``DEFAULT_ALGORITHMS``).

    Raises ``ImageRejected`` for bytes that are no usable image. The image is
    decoded once; every algorithm hashes the same ``HashInput``.
    """
    decoded = decode_image(data, max_pixels=max_pixels)
    selected = default_algorithms() if algorithms is None else list(algorithms)
    return ImageHashes(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size=len(data),
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        hashes=tuple(algorithm.compute(decoded.input) for algorithm in selected),
    )
