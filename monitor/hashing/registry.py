"""The registry of hash algorithms by name, and which of them are computed by default."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.hashing.algorithms import DHash, PdqHash, PHash
from monitor.hashing.base import HashAlgorithm


class UnknownAlgorithm(KeyError):
    def __str__(self) -> str:
        return f"unknown hash algorithm {self.args[0]!r} (known: {', '.join(sorted(ALGORITHMS))})"


def _register(algorithms: Iterable[HashAlgorithm]) -> dict[str, HashAlgorithm]:
    registry: dict[str, HashAlgorithm] = {}
    for algorithm in algorithms:
        if algorithm.name in registry:
            raise RuntimeError(f"two hash algorithms named {algorithm.name!r}")
        if algorithm.name != algorithm.name.lower() or not algorithm.name.isidentifier():
            raise RuntimeError(f"hash algorithm name {algorithm.name!r}: lower-case identifier")
        registry[algorithm.name] = algorithm
    return registry


#: Every algorithm known: hash lists may hold any of them, and they are matched.
ALGORITHMS: dict[str, HashAlgorithm] = _register([PdqHash(), PHash(), DHash()])

#: What the crawler and ``monitor hashes add`` compute for every image. dHash is
#: registered (lists of dHashes import and match) but not computed: it is weaker
#: than pHash for the same 64 bits and would cost every image a third hash.
DEFAULT_ALGORITHMS: tuple[str, ...] = ("pdq", "phash")


def get_algorithm(name: str) -> HashAlgorithm:
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise UnknownAlgorithm(name) from None


def default_algorithms() -> list[HashAlgorithm]:
    return [ALGORITHMS[name] for name in DEFAULT_ALGORITHMS]


def bit_lengths() -> dict[str, int]:
    return {name: algorithm.bits for name, algorithm in ALGORITHMS.items()}


def current_versions() -> dict[str, int]:
    """The rules version of each algorithm's hashes as this code computes them."""
    return {name: algorithm.version for name, algorithm in ALGORITHMS.items()}
