"""Matching image hashes against the reference hashes of open cases.

An in-memory index per algorithm: the reference hashes as a packed bit matrix,
compared with a query by XOR and popcount over all rows at once (exact, no
approximation). New references can be added while a crawl runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from monitor.hashing import ALGORITHMS, HashValue


@dataclass(frozen=True)
class Reference:
    entry_id: int
    case_id: int
    algorithm: str
    value: str


@dataclass(frozen=True)
class Match:
    entry_id: int
    case_id: int
    algorithm: str
    distance: int


class _AlgorithmIndex:
    def __init__(self, bits: int) -> None:
        self._bytes = bits // 8
        self._pending: list[np.ndarray] = []
        self._pending_refs: list[Reference] = []
        self._matrix = np.zeros((0, self._bytes), dtype=np.uint8)
        self._refs: list[Reference] = []

    def add(self, ref: Reference) -> None:
        self._pending.append(np.frombuffer(bytes.fromhex(ref.value), dtype=np.uint8))
        self._pending_refs.append(ref)

    def __len__(self) -> int:
        return len(self._refs) + len(self._pending_refs)

    def _flush(self) -> None:
        if self._pending:
            self._matrix = np.vstack([self._matrix, np.stack(self._pending)])
            self._refs.extend(self._pending_refs)
            self._pending, self._pending_refs = [], []

    def query(self, value: str, threshold: int) -> list[tuple[Reference, int]]:
        self._flush()
        if not self._refs:
            return []
        query = np.frombuffer(bytes.fromhex(value), dtype=np.uint8)
        distances = np.bitwise_count(self._matrix ^ query).sum(axis=1, dtype=np.int32)
        rows = np.flatnonzero(distances <= threshold)
        return [(self._refs[i], int(distances[i])) for i in rows]


class MatchIndex:
    def __init__(self, thresholds: Mapping[str, int]) -> None:
        self.thresholds = dict(thresholds)
        self._indexes = {name: _AlgorithmIndex(a.bits) for name, a in ALGORITHMS.items()}

    def add(self, refs: Iterable[Reference]) -> None:
        for ref in refs:
            self._indexes[ref.algorithm].add(ref)

    def __len__(self) -> int:
        return sum(len(index) for index in self._indexes.values())

    def match(self, hashes: Iterable[HashValue]) -> list[Match]:
        """Every reference within its algorithm's threshold of one of ``hashes``."""
        matches: list[Match] = []
        for value in hashes:
            algorithm = ALGORITHMS.get(value.algorithm)
            index = self._indexes.get(value.algorithm)
            if algorithm is None or index is None or not algorithm.usable(value):
                continue
            threshold = self.thresholds.get(value.algorithm, algorithm.default_threshold)
            matches.extend(
                Match(ref.entry_id, ref.case_id, ref.algorithm, distance)
                for ref, distance in index.query(value.value, threshold)
            )
        return matches
