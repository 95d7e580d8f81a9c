"""Matching image hashes against the reference hashes of open cases.

One index per algorithm answers threshold queries ("every reference within
distance r of this hash") with exactly the answers of brute force, in a small
fraction of its time. It is a multi-index hash (Norouzi, Punjani and Fleet,
"Fast search in Hamming space with multi-index hashing", CVPR 2012), in numpy:

* The B bits of a hash are cut into m substrings of about B/m bits, and each
  substring has a table (CSR layout: bucket offsets + row numbers) from its value
  to the rows holding that value.
* Pigeonhole: if two hashes differ in at most r bits, and every table j is given
  a radius r_j with sum(r_j + 1) >= r + 1, then some substring j differs in at
  most r_j bits (otherwise they would differ in at least r + 1 bits). So looking
  up every value within r_j bits of the query's substring j in table j, for
  every j, finds a superset of the answer: the *candidates*. Each candidate is
  then checked with its exact distance (XOR and popcount of the whole hash), so
  the result is exact for every r, never approximate. r_j = -1 skips a table.
* The substring width is about log2 of the number of rows, or up to 2 bits
  more where the cost model prefers it (10 to 24 bits): 12 tables of 21-22
  bits for a million PDQ hashes, 4 of 16 bits for a million pHashes; chosen
  again whenever the index has doubled since it was built.
* The radii are chosen per threshold, greedily from a cost model. The cost of
  a query grows steeply with the threshold (at a million PDQ hashes in 13
  tables, roughly 1 probe at r=0, 1,400 at 31, 14,000 at 48, 76,000 at 64,
  each probe bringing about one candidate). Past the threshold where the model says that scanning
  every row is cheaper, the query scans every row instead (PDQ: r >= 66 at a
  million rows, 70 at ten million; pHash: r >= 16, 18). Both paths are exact;
  only their speed depends on the threshold. See benchmarks/matching.py.
* A query's inner loop (every probe's bucket bounds, every candidate's row
  number and hash, the exact distances) is compiled with numba
  (``monitor.matching_kernels``); in numpy its ~35 array calls cost as much as
  the work. What remains is bound by random memory reads (about 15-20 ns each,
  overlapped, on the development machine): the bucket bounds of each probe, the
  row numbers, and each candidate's hash. For one-word hashes (pHash) the tables
  also keep the hashes themselves in table order (8 bytes a row per table), so
  the candidates of a bucket are read as one contiguous run and row numbers
  only for the matches. PDQ would need 32 bytes a row per table (12 tables), so
  its candidates are fetched by row number.
* ``match_many`` answers a batch, one list per hash. A vectorised batch (every
  probe of every query in a few numpy calls) was measured slower than one query
  at a time (its temporaries leave the caches), so it loops over the hashes.
* ``distance_to`` gives the exact distance to one reference entry in O(log n),
  by a sorted copy of the entry ids (made again once TAIL_ROWS rows were added).

New references are appended to a tail that every query scans by brute force,
so a reference added while a crawl runs is matched by the very next query. The
tail is folded into the tables once it holds ``TAIL_ROWS`` rows (an insert into
the CSR arrays, no sort), and the tables are rebuilt only when the index has
doubled, which keeps the cost of an addition amortised O(1) per reference.
Queries read an immutable snapshot, so adding from another thread is safe.

Only the packed hashes, the entry and case ids and the tables are kept: no
Python object per reference (PDQ: 231 bytes a hash at a million, pHash: 74;
the sorted entry ids of ``distance_to``, 16 bytes a hash, once it is used).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from operator import itemgetter
from typing import Any

import numpy as np

from monitor.hashing import ALGORITHMS, HashValue
from monitor.matching_kernels import candidate_rows, probe_ordered, probe_rows, warm_up


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


#: Rows added since the tables were last built, scanned by brute force, before
#: they are folded into the tables.
TAIL_ROWS = 2048
#: Bounds of a substring's width, in bits. The width is about log2 of the rows (or up to
#: EXTRA_SUBSTRING_BITS more), which makes a table's bucket offsets (4 bytes x 2**width)
#: about as large as its row numbers (4 bytes a row), or up to four times larger.
MIN_SUBSTRING_BITS = 10
MAX_SUBSTRING_BITS = 24
#: Substrings may be this many bits wider than log2 of the rows, when the cost model
#: finds it cheaper: at a million PDQ hashes, 12 tables of 21-22 bits instead of 13 of
#: 19-20 take 2,032 probes instead of 1,409 but bring half the candidates and a third
#: of the row reads: 14,000 q/s against 8,800-12,400 in the same run, for 231 MB
#: instead of 147 (benchmarks/matching.py).
EXTRA_SUBSTRING_BITS = 2

# The cost model: nanoseconds on one core, measured with benchmarks/matching.py.
# It chooses the substrings, the radii and when to scan instead; never the answers.
# A probe and a candidate are each about one random memory access (the offsets, the
# row numbers, the hash) plus their share of the numpy calls of a query.
_PROBE_NS = 50.0  # one bucket looked up
_CANDIDATE_NS = 60.0  # one candidate fetched, plus _WORD_NS for each 64-bit word compared
_WORD_NS = 4.0
_ORDERED_CANDIDATE_NS = 8.0  # one candidate of a one-word hash, read in table order
_TABLE_NS = 300.0  # a table's key, per query
_SCAN_ROW_NS = 1.0  # brute force: one row, plus _SCAN_WORD_NS for each word
_SCAN_WORD_NS = 3.0
_SCAN_CHUNK = 1 << 15


# --------------------------------------------------------------------------- helpers


def _hex_to_words(hexes: Sequence[str], nbytes: int, words: int) -> np.ndarray:
    """Hex strings of ``nbytes`` bytes each -> a (n, words) uint64 matrix, vectorised.

    The bytes keep the hex order in memory (word w holds bytes 8w..8w+7), so the
    matrix viewed as uint8 is the hashes' bytes, and popcount(a ^ b) is their
    Hamming distance whatever the machine's byte order.
    """
    n = len(hexes)
    nhex = 2 * nbytes
    try:
        raw = bytes.fromhex("".join(hexes))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != n * nbytes or any(len(h) != nhex for h in hexes):
        for h in hexes:  # name the first bad value
            try:
                ok = len(h) == nhex and len(bytes.fromhex(h)) == nbytes
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise ValueError(f"not a {nbytes * 8}-bit hex hash: {h!r}")
        raise ValueError("malformed hex hashes")  # pragma: no cover - caught above
    matrix = np.zeros((n, words * 8), dtype=np.uint8)
    matrix[:, :nbytes] = np.frombuffer(raw, dtype=np.uint8).reshape(n, nbytes)
    return matrix.view(np.uint64)


def _popcounts(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances between the rows of a (k, W) uint64 matrix and a query (W,).

    Few numpy calls, as a query's candidates are a few thousand rows: the query
    is repeated to the rows' shape (XOR of two contiguous arrays is much faster
    than a broadcast over a short inner axis), and the W per-word counts are
    added as bytes by one multiplication. Distances are exact up to 255; a
    distance of 256 (every bit differs, W = 4) reads as 0, which ``_exact``
    corrects for the few rows that pass the threshold.
    """
    count, words = rows.shape
    x = rows ^ np.repeat(query[None, :], count, axis=0)
    counts = np.bitwise_count(x)  # uint8 (k, W)
    if words == 1:
        return counts.reshape(count)
    if words == 4:
        packed = counts.view(np.uint32).reshape(count)  # the 4 counts of a row as bytes
        # byte 3 of (a + b<<8 + c<<16 + d<<24) * 0x01010101 is a+b+c+d mod 256: no
        # carry from the lower bytes, as their partial sums are at most 192.
        packed *= np.uint32(0x01010101)
        packed >>= np.uint32(24)
        return packed
    return counts.sum(axis=1, dtype=np.uint16)


