"""The match index: exact threshold queries, the same answers as brute force."""

from __future__ import annotations

import random

import numpy as np
import pytest

from monitor import matching
from monitor.hashing import HashValue
from monitor.hashing.base import hamming_hex
from monitor.matching import Match, MatchIndex, Reference, index_from_rows

BITS = {"pdq": 256, "phash": 64}


def random_hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def flip_bits(value: str, count: int, rng: random.Random) -> str:
    bits = len(value) * 4
    number = int(value, 16)
    for position in rng.sample(range(bits), count):
        number ^= 1 << position
    return f"{number:0{len(value)}x}"


# ----------------------------------------------------------------------------- helpers


def uniform_set(rng: np.random.Generator, count: int, bits: int) -> np.ndarray:
    return rng.integers(0, 256, (count, bits // 8), dtype=np.uint8)


def clustered_set(rng: np.random.Generator, count: int, bits: int, max_flips: int) -> np.ndarray:
    """count // 10 random centres, each with 10 variants differing in at most max_flips bits."""
    centres = uniform_set(rng, -(-count // 10), bits)
    values = np.repeat(centres, 10, axis=0)[:count].copy()
    for i in range(count):
        for position in rng.choice(bits, int(rng.integers(0, max_flips + 1)), replace=False):
            values[i, position // 8] ^= np.uint8(1 << (position % 8))
    values[rng.integers(0, count, 20)] = values[rng.integers(0, count, 20)]  # exact duplicates
    return values


def near(rng: np.random.Generator, value: np.ndarray, distance: int) -> np.ndarray:
    """A copy of value at exactly ``distance`` bits."""
    out = value.copy()
    for position in rng.choice(len(value) * 8, distance, replace=False):
        out[position // 8] ^= np.uint8(1 << (position % 8))
    return out


def expected(
    values: np.ndarray, entries: list[int], cases: list[int], algorithm: str, query: str, r: int
) -> list[Match]:
    """Brute force, independent of the index's code: unpacked bits, in insertion order."""
    q = np.frombuffer(bytes.fromhex(query), dtype=np.uint8)
    distances = np.unpackbits(values ^ q, axis=1).sum(axis=1)
    return [
        Match(entries[i], cases[i], algorithm, int(distances[i]))
        for i in np.flatnonzero(distances <= r)
    ]


def build(
    algorithm: str, values: np.ndarray, threshold: int, start: int = 0
) -> tuple[MatchIndex, list[int], list[int]]:
    entries = list(range(start, start + len(values)))
    cases = [e % 97 for e in entries]
    rows = [
        (e, c, algorithm, v.tobytes().hex()) for e, c, v in zip(entries, cases, values, strict=True)
    ]
    index = MatchIndex.from_rows({"pdq": 31, "phash": 10, algorithm: threshold}, rows)
    return index, entries, cases


def queries_for(rng: np.random.Generator, values: np.ndarray, r: int, count: int) -> list[str]:
    """Near-duplicates at 0, r, r + 1 and random distances up to r + 2, and random hashes."""
    bits = values.shape[1] * 8
    picks = rng.integers(0, len(values), count)
    distances = [0, max(r, 0), min(r + 1, bits)] + list(rng.integers(0, min(r + 3, bits), count))
    out = [
        near(rng, values[i], int(d)).tobytes().hex()
        for i, d in zip(picks, distances[:count], strict=True)
    ]
    out += [uniform_set(rng, 1, bits)[0].tobytes().hex() for _ in range(count // 2)]
    return out


def indexed_rows(index: MatchIndex, algorithm: str) -> int:
    return index.describe()[algorithm]["indexed"]


# ------------------------------------------------------------------- the original tests


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


# ------------------------------------------------------------- the multi-index, at scale

SIZE = 12_000  # past TAIL_ROWS: the tables are built


@pytest.mark.parametrize(
    ("algorithm", "thresholds", "max_flips"),
    [
        ("pdq", [0, 5, 31, 48, 90], 20),  # 90: past the index's range, answered by a scan
        ("phash", [0, 4, 10, 20], 5),
    ],
)
@pytest.mark.parametrize("kind", ["uniform", "clustered"])
def test_multi_index_agrees_with_brute_force(
    algorithm: str, thresholds: list[int], max_flips: int, kind: str
) -> None:
    rng = np.random.default_rng(11)
    bits = BITS[algorithm]
    if kind == "uniform":
        values = uniform_set(rng, SIZE, bits)
    else:
        values = clustered_set(rng, SIZE, bits, max_flips)
    for r in thresholds:
        index, entries, cases = build(algorithm, values, r)
        assert indexed_rows(index, algorithm) == SIZE  # the tables, not only a scan
        for query in queries_for(rng, values, r, 12):
            hashes = [HashValue(algorithm, query, 100)]
            want = expected(values, entries, cases, algorithm, query, r)
            assert index.match(hashes) == want, (r, query)
            assert index.brute_force(hashes) == want


def test_the_index_prunes_and_falls_back_to_a_scan_past_its_range() -> None:
    """At the default thresholds a query looks at a small part of the references;
    at a threshold where that would cost more than a scan, it scans."""
    rng = np.random.default_rng(3)
    for algorithm, r in (("pdq", 31), ("phash", 10)):
        index, _, _ = build(algorithm, uniform_set(rng, 50_000, BITS[algorithm]), r)
        tables = index._indexes[algorithm]._state.tables
        assert tables is not None and len(tables.spans) > 1
        plan = tables.plan(r, BITS[algorithm] // 64)
        assert plan is not None
        query = uniform_set(rng, 1, BITS[algorithm])[0].tobytes()
        candidates = tables.candidates(plan, query)
        assert len(candidates) < 50_000 / 10
        assert tables.plan(BITS[algorithm] // 2, BITS[algorithm] // 64) is None


def test_largest_distances_are_exact() -> None:
    """Distance 256 (every bit differs) is reported as 256, never wrapped to 0."""
    rng = np.random.default_rng(5)
    values = uniform_set(rng, 5000, 256)
    complement = (~values[7]).tobytes().hex()
    for r in (255, 256):
        index, entries, cases = build("pdq", values, r)
        got = index.match([HashValue("pdq", complement, 100)])
        assert got == expected(values, entries, cases, "pdq", complement, r)
        assert (Match(7, 7, "pdq", 256) in got) == (r == 256)


@pytest.mark.parametrize(("algorithm", "r"), [("pdq", 31), ("phash", 10)])
@pytest.mark.parametrize("tail_rows", [matching.TAIL_ROWS, 40])
def test_added_after_build_matched_by_the_next_query(
    monkeypatch: pytest.MonkeyPatch, tail_rows: int, algorithm: str, r: int
) -> None:
    """A reference added to a built index is matched at once; adding more folds the
    tail into the tables (tail_rows=40) and later rebuilds them, answers unchanged."""
    monkeypatch.setattr(matching, "TAIL_ROWS", tail_rows)
    rng = np.random.default_rng(9)
    values = uniform_set(rng, 6000, BITS[algorithm])
    index, entries, cases = build(algorithm, values[:3000], r)
    assert indexed_rows(index, algorithm) == 3000
    for count in (1, 1, 5, 41, 100, 900, 1952):
        start = len(entries)
        new = values[start : start + count]
        query = near(rng, new[-1], r).tobytes().hex()
        hashes = [HashValue(algorithm, query, 100)]
        assert not any(m.entry_id >= start for m in index.match(hashes))
        index.add(
            Reference(start + i, 500, algorithm, v.tobytes().hex()) for i, v in enumerate(new)
        )
        entries += range(start, start + count)
        cases += [500] * count
        assert len(index) == len(entries)
        got = index.match(hashes)
        assert Match(start + count - 1, 500, algorithm, r) in got
        assert index.distance_to(start + count - 1, hashes[0]) == r
        for q in [query, *queries_for(rng, values[: len(entries)], r, 4)]:
            want = expected(values[: len(entries)], entries, cases, algorithm, q, r)
            assert index.match([HashValue(algorithm, q, 100)]) == want
            assert index.match_many([HashValue(algorithm, q, 100)]) == [want]
    state = index._indexes[algorithm]._state
    assert state.tables is not None
    if tail_rows == 40:  # folded into the tables: at most one tail's worth left to scan
        assert state.rows - state.tables.rows <= 40
    assert state.tables.rows > 3000  # rebuilt or extended


@pytest.mark.parametrize(("bits", "m"), [(256, 13), (256, 16), (64, 3), (64, 4)])
def test_folding_rows_into_the_tables_equals_building_them_anew(bits: int, m: int) -> None:
    rng = np.random.default_rng(8)
    values = clustered_set(rng, 5000, bits, 4)  # shared substrings: crowded buckets
    codes = matching.pack_hashes([v.tobytes().hex() for v in values], bits)
    spans = matching._partition(bits, m)
    tables = matching._Tables.build(codes, 3000, bits, spans)
    for rows in (3001, 3100, 5000):
        tables = tables.extended(codes, rows)
        fresh = matching._Tables.build(codes, rows, bits, spans)
        assert np.array_equal(tables.offsets, fresh.offsets)
        assert np.array_equal(tables.ids, fresh.ids)
        if bits == 64:  # one word: the hashes kept in the order of ids, too
            assert tables.codes is not None and fresh.codes is not None
            assert np.array_equal(tables.codes, fresh.codes)
            assert np.array_equal(tables.codes, codes[tables.ids.astype(np.intp), 0])
        else:
            assert tables.codes is None


def test_removed_entries_are_no_longer_matched() -> None:
    rng = np.random.default_rng(4)
    values = uniform_set(rng, 4000, 64)
    index, entries, cases = build("phash", values, 10)
    query = values[10].tobytes().hex()
    assert [m.entry_id for m in index.match([HashValue("phash", query)])] == [10]
    assert index.remove([10, 11, 10**9]) == 2
    assert len(index) == 3998
    assert not index.match([HashValue("phash", query)])
    assert [m.entry_id for m in index.match([HashValue("phash", values[12].tobytes().hex())])] == [
        12
    ]
    assert index.distance_to(10, HashValue("phash", query)) is None
    assert index.distance_to(12, HashValue("phash", query)) == int(
        np.unpackbits(values[12] ^ values[10]).sum()
    )
    assert index.match_many([HashValue("phash", query)]) == [[]]


def test_empty_index() -> None:
    for index in (MatchIndex({"pdq": 31, "phash": 10}), index_from_rows([])):
        assert len(index) == 0
        assert index.nbytes == 0
        rng = random.Random(0)
        hashes = [HashValue("pdq", random_hex(rng, 256), 100), HashValue("phash", "0" * 16)]
        assert index.match(hashes) == []
        assert index.match_many(hashes) == [[], []]
        assert index.distance_to(1, hashes[0]) is None
        assert index.remove([1]) == 0


def test_rows_loader_matches_references_and_rejects_bad_rows() -> None:
    rng = random.Random(6)
    refs = [
        Reference(i, i % 3, "pdq" if i % 2 else "phash", random_hex(rng, 256 if i % 2 else 64))
        for i in range(3000)
    ]
    refs.append(Reference(3000, 9, "pdq", refs[1].value.upper()))  # same hash, other case
    by_refs = MatchIndex({"pdq": 31, "phash": 10})
    by_refs.add(refs)
    by_rows = index_from_rows([(r.entry_id, r.case_id, r.algorithm, r.value) for r in refs])
    assert len(by_refs) == len(by_rows) == 3001
    hashes = [HashValue(r.algorithm, flip_bits(r.value.lower(), 3, rng), 100) for r in refs[:40]]
    assert by_rows.match(hashes) == by_refs.match(hashes) == by_refs.brute_force(hashes)
    assert {m.case_id for m in by_rows.match([HashValue("pdq", refs[1].value, 100)])} == {1, 9}

    for bad in ("zz" * 32, "ab" * 31, "ab" * 33, "ab " * 21 + "a"):
        with pytest.raises(ValueError, match="not a 256-bit hex hash"):
            by_rows.add_rows([(1, 1, "pdq", "00" * 32), (2, 1, "pdq", bad)])
    with pytest.raises(KeyError):
        by_rows.add([Reference(5000, 1, "nohash", "00")])
    assert len(by_rows) == 3001  # nothing half-added


# ------------------------------------------------------------ batches and distance_to


@pytest.mark.parametrize("kind", ["uniform", "clustered"])
def test_match_many_is_match_per_hash(kind: str) -> None:
    rng = np.random.default_rng(12)
    pdq = uniform_set(rng, 6000, 256) if kind == "uniform" else clustered_set(rng, 6000, 256, 20)
    phash = uniform_set(rng, 6000, 64) if kind == "uniform" else clustered_set(rng, 6000, 64, 5)
    rows = [(i, i % 7, "pdq", v.tobytes().hex()) for i, v in enumerate(pdq)]
    rows += [(10_000 + i, i % 7, "phash", v.tobytes().hex()) for i, v in enumerate(phash)]
    index = index_from_rows(rows)
    hashes = [HashValue("pdq", q, 100) for q in queries_for(rng, pdq, 31, 8)]
    hashes += [HashValue("phash", q) for q in queries_for(rng, phash, 10, 8)]
    hashes.insert(3, HashValue("pdq", hashes[0].value, 10))  # low quality: not matched
    hashes.insert(5, HashValue("nohash", "00", 100))  # unknown algorithm: not matched
    rng.shuffle(hashes)
    batched = index.match_many(hashes)
    assert len(batched) == len(hashes)
    assert batched == [index.match([h]) for h in hashes]
    assert batched == [index.brute_force([h]) for h in hashes]
    assert [m for ms in batched for m in ms] == index.match(hashes)
    assert sum(map(len, batched)) >= 8


@pytest.mark.parametrize("algorithm", ["pdq", "phash"])
def test_distance_to_is_the_exact_distance_to_one_entry(algorithm: str) -> None:
    rng = np.random.default_rng(13)
    bits = BITS[algorithm]
    values = clustered_set(rng, 5000, bits, 5)
    index, entries, _ = build(algorithm, values, 10, start=100)
    other = "phash" if algorithm == "pdq" else "pdq"
    index.add([Reference(1, 1, other, "ab" * (BITS[other] // 8))])
    for _ in range(30):
        i = int(rng.integers(0, len(values)))
        query = uniform_set(rng, 1, bits)[0] if rng.random() < 0.5 else near(rng, values[i], 7)
        want = int(np.unpackbits(values[i] ^ query).sum())
        value = HashValue(algorithm, query.tobytes().hex(), 100)
        assert index.distance_to(entries[i], value) == want
        assert index.distance_to(np.int64(entries[i]), value) == want
    value = HashValue(algorithm, values[0].tobytes().hex(), 0)  # no quality check
    assert index.distance_to(100, value) == 0
    assert index.distance_to(99, value) is None  # unknown
    assert index.distance_to(1, value) is None  # an entry of the other algorithm
    assert index.distance_to(100, HashValue("nohash", "00")) is None
    complement = HashValue(algorithm, (~values[0]).tobytes().hex(), 100)
    assert index.distance_to(100, complement) == bits  # never wrapped
    # added later: found at once, in the scanned tail and after the sorted ids are redone
    for k in range(3):
        count = 1 if k < 2 else matching.TAIL_ROWS + 5
        extra = uniform_set(rng, count, bits)
        start = 50_000 + 10_000 * k
        index.add(
            Reference(start + j, 2, algorithm, v.tobytes().hex()) for j, v in enumerate(extra)
        )
        last = HashValue(algorithm, extra[-1].tobytes().hex(), 100)
        assert index.distance_to(start + count - 1, last) == 0
        assert index.distance_to(100, last) == int(np.unpackbits(values[0] ^ extra[-1]).sum())
    index.remove([100])
    assert index.distance_to(100, value) is None
    with pytest.raises(ValueError):
        index.distance_to(101, HashValue(algorithm, "abc", 100))
