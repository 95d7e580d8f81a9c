"""Perceptual hashing: decoding untrusted image bytes and the hash algorithms.

The same code hashes crawled images and a victim's reference images, so both
sides go through exactly the same decoding and resizing rules.
"""

from __future__ import annotations

from monitor.hashing.base import HashAlgorithm, HashValue, hamming_hex
from monitor.hashing.decode import DecodedImage, ImageRejected, decode_image
from monitor.hashing.pipeline import ImageHashes, hash_image_bytes
from monitor.hashing.registry import ALGORITHMS, get_algorithm

__all__ = [
    "ALGORITHMS",
    "DecodedImage",
    "HashAlgorithm",
    "HashValue",
    "ImageHashes",
    "ImageRejected",
    "decode_image",
    "get_algorithm",
    "hamming_hex",
    "hash_image_bytes",
]
