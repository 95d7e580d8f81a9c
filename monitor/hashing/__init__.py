"""Perceptual hashing: decoding untrusted image bytes and the hash algorithms.

The same code hashes crawled images and a victim's reference images, so both
sides go through exactly the same decoding and resizing rules. Every hash is
stored with its algorithm's rules ``version``; hashes of different versions are
never compared.
"""

from __future__ import annotations

from monitor.hashing.base import FOREIGN_RULES, Example, HashAlgorithm, HashValue, hamming_hex
from monitor.hashing.decode import DecodedImage, ImageRejected, decode_image
from monitor.hashing.pipeline import ImageHashes, hash_image_bytes
from monitor.hashing.registry import (
    ALGORITHMS,
    DEFAULT_ALGORITHMS,
    current_versions,
    default_algorithms,
    get_algorithm,
)
from monitor.hashing.resample import HASH_SIZE, HashInput

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "FOREIGN_RULES",
    "HASH_SIZE",
    "DecodedImage",
    "Example",
    "HashAlgorithm",
    "HashInput",
    "HashValue",
    "ImageHashes",
    "ImageRejected",
    "current_versions",
    "decode_image",
    "default_algorithms",
    "get_algorithm",
    "hamming_hex",
    "hash_image_bytes",
]