def _exact(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Exact distances of a few rows (no wrap-around), as int64."""
    return np.bitwise_count(rows ^ query).sum(axis=1, dtype=np.int64)


def _scan(codes: np.ndarray, query: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: (rows, distances) of every row within ``threshold``, by chunks."""
    rows: list[np.ndarray] = []
    for start in range(0, len(codes), _SCAN_CHUNK):
        chunk = codes[start : start + _SCAN_CHUNK]
        d = _popcounts(chunk, query)
        hit = np.flatnonzero(d <= threshold)
        if len(hit):
            rows.append(hit + start)
    if not rows:
        return _EMPTY_ROWS, _EMPTY_DISTS
    found = np.concatenate(rows)
    d = _exact(codes[found], query)
    keep = d <= threshold
    return found[keep], d[keep]


_EMPTY_ROWS = np.empty(0, dtype=np.int64)
_EMPTY_DISTS = np.empty(0, dtype=np.int64)


@lru_cache(maxsize=256)
def _flip_masks(width: int, radius: int) -> np.ndarray:
    """Every ``width``-bit value with at most ``radius`` bits set (the XOR masks of a probe)."""
    masks = [0]
    for k in range(1, radius + 1):
        masks.extend(sum(1 << b for b in bits) for bits in combinations(range(width), k))
    return np.array(masks, dtype=np.int64)


def _partition(bits: int, m: int) -> list[tuple[int, int]]:
    """``m`` substrings (start bit, width) of nearly equal width covering ``bits``."""
    base, extra = divmod(bits, m)
    spans, start = [], 0
    for j in range(m):
        width = base + (1 if j < extra else 0)
        spans.append((start, width))
        start += width
    return spans


def _plan_radii(
    widths: Sequence[int], rows: int, threshold: int, words: int
) -> tuple[list[int], float]:
    """Radii per table with sum(r_j + 1) = threshold + 1 at the least estimated cost (ns).

    Greedy is optimal here: the marginal cost of each table's next radius grows
    with the radius (binomial coefficients rise up to width / 2, and a radius
    past that is never worth it against a scan).
    """
    radii = [-1] * len(widths)
    candidate = _ORDERED_CANDIDATE_NS if words == 1 else _CANDIDATE_NS + _WORD_NS * words
    per_probe = [_PROBE_NS + candidate * rows / 2.0**w for w in widths]
    cost = 0.0
    for _ in range(threshold + 1):
        best, best_cost = -1, math.inf
        for j, w in enumerate(widths):
            if radii[j] + 1 > w // 2:
                continue
            step = math.comb(w, radii[j] + 1) * per_probe[j]
            if step < best_cost:
                best, best_cost = j, step
        if best < 0:
            return radii, math.inf
        radii[best] += 1
        cost += best_cost
    return radii, cost


def _scan_cost(rows: int, words: int) -> float:
    return rows * (_SCAN_ROW_NS + _SCAN_WORD_NS * words)


# --------------------------------------------------------------------------- the tables


class _Plan:
    """The probes of one threshold: for each, its table and the XOR mask of its bucket."""

    __slots__ = ("masks", "probes", "table")

    def __init__(self, tables: _Tables, radii: Sequence[int]) -> None:
        table, masks = [], []
        for j, radius in enumerate(radii):
            if radius >= 0:
                m = _flip_masks(tables.widths[j], radius)
                table.append(np.full(len(m), j, dtype=np.intp))
                masks.append(m)
        self.table = np.concatenate(table)
        self.masks = np.concatenate(masks)
        self.probes = len(self.masks)


class _Tables:
    """The multi-index over rows [0, rows) of a code matrix. Never changed once built."""

    def __init__(
        self,
        bits: int,
        rows: int,
        spans: list[tuple[int, int]],
        offsets: np.ndarray,
        ids: np.ndarray,
        codes: np.ndarray | None = None,
    ) -> None:
        self.bits = bits
        self.rows = rows
        self.spans = spans
        self.widths = [w for _, w in spans]
        self.starts = np.array([s for s, _ in spans], dtype=np.int64)
        self.widths_array = np.array(self.widths, dtype=np.int64)
        # Table j's buckets are [base_j, base_j + 2**w_j) of one offsets array. The widths
        # never grow from one table to the next, so base_j is a multiple of 2**w_j, and
        # base_j + (key ^ mask) == (base_j | key) ^ mask: one operation less per probe.
        assert self.widths == sorted(self.widths, reverse=True)
        bases = [0]
        for w in self.widths[:-1]:
            bases.append(bases[-1] + (1 << w))
        self.bucket_base = np.array(bases, dtype=np.int64)
        self.offsets = offsets  # bucket g holds ids[offsets[g]:offsets[g + 1]]
        self.ids = ids  # row numbers, table after table, bucket after bucket, ascending
        # For one-word (64-bit) hashes, the hashes themselves in the order of ids: a
        # query's candidates are then checked by reading a few contiguous runs (one per
        # bucket) instead of one random row each, and ids are read only for the matches.
        self.codes = codes
        self._plans: dict[int, _Plan | None] = {}

    @property
    def nbytes(self) -> int:
        extra = self.codes.nbytes if self.codes is not None else 0
        return int(self.offsets.nbytes + self.ids.nbytes + extra)

    # -- building
    @staticmethod
    def choose_spans(bits: int, rows: int, threshold: int, words: int) -> list[tuple[int, int]]:
        widest = math.ceil(math.log2(rows + 1)) + EXTRA_SUBSTRING_BITS
        cap = min(MAX_SUBSTRING_BITS, max(MIN_SUBSTRING_BITS, widest))
        best: tuple[float, int] | None = None
        for m in range(math.ceil(bits / cap), max(2, bits // 8) + 1):
            widths = [w for _, w in _partition(bits, m)]
            _, cost = _plan_radii(widths, rows, threshold, words)
            cost += _TABLE_NS * m
            if best is None or cost < best[0]:
                best = (cost, m)
        assert best is not None
        return _partition(bits, best[1])

    @classmethod
    def build(
        cls, codes: np.ndarray, rows: int, bits: int, spans: list[tuple[int, int]]
    ) -> _Tables:
        warm_up()  # the queries' compiled loops, before the first query needs them
        raw = codes[:rows].view(np.uint8)
        row_bits = max(1, int(rows - 1).bit_length())
        row_mask = np.uint64((1 << row_bits) - 1)
        id_dtype = np.uint32 if rows < 2**32 else np.uint64
        ids = np.empty(rows * len(spans), dtype=id_dtype)
        words = codes.shape[1]
        ordered = np.empty(rows * len(spans), dtype=np.uint64) if words == 1 else None
        offsets = np.empty(sum(1 << w for _, w in spans) + 1, dtype=_offset_dtype(len(ids)))
        offsets[0] = 0
        numbers = np.arange(rows, dtype=np.uint64)
        bucket = 1
        for j, (start, width) in enumerate(spans):
            keys = _substring(raw, start, width)
            counts = np.bincount(keys.astype(np.intp), minlength=1 << width)
            np.cumsum(counts, out=counts)
            counts += j * rows
            offsets[bucket : bucket + (1 << width)] = counts
            bucket += 1 << width
            del counts
            # Sort by (key, row) in one go: row numbers ascending within a bucket.
            packed = (keys << np.uint64(row_bits)) | numbers
            del keys
            packed.sort()
            packed &= row_mask
            ids[j * rows : (j + 1) * rows] = packed
            if ordered is not None:
                ordered[j * rows : (j + 1) * rows] = codes[:rows, 0][packed.astype(np.intp)]
            del packed
        return cls(bits, rows, spans, offsets, ids, ordered)

    def extended(self, codes: np.ndarray, rows: int) -> _Tables:
        """These tables plus rows [self.rows, rows): an insert into the arrays, no sort
        of the old rows. Linear in the size of the tables (copies), not n log n."""
        raw = codes[self.rows : rows].view(np.uint8)
        new_rows = np.arange(self.rows, rows, dtype=self.ids.dtype)
        buckets = np.concatenate(
            [
                _substring(raw, start, width).astype(np.int64) + self.bucket_base[j]
                for j, (start, width) in enumerate(self.spans)
            ]
        )
        values = np.tile(new_rows, len(self.spans))
        order = np.argsort(buckets, kind="stable")  # by bucket, then row (already ascending)
        buckets, values = buckets[order], values[order]
        # Each new row goes at the end of its bucket ...
        where = self.offsets[buckets + 1]
        ids = np.insert(self.ids, where, values)
        ordered = None
        if self.codes is not None:
            ordered = np.insert(self.codes, where, codes[values.astype(np.intp), 0])
        # ... which moves the start of every later bucket g by #{new rows in buckets < g}:
        # 0 up to the first new row's bucket, then 1, 2, ... (np.repeat of the steps).
        steps = np.diff(np.concatenate([[0], buckets + 1, [len(self.offsets)]]))
        shift = np.repeat(np.arange(len(buckets) + 1, dtype=self.offsets.dtype), steps)
        offsets = self.offsets.astype(_offset_dtype(len(ids)), copy=True)
        offsets += shift
        return _Tables(self.bits, rows, self.spans, offsets, ids, ordered)

    # -- querying
    def plan(self, threshold: int, words: int) -> _Plan | None:
        """The probes for ``threshold``, or None when scanning every row is cheaper."""
        if threshold not in self._plans:
            radii, cost = _plan_radii(self.widths, self.rows, threshold, words)
            cheaper = cost < _scan_cost(self.rows, words)
            self._plans[threshold] = _Plan(self, radii) if cheaper else None
        return self._plans[threshold]

    def candidates(self, plan: _Plan, query: bytes) -> np.ndarray:
        """Row numbers (with repeats) in the buckets the plan probes around the query's
        bytes: what a query checks (the same compiled code), for tests and the benchmark."""
        return candidate_rows(
            np.frombuffer(query, dtype=np.uint8),
            self.starts,
            self.widths_array,
            self.bucket_base,
            plan.table,
            plan.masks,
            self.offsets,
            self.ids,
        )

    def probe(
        self, plan: _Plan, raw: bytes, query: np.ndarray, threshold: int, codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, distances) of the indexed rows within ``threshold`` of the query (its
        bytes and its words), compiled (``monitor.matching_kernels``)."""
        kernel = probe_ordered if self.codes is not None else probe_rows
        return kernel(
            np.frombuffer(raw, dtype=np.uint8),
            query,
            threshold,
            self.starts,
            self.widths_array,
            self.bucket_base,
            plan.table,
            plan.masks,
            self.offsets,
            self.ids,
            self.codes if self.codes is not None else codes,
        )


def _offset_dtype(total: int) -> type[np.signedinteger[Any]]:
    return np.int32 if total < 2**31 else np.int64


def _substring(raw: np.ndarray, start: int, width: int) -> np.ndarray:
    """Bits [start, start + width) of each row of a (n, bytes) uint8 matrix, as uint64."""
    first, last = start // 8, (start + width - 1) // 8
    acc = raw[:, first].astype(np.uint64)
    for b in range(first + 1, last + 1):
        acc = (acc << np.uint64(8)) | raw[:, b]
    acc >>= np.uint64(8 * (last + 1) - start - width)
    acc &= np.uint64((1 << width) - 1)
    return acc


# --------------------------------------------------------------------------- one algorithm


class _Snapshot:
    """What a query reads: arrays that later additions never change in rows [0, rows)."""

    __slots__ = ("alive", "cases", "codes", "entries", "rows", "tables")

    def __init__(
        self,
        codes: np.ndarray,
        entries: np.ndarray,
        cases: np.ndarray,
        alive: np.ndarray,
        rows: int,
        tables: _Tables | None,
    ) -> None:
        self.codes, self.entries, self.cases, self.alive = codes, entries, cases, alive
        self.rows, self.tables = rows, tables


class _AlgorithmIndex:
    def __init__(self, bits: int, design_threshold: int) -> None:
        if bits % 8:
            raise ValueError("hash lengths must be whole bytes")
        self.bits = bits
        self.nbytes = bits // 8
        self.words = -(-self.nbytes // 8)
        self.design_threshold = design_threshold
        self._lock = threading.Lock()
        # Entry ids of rows [0, upto) sorted, with their rows: (sorted ids, rows, upto).
        self._by_entry: tuple[np.ndarray, np.ndarray, int] | None = None
        self._live = 0
        self._removed = 0
        self._state = _Snapshot(
            np.zeros((0, self.words), dtype=np.uint64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=bool),
            0,
            None,
        )

    def __len__(self) -> int:
        return self._live

    @property
    def nbytes_used(self) -> int:
        """Bytes held for the rows and tables (capacity not yet used excluded)."""
        s = self._state
        per_row = self.words * 8 + 8 + 8 + 1
        return s.rows * per_row + (s.tables.nbytes if s.tables is not None else 0)

    # -- adding
    def add_arrays(self, entry_ids: np.ndarray, case_ids: np.ndarray, codes: np.ndarray) -> None:
        count = len(codes)
        if not (len(entry_ids) == len(case_ids) == count) or codes.shape[1:] != (self.words,):
            raise ValueError("entry ids, case ids and codes must have the same length")
        if count == 0:
            return
        with self._lock:
            s = self._state
            rows = s.rows + count
            codes_buf, entries, cases, alive = s.codes, s.entries, s.cases, s.alive
            if rows > len(codes_buf):  # grow by half: appends are amortised O(1)
                capacity = max(rows, len(codes_buf) * 3 // 2, 1024)
                codes_buf = _grown(codes_buf, capacity, s.rows)
                entries = _grown(entries, capacity, s.rows)
                cases = _grown(cases, capacity, s.rows)
                alive = _grown(alive, capacity, s.rows)
            # Rows past s.rows are unseen by every published snapshot: safe to write.
            codes_buf[s.rows : rows] = codes
            entries[s.rows : rows] = entry_ids
            cases[s.rows : rows] = case_ids
            alive[s.rows : rows] = True
            tables = s.tables
            indexed = tables.rows if tables is not None else 0
            tail = rows - indexed
            if tail > max(indexed, TAIL_ROWS):
                # Doubled since the last build (or first build): choose the substrings anew.
                spans = _Tables.choose_spans(self.bits, rows, self.design_threshold, self.words)
                tables = _Tables.build(codes_buf, rows, self.bits, spans)
            elif tail > TAIL_ROWS:
                assert tables is not None
                tables = tables.extended(codes_buf, rows)
            self._state = _Snapshot(codes_buf, entries, cases, alive, rows, tables)
            self._live += count

    def remove(self, entry_ids: Iterable[int]) -> int:
        """Stop matching these entries. Returns how many rows were removed."""
        wanted = np.fromiter(entry_ids, dtype=np.int64)
        if len(wanted) == 0:
            return 0
        with self._lock:
            s = self._state
            hit = np.flatnonzero(np.isin(s.entries[: s.rows], wanted) & s.alive[: s.rows])
            s.alive[hit] = False
            self._removed += len(hit)
            self._live -= len(hit)
            return len(hit)

    # -- querying
    def query(self, value: str, threshold: int) -> tuple[np.ndarray, np.ndarray, _Snapshot]:
        """(rows, distances, snapshot) of every reference within ``threshold``, in row order."""
        s = self._state
        if threshold < 0 or s.rows == 0:
            return _EMPTY_ROWS, _EMPTY_DISTS, s
        raw = bytes.fromhex(value)
        if len(raw) != self.nbytes:
            raise ValueError(f"not a {self.bits}-bit hex hash: {value!r}")
        query = np.frombuffer(raw.ljust(self.words * 8, b"\0"), dtype=np.uint64)
        tables = s.tables
        indexed = tables.rows if tables is not None else 0
        found: list[tuple[np.ndarray, np.ndarray]] = []
        if tables is not None:
            plan = tables.plan(threshold, self.words)
            if plan is None:
                found.append(_scan(s.codes[:indexed], query, threshold))
            else:
                found.append(tables.probe(plan, raw, query, threshold, s.codes))
        if s.rows > indexed:
            rows, d = _scan(s.codes[indexed : s.rows], query, threshold)
            found.append((rows + indexed, d))
        if not found:
            return _EMPTY_ROWS, _EMPTY_DISTS, s
        rows, d = found[0] if len(found) == 1 else map(np.concatenate, zip(*found, strict=True))
        if self._removed:  # drop removed rows
            alive = s.alive[rows]
            rows, d = rows[alive], d[alive]
        return rows, d, s

    def _query_words(self, value: str) -> np.ndarray:
        raw = bytes.fromhex(value)
        if len(raw) != self.nbytes:
            raise ValueError(f"not a {self.bits}-bit hex hash: {value!r}")
        return np.frombuffer(raw.ljust(self.words * 8, b"\0"), dtype=np.uint64)

    def row_of(self, entry_id: int) -> tuple[int, _Snapshot] | None:
        """The live row of an entry id, in O(log n): a sorted copy of the entry ids,
        made again once TAIL_ROWS rows were added after it; rows added since then are
        searched by a scan of those few rows."""
        s = self._state
        cache = self._by_entry
        if cache is None or s.rows - cache[2] > TAIL_ROWS:
            order = np.argsort(s.entries[: s.rows], kind="stable")
            cache = (s.entries[order], order, s.rows)
            self._by_entry = cache
        ids, order, upto = cache
        lo, hi = np.searchsorted(ids, entry_id, "left"), np.searchsorted(ids, entry_id, "right")
        rows = order[lo:hi].tolist()
        if s.rows > upto:
            rows += (np.flatnonzero(s.entries[upto : s.rows] == entry_id) + upto).tolist()
        for row in rows:
            if row < s.rows and s.alive[row]:  # (a newer snapshot may have made the cache)
                return row, s
        return None

    def brute_force(self, value: str, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        """The reference answer, by scanning every row: for tests and the benchmark."""
        s = self._state
        query = np.frombuffer(bytes.fromhex(value).ljust(self.words * 8, b"\0"), dtype=np.uint64)
        rows, d = _scan(s.codes[: s.rows], query, threshold)
        live = s.alive[rows]
        return rows[live], d[live]

    def describe(self) -> dict[str, Any]:
        s = self._state
        t = s.tables
        return {
            "rows": s.rows,
            "indexed": t.rows if t else 0,
            "tables": len(t.spans) if t else 0,
            "widths": t.widths if t else [],
            "bytes": self.nbytes_used,
        }


def _grown(array: np.ndarray, capacity: int, used: int) -> np.ndarray:
    grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[:used] = array[:used]
    return grown


# --------------------------------------------------------------------------- the public index


class MatchIndex:
    """Every reference hash of every open case, per algorithm, for exact threshold queries."""

    def __init__(self, thresholds: Mapping[str, int]) -> None:
        self.thresholds = dict(thresholds)
        self._indexes = {
            name: _AlgorithmIndex(a.bits, self.thresholds.get(name, a.default_threshold))
            for name, a in ALGORITHMS.items()
        }

    @classmethod
    def from_rows(cls, thresholds: Mapping[str, int], rows: Iterable[Sequence[Any]]) -> MatchIndex:
        """An index over rows of (entry_id, case_id, algorithm, hex): see ``add_rows``."""
        index = cls(thresholds)
        index.add_rows(rows)
        return index

    def add(self, refs: Iterable[Reference]) -> None:
        """Add references; each is matched by the next query (no rebuild needed)."""
        self.add_rows((r.entry_id, r.case_id, r.algorithm, r.value) for r in refs)

    def add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Add rows of (entry_id, case_id, algorithm, hex), e.g. straight from a SELECT.

        Vectorised: a million rows take about a second. Raises KeyError for an
        unknown algorithm and ValueError for a malformed hash, adding nothing.
        """
        rows = rows if isinstance(rows, list | tuple) else list(rows)
        if not rows:
            return
        # Columns by itemgetter: zip(*rows) is several times slower on a million rows.
        algorithms = list(map(itemgetter(2), rows))
        names = set(algorithms)
        for name in names:
            if name not in self._indexes:
                raise KeyError(name)
        column = np.array(algorithms) if len(names) > 1 else None
        batches = []
        for name in names:
            index = self._indexes[name]
            if column is None:
                picked: Sequence[Sequence[Any]] = rows
            else:
                where = np.flatnonzero(column == name).tolist()
                picked = [rows[where[0]]] if len(where) == 1 else itemgetter(*where)(rows)
            batches.append(
                (
                    index,
                    np.array(list(map(itemgetter(0), picked)), dtype=np.int64),
                    np.array(list(map(itemgetter(1), picked)), dtype=np.int64),
                    _hex_to_words(list(map(itemgetter(3), picked)), index.nbytes, index.words),
                )
            )
        for index, entries, cases, codes in batches:  # all parsed: nothing half-added
            index.add_arrays(entries, cases, codes)

    def add_arrays(
        self, algorithm: str, entry_ids: np.ndarray, case_ids: np.ndarray, codes: np.ndarray
    ) -> None:
        """Add hashes already packed as a (n, words) uint64 matrix (see ``pack_hashes``)."""
        self._indexes[algorithm].add_arrays(entry_ids, case_ids, codes)

    def remove(self, entry_ids: Iterable[int]) -> int:
        """Stop matching these hash entries (e.g. of a closed case). Returns rows removed."""
        wanted = list(entry_ids)
        return sum(index.remove(wanted) for index in self._indexes.values())

    def __len__(self) -> int:
        return sum(len(index) for index in self._indexes.values())

    @property
    def nbytes(self) -> int:
        return sum(index.nbytes_used for index in self._indexes.values())

    def describe(self) -> dict[str, dict[str, Any]]:
        return {name: index.describe() for name, index in self._indexes.items()}

    def _lookups(self, hashes: Iterable[HashValue]) -> Iterator[tuple[HashValue, Any, int]]:
        """(hash, its algorithm's index, threshold) for every hash that may be matched."""
        for value in hashes:
            algorithm = ALGORITHMS.get(value.algorithm)
            index = self._indexes.get(value.algorithm)
            if algorithm is None or index is None or not algorithm.usable(value):
                continue
            yield value, index, self.thresholds.get(value.algorithm, algorithm.default_threshold)

    def match(self, hashes: Iterable[HashValue]) -> list[Match]:
        """Every reference within its algorithm's threshold of one of ``hashes``: the
        matches of the first hash in row (insertion) order, then the second's, ..."""
        matches: list[Match] = []
        for value, index, threshold in self._lookups(hashes):
            matches.extend(_matches(value.algorithm, *index.query(value.value, threshold)))
        return matches

    def match_many(self, hashes: Iterable[HashValue]) -> list[list[Match]]:
        """``match`` per hash: one list for each of ``hashes``, in their order (empty for a
        hash that is not matched, e.g. of an unknown algorithm or too low a quality).

        Measured: a query is dominated by its random memory reads, not by Python or
        numpy overhead, so a batch costs the sum of its queries (see benchmarks/matching.py).
        """
        out: list[list[Match]] = []
        for value in hashes:
            found = list(self._lookups((value,)))
            if not found:
                out.append([])
                continue
            _, index, threshold = found[0]
            out.append(_matches(value.algorithm, *index.query(value.value, threshold)))
        return out

    def distance_to(self, entry_id: int, value: HashValue) -> int | None:
        """The exact distance between ``value`` and the reference hash entry ``entry_id``
        of the same algorithm; None if the index has no such live entry (unknown,
        removed, or of another algorithm). O(log n); raises ValueError for a malformed
        hash. Unlike ``match``, no threshold and no quality check apply."""
        index = self._indexes.get(value.algorithm)
        if index is None:
            return None
        query = index._query_words(value.value)
        found = index.row_of(int(entry_id))
        if found is None:
            return None
        row, snapshot = found
        return int(_exact(snapshot.codes[row : row + 1], query)[0])

    def brute_force(self, hashes: Iterable[HashValue]) -> list[Match]:
        """What ``match`` returns, computed by scanning every reference (tests, benchmark)."""
        matches: list[Match] = []
        for value, index, threshold in self._lookups(hashes):
            if threshold < 0:
                continue
            rows, distances = index.brute_force(value.value, threshold)
            s = index._state
            matches.extend(
                Match(int(s.entries[r]), int(s.cases[r]), value.algorithm, int(d))
                for r, d in zip(rows, distances, strict=True)
            )
        return matches


def _matches(algorithm: str, rows: np.ndarray, distances: np.ndarray, s: _Snapshot) -> list[Match]:
    if not len(rows):
        return []
    return [
        Match(e, c, algorithm, d)
        for e, c, d in zip(
            s.entries[rows].tolist(), s.cases[rows].tolist(), distances.tolist(), strict=True
        )
    ]


def pack_hashes(hexes: Sequence[str], bits: int) -> np.ndarray:
    """Hex hashes of ``bits`` bits -> the (n, words) uint64 matrix ``add_arrays`` takes."""
    nbytes = bits // 8
    return _hex_to_words(hexes, nbytes, -(-nbytes // 8))


def index_from_rows(
    rows: Iterable[Sequence[Any]], thresholds: Mapping[str, int] | None = None
) -> MatchIndex:
    """A MatchIndex over rows of (entry_id, case_id, algorithm, hex), loaded in bulk.

    ``thresholds`` defaults to each algorithm's default threshold.
    """
    if thresholds is None:
        thresholds = {name: a.default_threshold for name, a in ALGORITHMS.items()}
    return MatchIndex.from_rows(thresholds, rows)
