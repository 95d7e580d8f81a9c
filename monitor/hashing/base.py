"""The hash-algorithm plug-in interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from PIL import Image

if TYPE_CHECKING:
    from monitor.hashing.resample import HashInput

#: ``rules_version`` of hashes computed by other software (imported lists that do
#: not say which rules made them): matched against hashes of every version.
FOREIGN_RULES = 0


@dataclass(frozen=True)
class HashValue:
    algorithm: str
    value: str  # lower-case hex, bits/4 digits
    quality: int | None = None  # the algorithm's own confidence, where it has one (PDQ: 0-100)


@dataclass(frozen=True)
class Example:
    """An image an algorithm documents its output on; the tests hash it through the whole
    path (encoded as PNG, decoded, hashed) and expect exactly ``hex``."""

    description: str
    build: Callable[[], Image.Image]
    hex: str


def hamming_hex(a: str, b: str) -> int:
    """Number of differing bits between two hex strings of the same length."""
    if len(a) != len(b):
        raise ValueError("hashes of different lengths cannot be compared")
    return (int(a, 16) ^ int(b, 16)).bit_count()


class HashAlgorithm(ABC):
    """One perceptual hash. Subclasses set the class attributes, ``compute`` and ``get_examples``.

    A plug-in registers in ``monitor.hashing.registry``; the conformance tests in
    tests/test_hashing.py then check it like every other algorithm.
    """

    name: ClassVar[str]
    bits: ClassVar[int]
    default_threshold: ClassVar[int]
    #: Below this quality a hash is too unreliable to match on (None: no quality).
    min_quality: ClassVar[int | None] = None
    #: The version of the rules that make this algorithm's hashes: the decoding path
    #: (``monitor.hashing.decode``) and the algorithm's own parameters. Bump it on any
    #: change that can change a hash: hashes of another version are never compared
    #: with these (stored image hashes are recomputed; references must be re-added).
    version: ClassVar[int]

    @abstractmethod
    def compute(self, image: HashInput | Image.Image) -> HashValue:
        """Hash an image prepared by ``monitor.hashing.decode`` (see ``HashInput``).

        A PIL image is accepted too (``HashInput.of``): it is hashed at its own size if
        it fits ``HASH_SIZE``, else reduced as a decoded image would be."""

    @abstractmethod
    def get_examples(self) -> Sequence[Example]:
        """A few images and their hashes under this ``version`` (test data and documentation)."""

    def distance(self, a: str, b: str) -> int:
        return hamming_hex(a, b)

    def usable(self, value: HashValue) -> bool:
        """Whether a hash is reliable enough to be matched or stored as a reference."""
        if self.min_quality is None or value.quality is None:
            return True
        return value.quality >= self.min_quality
