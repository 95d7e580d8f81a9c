"""The registry of hash algorithms by name."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.hashing.algorithms import PdqHash, PHash
from monitor.hashing.base import HashAlgorithm


class UnknownAlgorithm(KeyError):
    def __str__(self) -> str:
        return f"unknown hash algorithm {self.args[0]!r} (known: {', '.join(sorted(ALGORITHMS))})"


def _register(algorithms: Iterable[HashAlgorithm]) -> dict[str, HashAlgorithm]:
    registry: dict[str, HashAlgorithm] = {}
    for algorithm in algorithms:
        if algorithm.name in registry:
            raise RuntimeError(f"two hash algorithms named {algorithm.name!r}")
        registry[algorithm.name] = algorithm
    return registry


ALGORITHMS: dict[str, HashAlgorithm] = _register([PdqHash(), PHash()])


def get_algorithm(name: str) -> HashAlgorithm:
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise UnknownAlgorithm(name) from None


def bit_lengths() -> dict[str, int]:
    return {name: algorithm.bits for name, algorithm in ALGORITHMS.items()}
