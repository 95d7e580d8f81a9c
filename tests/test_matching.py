"""The match index: exact threshold queries, the same answers as brute force."""

from __future__ import annotations

import random

from monitor.hashing import HashValue
from monitor.hashing.base import hamming_hex
from monitor.matching import MatchIndex, Reference


def random_hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def flip_bits(value: str, count: int, rng: random.Random) -> str:
    bits = len(value) * 4
    number = int(value, 16)
    for position in rng.sample(range(bits), count):
        number ^= 1 << position
    return f"{number:0{len(value)}x}"


def test_index_agrees_with_brute_force() -> None:
    rng = random.Random(7)
    refs = [Reference(i, i % 5, "pdq", random_hex(rng, 256)) for i in range(2000)]
    index = MatchIndex({"pdq": 31, "phash": 10})
    index.add(refs)
    queries = [
        flip_bits(refs[i].value, d, rng)
        for i, d in [(3, 0), (10, 12), (20, 31), (30, 32), (40, 90)]
    ]
    queries += [random_hex(rng, 256) for _ in range(20)]
    for query in queries:
        got = {(m.entry_id, m.distance) for m in index.match([HashValue("pdq", query, 100)])}
        expected = {
            (r.entry_id, hamming_hex(r.value, query))
            for r in refs
            if hamming_hex(r.value, query) <= 31
        }
        assert got == expected
    assert {m.entry_id for m in index.match([HashValue("pdq", queries[2], 100)])} == {20}
    assert not index.match([HashValue("pdq", queries[3], 100)])  # 32 bits: just outside


def test_thresholds_per_algorithm_and_low_quality_skipped() -> None:
    rng = random.Random(1)
    pdq, phash = random_hex(rng, 256), random_hex(rng, 64)
    index = MatchIndex({"pdq": 10, "phash": 4})
    index.add([Reference(1, 1, "pdq", pdq), Reference(2, 1, "phash", phash)])
    near_pdq, near_phash = flip_bits(pdq, 11, rng), flip_bits(phash, 4, rng)
    matches = index.match([HashValue("pdq", near_pdq, 100), HashValue("phash", near_phash)])
    assert [(m.entry_id, m.distance) for m in matches] == [(2, 4)]
    assert not index.match([HashValue("pdq", pdq, 30)])  # PDQ quality below 50: unreliable
    assert [m.entry_id for m in index.match([HashValue("pdq", pdq, 50)])] == [1]


def test_references_added_later_are_matched() -> None:
    rng = random.Random(2)
    index = MatchIndex({"pdq": 31, "phash": 10})
    value = random_hex(rng, 256)
    assert not index.match([HashValue("pdq", value, 100)])
    index.add([Reference(9, 3, "pdq", value)])
    assert [(m.entry_id, m.case_id) for m in index.match([HashValue("pdq", value, 100)])] == [
        (9, 3)
    ]
