"""The hash-algorithm plug-in interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from PIL import Image


@dataclass(frozen=True)
class HashValue:
    algorithm: str
    value: str  # lower-case hex, bits/4 digits
    quality: int | None = None  # the algorithm's own confidence, where it has one (PDQ: 0-100)


def hamming_hex(a: str, b: str) -> int:
    """Number of differing bits between two hex strings of the same length."""
    if len(a) != len(b):
        raise ValueError("hashes of different lengths cannot be compared")
    return (int(a, 16) ^ int(b, 16)).bit_count()


class HashAlgorithm(ABC):
    """One perceptual hash. Subclasses set the class attributes and ``compute``."""

    name: ClassVar[str]
    bits: ClassVar[int]
    default_threshold: ClassVar[int]
    #: Below this quality a hash is too unreliable to match on (None: no quality).
    min_quality: ClassVar[int | None] = None

    @abstractmethod
    def compute(self, image: Image.Image) -> HashValue:
        """Hash an RGB image prepared by ``monitor.hashing.decode``."""

    def distance(self, a: str, b: str) -> int:
        return hamming_hex(a, b)

    def usable(self, value: HashValue) -> bool:
        """Whether a hash is reliable enough to be matched or stored as a reference."""
        if self.min_quality is None or value.quality is None:
            return True
        return value.quality >= self.min_quality
