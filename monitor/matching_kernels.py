"""The inner loop of a multi-index query, compiled (numba).

A query at a million PDQ hashes probes ~1,400 buckets and checks ~1,400 candidates.
In numpy that is some 35 array calls whose fixed costs were half of the query's time;
compiled, what remains is the random memory reads themselves. The loops are staged
(every probe's bucket bounds, then every candidate's row number, then every candidate's
hash) rather than fused per candidate: each stage is a run of independent reads the
processor overlaps, where a fused loop waits on one read to make the next.

``cache=True`` keeps the compiled code beside this file (``__pycache__``), so only the
first process after an install pays the compilation (a few seconds).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx, x):  # type: ignore[no-untyped-def]
    """The number of set bits of a uint64 (one ``popcnt`` instruction)."""
    signature = types.uint64(types.uint64)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return signature, codegen


@numba.njit(cache=True, nogil=True)
def _bucket_bounds(query_bytes, starts, widths, bases, table, masks, offsets):  # type: ignore[no-untyped-def]
    """(first, end) positions in the tables' row arrays of every bucket the probes visit."""
    keys = np.empty(len(starts), np.int64)
    for j in range(len(starts)):
        start, width = starts[j], widths[j]
        first, last = start // 8, (start + width - 1) // 8
        acc = np.int64(0)
        for b in range(first, last + 1):
            acc = (acc << 8) | np.int64(query_bytes[b])
        acc >>= 8 * (last + 1) - start - width
        keys[j] = (acc & ((np.int64(1) << width) - 1)) | bases[j]
    probes = len(masks)
    lo = np.empty(probes, np.int64)
    hi = np.empty(probes, np.int64)
    for p in range(probes):
        bucket = keys[table[p]] ^ masks[p]
        lo[p] = offsets[bucket]
        hi[p] = offsets[bucket + 1]
    return lo, hi


@numba.njit(cache=True, nogil=True)
def _unique_rows(rows, dists, n):  # type: ignore[no-untyped-def]
    """The first n (row, distance) pairs, by row, each row once (a row is found
    through every table in which it is near the query)."""
    order = np.argsort(rows[:n])
    out_rows = np.empty(n, np.int64)
    out_dists = np.empty(n, np.int64)
    k = 0
    for i in order:
        if k == 0 or rows[i] != out_rows[k - 1]:
            out_rows[k] = rows[i]
            out_dists[k] = dists[i]
            k += 1
    return out_rows[:k], out_dists[:k]


@numba.njit(cache=True, nogil=True)
def candidate_rows(query_bytes, starts, widths, bases, table, masks, offsets, ids):  # type: ignore[no-untyped-def]
    """The row numbers (with repeats) in the buckets the probes visit."""
    lo, hi = _bucket_bounds(query_bytes, starts, widths, bases, table, masks, offsets)
    total = 0
    for p in range(len(lo)):
        total += hi[p] - lo[p]
    candidates = np.empty(total, np.int64)
    c = 0
    for p in range(len(lo)):
        for position in range(lo[p], hi[p]):
            candidates[c] = ids[position]
            c += 1
    return candidates


@numba.njit(cache=True, nogil=True)
def probe_rows(  # type: ignore[no-untyped-def]
    query_bytes, query, threshold, starts, widths, bases, table, masks, offsets, ids, codes
):
    """(rows, distances) within ``threshold`` among the candidates of the probed
    buckets, whose hashes are read from ``codes`` by row number."""
    candidates = candidate_rows(query_bytes, starts, widths, bases, table, masks, offsets, ids)
    total = len(candidates)
    words = codes.shape[1]
    rows = np.empty(total, np.int64)
    dists = np.empty(total, np.int64)
    n = 0
    for i in range(total):
        row = candidates[i]
        d = 0
        for w in range(words):
            d += np.int64(_popcount(codes[row, w] ^ query[w]))
        if d <= threshold:
            rows[n] = row
            dists[n] = d
            n += 1
    return _unique_rows(rows, dists, n)


@numba.njit(cache=True, nogil=True)
def probe_ordered(  # type: ignore[no-untyped-def]
    query_bytes, query, threshold, starts, widths, bases, table, masks, offsets, ids, ordered
):
    """The same for one-word hashes kept in table order beside the row numbers
    (``ordered[i]`` is the hash of row ``ids[i]``): a bucket's hashes are read as one
    run, and row numbers only for the matches."""
    lo, hi = _bucket_bounds(query_bytes, starts, widths, bases, table, masks, offsets)
    q = query[0]
    total = 0
    for p in range(len(lo)):
        total += hi[p] - lo[p]
    rows = np.empty(total, np.int64)
    dists = np.empty(total, np.int64)
    n = 0
    for p in range(len(lo)):
        for position in range(lo[p], hi[p]):
            d = np.int64(_popcount(ordered[position] ^ q))
            if d <= threshold:
                rows[n] = ids[position]
                dists[n] = d
                n += 1
    return _unique_rows(rows, dists, n)


_warm = False


def warm_up() -> None:
    """Compile (or load from the cache) both kernels for the index's usual array types,
    once per process: numba's first call costs about half a second even from its cache,
    better spent when an index is built than on a crawl's first images."""
    global _warm
    if _warm:
        return
    query_bytes = np.zeros(8, np.uint8)
    query_bytes.flags.writeable = False  # a query's bytes come from np.frombuffer
    query = np.zeros(1, np.uint64)
    query.flags.writeable = False
    small = np.zeros(1, np.int64)
    offsets = np.zeros(3, np.int32)
    ids = np.zeros(0, np.uint32)
    table = np.zeros(1, np.intp)
    for kernel, codes in (
        (probe_rows, np.zeros((1, 1), np.uint64)),
        (probe_ordered, np.zeros(0, np.uint64)),
    ):
        kernel(query_bytes, query, 0, small, small + 1, small, table, small, offsets, ids, codes)
    _warm = True
