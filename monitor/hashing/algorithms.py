"""Built-in algorithms: PDQ (Meta) and pHash (imagehash)."""

from __future__ import annotations

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from monitor.hashing.base import HashAlgorithm, HashValue


class PdqHash(HashAlgorithm):
    name = "pdq"
    bits = 256
    default_threshold = 31  # the field's customary distance (of 256 bits)
    min_quality = 50  # PDQ's own advice: drop hashes of quality 49 or less

    def compute(self, image: Image.Image) -> HashValue:
        vector, quality = pdqhash.compute(np.asarray(image))
        # Bit 0 of the vector is the most significant bit of the first hex digit,
        # as python-threatexchange writes PDQ hashes.
        hex_value = np.packbits(vector.astype(np.uint8)).tobytes().hex()
        return HashValue(self.name, hex_value, int(quality))


class PHash(HashAlgorithm):
    name = "phash"
    bits = 64
    default_threshold = 10

    def compute(self, image: Image.Image) -> HashValue:
        return HashValue(self.name, str(imagehash.phash(image)))
