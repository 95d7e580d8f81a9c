"""From bytes to every configured hash: the one path for crawled and reference images."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.hashing.base import HashAlgorithm, HashValue
from monitor.hashing.decode import DecodedImage, decode_image
from monitor.hashing.registry import default_algorithms

if TYPE_CHECKING:
    from monitor.hashing.rule import QueryHash

#: The name of the view that is the whole image, as decoded.
ORIGINAL = "original"


@dataclass(frozen=True)
class ImageHashes:
    sha256: str
    size: int  # bytes
    width: int
    height: int
    format: str
    hashes: tuple[HashValue, ...]  # of the whole image (the "original" view)
    #: Every view the decision rule hashed (the originals included), when one did.
    views: tuple[QueryHash, ...] = ()
    #: The decision rule's version that made ``views`` (None: no views).
    views_version: int | None = None

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
    views: Callable[[DecodedImage], Sequence[QueryHash]] | None = None,
    views_version: int | None = None,
) -> ImageHashes:
    """Decode and hash ``data`` (by default with ``DEFAULT_ALGORITHMS``).

    Raises ``ImageRejected`` for bytes that are no usable image. The image is
    decoded once; every algorithm hashes the same ``HashInput``. With ``views``
    (a decision rule's ``query_views`` or ``reference_views``), the hashes are
    those it returns: ``hashes`` holds its "original" views.
    """
    decoded = decode_image(data, max_pixels=max_pixels)
    views_made: tuple[QueryHash, ...] = ()
    if views is not None:
        views_made = tuple(views(decoded))
        hashes = tuple(v.value for v in views_made if v.view == ORIGINAL)
    else:
        selected = default_algorithms() if algorithms is None else list(algorithms)
        hashes = tuple(algorithm.compute(decoded.input) for algorithm in selected)
    return ImageHashes(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size=len(data),
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        hashes=hashes,
        views=views_made,
        views_version=views_version if views is not None else None,
    )
