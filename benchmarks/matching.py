"""Threshold queries of the match index against brute force, in the same run, on one core.

    .venv/bin/python benchmarks/matching.py [--size 1000000] [--queries 20000]

For PDQ (256 bits, threshold 31) and pHash (64 bits, threshold 10), each over
``--size`` references that are either uniform random or clustered (size/10
random centres with 10 variants each, differing in at most 20 PDQ / 5 pHash
bits), it prints:

  build time and memory of the index (array bytes, and tracemalloc),
  queries/s of ``MatchIndex.match`` (one hash per call; ``--near`` of the
  queries are near-duplicates at 0..threshold bits of a reference, the rest
  random), the median and spread of ``--repeats`` runs, and once more after the
  brute-force runs; the mean probes and candidates of a query; hashes/s of
  ``match_many`` on batches of ``--batch`` hashes (as the decision rule looks up
  a dozen or more hashes of an image); calls/s of ``distance_to``,
  queries/s of brute force: the project's previous index (XOR + popcount over a
  uint8 matrix) and the chunked numpy scan the index falls back to, and ratios,
  exactness: a sample of queries answered identically by the index and brute force,

then queries/s against the threshold for PDQ (where the index hands over to a
scan), additions to a built index, loading ``--db-rows`` rows from a real SQLite
database made by the project's migrations, and a projection to ``--project``
references. Figures are ratios against brute force measured in the same run, so
they carry from one machine to another better than the raw numbers. It runs on
one core (``--cpu``, default 1) and counts CPU time of this process only.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from itertools import repeat  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from monitor import matching  # noqa: E402
from monitor.db import Database, upgrade  # noqa: E402
from monitor.db.models import Case, HashEntry  # noqa: E402
from monitor.detection import Detector  # noqa: E402
from monitor.hashing import HashValue  # noqa: E402
from monitor.matching import MatchIndex, Reference, index_from_rows, pack_hashes  # noqa: E402

ALGORITHMS = {"pdq": (256, 31, 20), "phash": (64, 10, 5)}  # bits, threshold, cluster flips
THRESHOLDS = {name: t for name, (_, t, _) in ALGORITHMS.items()}


# ----------------------------------------------------------------------------- data


def uniform(rng: np.random.Generator, count: int, bits: int) -> np.ndarray:
    return rng.integers(0, 256, (count, bits // 8), dtype=np.uint8)


def flip(rng: np.random.Generator, values: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """values with flips[i] distinct random bits of row i inverted."""
    out = values.copy()
    bits = values.shape[1] * 8
    most = int(flips.max(initial=0))
    if most == 0:
        return out
    # distinct positions per row: the first `most` of a random permutation of the bits
    positions = np.argsort(rng.random((len(values), bits)), axis=1)[:, :most]
    for j in range(most):
        rows = np.flatnonzero(flips > j)
        p = positions[rows, j]
        out[rows, p // 8] ^= (1 << (p % 8)).astype(np.uint8)
    return out


def clustered(rng: np.random.Generator, count: int, bits: int, max_flips: int) -> np.ndarray:
    centres = uniform(rng, -(-count // 10), bits)
    values = np.repeat(centres, 10, axis=0)[:count]
    out = np.empty_like(values)
    for start in range(0, count, 100_000):  # bounded memory for the permutations
        chunk = values[start : start + 100_000]
        out[start : start + len(chunk)] = flip(
            rng, chunk, rng.integers(0, max_flips + 1, len(chunk))
        )
    return out


def to_hex(values: np.ndarray) -> list[str]:
    text = values.tobytes().hex()
    width = values.shape[1] * 2
    return [text[i : i + width] for i in range(0, len(text), width)]


def make_queries(
    rng: np.random.Generator, values: np.ndarray, threshold: int, count: int, near: float
) -> list[str]:
    """``near`` of them at 0..threshold bits of a random reference, the rest random."""
    n_near = int(count * near)
    picks = values[rng.integers(0, len(values), n_near)]
    chunks = [
        flip(rng, picks[i : i + 20_000], rng.integers(0, threshold + 1, len(picks[i : i + 20_000])))
        for i in range(0, n_near, 20_000)
    ]
    near_values = np.concatenate(chunks) if chunks else picks
    queries = np.concatenate([near_values, uniform(rng, count - n_near, values.shape[1] * 8)])
    return [queries[i].tobytes().hex() for i in rng.permutation(len(queries))]


# ------------------------------------------------------------------------ baselines


class PreviousIndex:
    """The project's index before the multi-index: XOR + popcount over every row."""

    def __init__(self, values: np.ndarray) -> None:
        self.matrix = values

    def query(self, value: str, threshold: int) -> set[tuple[int, int]]:
        query = np.frombuffer(bytes.fromhex(value), dtype=np.uint8)
        distances = np.bitwise_count(self.matrix ^ query).sum(axis=1, dtype=np.int32)
        rows = np.flatnonzero(distances <= threshold)
        return {(int(r), int(distances[r])) for r in rows}


def rate(fn: Callable[[Any], object], queries: Sequence[Any], seconds: float = 0.0) -> float:
    """Queries per CPU second over ``queries`` (or as many as fit in ``seconds``).

    CPU time of this process, not wall time: on a shared machine, time spent
    waiting for the core is not counted against either side.
    """
    gc.collect()
    done = 0
    start = time.process_time()
    for q in queries:
        fn(q)
        done += 1
        if seconds and time.process_time() - start > seconds:
            break
    return done / (time.process_time() - start)


def fmt_rate(value: float) -> str:
    return f"{value:>10,.0f} q/s" if value >= 100 else f"{value:>10,.1f} q/s"


def mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"


# ------------------------------------------------------------------------- sections


def bench_dataset(
    rng: np.random.Generator, algorithm: str, kind: str, args: argparse.Namespace
) -> dict[str, Any]:
    bits, threshold, max_flips = ALGORITHMS[algorithm]
    n = args.size
    values = uniform(rng, n, bits) if kind == "uniform" else clustered(rng, n, bits, max_flips)
    hexes = to_hex(values)
    entries = np.arange(1, n + 1, dtype=np.int64)
    cases = entries % 1000

    gc.collect()
    start = time.perf_counter()
    index = MatchIndex.from_rows(
        THRESHOLDS, zip(entries.tolist(), cases.tolist(), repeat(algorithm), hexes, strict=False)
    )
    build_rows = time.perf_counter() - start
    info = index.describe()[algorithm]

    # The same index from packed arrays, under tracemalloc: what it retains, and its peak.
    codes = pack_hashes(hexes, bits)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    packed = MatchIndex(THRESHOLDS)
    packed.add_arrays(algorithm, entries, cases, codes)
    build_arrays = time.perf_counter() - start
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del packed, codes

    queries = make_queries(rng, values, threshold, args.queries, args.near)
    hashes = [HashValue(algorithm, q, 100) for q in queries]
    for h in hashes[:50]:
        index.match([h])  # warm-up: plans, caches
    # Repeated: on a shared machine one run may be slowed by other work (memory, caches).
    runs = [rate(lambda q: index.match([q]), hashes) for _ in range(args.repeats)]
    index_rate = float(np.median(runs))
    batch = args.batch
    batches = [hashes[i : i + batch] for i in range(0, len(hashes), batch)]
    batch_runs = [rate(lambda b: index.match_many(b), batches) * batch for _ in range(args.repeats)]
    batch_rate = float(np.median(batch_runs))
    picks = rng.integers(1, n + 1, len(hashes)).tolist()
    pairs = list(zip(picks, hashes, strict=True))
    index.distance_to(*pairs[0])  # the sorted entry ids, made once
    distance_rate = rate(lambda p: index.distance_to(*p), pairs)
    assert all(
        index.distance_to(e, h)
        == int(np.unpackbits(values[e - 1] ^ np.frombuffer(bytes.fromhex(h.value), np.uint8)).sum())
        for e, h in pairs[:200]
    )

    state = index._indexes[algorithm]._state
    tables = state.tables
    plan = tables.plan(threshold, state.codes.shape[1]) if tables else None
    candidates = (
        np.mean([len(tables.candidates(plan, bytes.fromhex(q))) for q in queries[:2000]])
        if tables and plan
        else float(n)
    )
    previous = PreviousIndex(values)
    brute_queries = queries[: args.brute_queries]
    previous_rate = rate(lambda q: previous.query(q, threshold), brute_queries, 4.0)
    scan_rate = rate(
        lambda q: index.brute_force([HashValue(algorithm, q, 100)]), brute_queries, 4.0
    )
    # once more after the index's runs, for a ratio less skewed by other work
    late = rate(lambda q: index.match([q]), hashes[: len(hashes) // 2])

    sample = hashes[: args.check]
    same = sum(index.match([h]) == index.brute_force([h]) for h in sample)
    matches = sum(len(index.match([h])) for h in sample)
    independent = sum(
        {(m.entry_id - 1, m.distance) for m in index.match([h])}
        == previous.query(h.value, threshold)
        for h in sample[: args.independent]
    )

    print(f"== {algorithm}, {kind}, {n:,} references, threshold {threshold} ==")
    widths = info["widths"]
    print(
        f"  build from {n:,} hex rows     {build_rows:8.2f} s   (from packed arrays: "
        f"{build_arrays:.2f} s); {info['tables']} tables of {max(widths)}-{min(widths)} bits"
    )
    print(
        f"  index memory                {mb(index.nbytes):>10}  ({index.nbytes / n:.0f} B/hash); "
        f"tracemalloc: retained {mb(retained - base)}, peak {mb(peak - base)}"
    )
    print(
        f"  index, match([hash])        {fmt_rate(index_rate)}  median of {len(runs)} runs "
        f"(spread {min(runs):,.0f}-{max(runs):,.0f}; again after brute force: {late:,.0f}); "
        f"probes {plan.probes if plan else 0:,}, candidates {candidates:,.0f} per query"
    )
    print(
        f"  index, match_many({batch} hashes){fmt_rate(batch_rate)}  hashes/s, median of "
        f"{len(batch_runs)} runs (spread {min(batch_runs):,.0f}-{max(batch_runs):,.0f})"
    )
    print(f"  distance_to(entry, hash)    {fmt_rate(distance_rate)}  (exact on 200 checked)")
    print(f"  brute force, previous index {fmt_rate(previous_rate)}")
    print(f"  brute force, chunked scan   {fmt_rate(scan_rate)}")
    print(
        f"  speed-up                    {index_rate / previous_rate:10,.0f}x previous, "
        f"{index_rate / scan_rate:,.0f}x scan; target 10,000 q/s on one core: "
        f"{'met' if index_rate >= 10_000 else 'NOT met'} (x{index_rate / 10_000:.2f})"
    )
    print(
        f"  exact: {same}/{len(sample)} queries identical to brute force ({matches:,} matches), "
        f"{independent}/{min(len(sample), args.independent)} to the previous index"
    )
    assert same == len(sample) and independent == min(len(sample), args.independent)
    return {
        "index": index,
        "values": values,
        "queries": queries,
        "rate": index_rate,
        "spread": (min(runs), max(runs)),
        "batch_rate": batch_rate,
        "previous": previous_rate,
        "scan": scan_rate,
        "build": build_rows,
        "bytes": index.nbytes,
    }


def bench_thresholds(
    rng: np.random.Generator, result: dict[str, Any], args: argparse.Namespace
) -> None:
    index: MatchIndex = result["index"]
    values: np.ndarray = result["values"]
    state = index._indexes["pdq"]._state
    print("== pdq, uniform: queries/s against the threshold (the index is exact at every one) ==")
    print("  threshold  path    probes   candidates       index        scan   index/scan  exact")
    scan_rate = None
    for r in (0, 8, 16, 24, 31, 40, 48, 56, 64, 72, 80):
        index.thresholds["pdq"] = r
        queries = make_queries(rng, values, r, 1000, args.near)
        hashes = [HashValue("pdq", q, 100) for q in queries]
        tables = state.tables
        assert tables is not None
        plan = tables.plan(r, 4)
        cands = float(state.rows)
        if plan is not None:
            cands = float(
                np.mean([len(tables.candidates(plan, bytes.fromhex(q))) for q in queries[:100]])
            )
        index.match(hashes[:1])
        index_rate = rate(lambda h: index.match([h]), hashes, 1.5)
        if scan_rate is None or r in (31, 80):
            scan_rate = rate(lambda h: index.brute_force([h]), hashes, 1.5)
        same = all(index.match([h]) == index.brute_force([h]) for h in hashes[:10])
        print(
            f"  {r:>9}  {'index' if plan else 'scan':5} {plan.probes if plan else 0:>8,} "
            f"{cands:>12,.0f} {index_rate:>11,.0f} {scan_rate:>11,.0f} {index_rate / scan_rate:>11.1f}x"
            f"  {'yes' if same else 'NO'}"
        )
        assert same
    index.thresholds["pdq"] = THRESHOLDS["pdq"]


def bench_additions(rng: np.random.Generator, result: dict[str, Any]) -> None:
    index: MatchIndex = result["index"]
    values: np.ndarray = result["values"]
    queries: list[str] = result["queries"]
    n = len(values)
    inner = index._indexes["pdq"]
    print("== pdq, uniform: references added to the built index (no rebuild) ==")
    new = to_hex(uniform(rng, matching.TAIL_ROWS + 1001, 256))
    next_id = 10 * n
    timings = []
    for count in (1, 1, 1000):
        refs = [Reference(next_id + i, 7, "pdq", v) for i, v in enumerate(new[:count])]
        start = time.perf_counter()
        index.add(refs)
        timings.append(time.perf_counter() - start)
        hit = index.match([HashValue("pdq", new[count - 1], 100)])
        assert any(m.entry_id == next_id + count - 1 for m in hit), "added hash not matched"
        next_id += count
        new = new[count:]
    assert inner._state.tables is not None
    tail = inner._state.rows - inner._state.tables.rows
    hashes = [HashValue("pdq", q, 100) for q in queries[:5000]]
    tail_rate = rate(lambda h: index.match([h]), hashes)
    refs = [Reference(next_id + i, 7, "pdq", v) for i, v in enumerate(new)]
    start = time.perf_counter()
    index.add(refs)  # the tail passes TAIL_ROWS: folded into the tables
    fold = time.perf_counter() - start
    assert inner._state.tables is not None and inner._state.tables.rows == inner._state.rows
    assert any(
        m.entry_id == next_id + len(new) - 1 for m in index.match([HashValue("pdq", new[-1], 100)])
    )
    folded_rate = rate(lambda h: index.match([h]), hashes)
    print(
        f"  add 1 reference: {timings[0] * 1e3:.1f} ms the first time after a bulk load (the "
        f"arrays grow by half), then {timings[1] * 1e6:.0f} us; add 1,000: {timings[2] * 1e3:.1f} ms;"
        f" each matched by the very next query"
    )
    print(
        f"  with {tail:,} added rows in the scanned tail: {tail_rate:,.0f} q/s; folding "
        f"{matching.TAIL_ROWS + 1:,}+ rows into the tables: {fold:.2f} s; then {folded_rate:,.0f} q/s"
    )


def bench_database(rng: np.random.Generator, args: argparse.Namespace) -> dict[str, float]:
    rows = args.db_rows
    print(f"== loading {rows:,} hash entries (half PDQ, half pHash, 100 open cases) from SQLite ==")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(db)
        half = rows // 2
        values = sorted(to_hex(uniform(rng, half, 256))) + sorted(
            to_hex(uniform(rng, rows - half, 64))
        )
        now = datetime.now(UTC)
        start = time.perf_counter()
        with db.engine.begin() as connection:
            connection.execute(
                insert(Case), [{"name_enc": b"-", "status": "open"} for _ in range(100)]
            )
            # Rows of a case together, as a case's hashes are imported together; through
            # the driver's executemany (SQLAlchemy's per-row dicts take 3x longer).
            stamp = now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            connection.exec_driver_sql(
                "INSERT INTO hash_entries (case_id, algorithm, value, source, created_at,"
                " rules_version) VALUES (?, ?, ?, 'import', ?, 0)",
                [
                    (1 + (i * 100) // rows, "pdq" if i < half else "phash", value, stamp)
                    for i, value in enumerate(values)
                ],
            )
        insert_seconds = time.perf_counter() - start
        del values
        query = (
            select(HashEntry.id, HashEntry.case_id, HashEntry.algorithm, HashEntry.value)
            .join(Case, Case.id == HashEntry.case_id)
            .where(Case.status == "open")
        )
        gc.collect()
        # ORM objects, the way a crawl loaded them before monitor.detection.
        start = time.perf_counter()
        with db.session() as session:
            refs = [Reference(*row) for row in session.execute(query)]
        fetch_refs = time.perf_counter() - start
        start = time.perf_counter()
        by_refs = MatchIndex(THRESHOLDS)
        by_refs.add(refs)
        build_refs = time.perf_counter() - start
        del refs
        gc.collect()
        # What a crawl calls when it starts: Detector.load (Core rows in batches, the
        # rules-version filter, each entry's view and group, one index build).
        start = time.perf_counter()
        detector = Detector()
        detector.load(SimpleNamespace(db=db))  # type: ignore[arg-type]
        detector_load = time.perf_counter() - start
        assert len(detector) == rows
        del detector
        gc.collect()
        # Plain rows from a Core connection into the bulk loader.
        start = time.perf_counter()
        with db.engine.connect() as connection:
            plain = connection.execute(query).all()
        fetch_rows = time.perf_counter() - start
        start = time.perf_counter()
        by_rows = index_from_rows(plain, THRESHOLDS)
        build_rows = time.perf_counter() - start
        probe = [HashValue(a, v, 100) for _, _, a, v in plain[:: max(1, rows // 50)]]
        assert len(by_rows) == len(by_refs) == rows
        assert by_rows.match(probe) == by_refs.match(probe) and len(by_rows.match(probe)) >= len(
            probe
        )
        del plain
        db.dispose()
    print(f"  (inserting them: {insert_seconds:.1f} s, not part of loading)")
    print(
        f"  ORM session, Reference objects + MatchIndex.add:                 "
        f"{fetch_refs:.2f} s + {build_refs:.2f} s = {fetch_refs + build_refs:.2f} s"
    )
    print(
        f"  Core connection rows + index_from_rows:                          "
        f"{fetch_rows:.2f} s + {build_rows:.2f} s = {fetch_rows + build_rows:.2f} s"
    )
    print(
        f"  monitor.detection.Detector.load (what a crawl calls):            {detector_load:.2f} s"
    )
    return {"refs": fetch_refs + build_refs, "rows": fetch_rows + build_rows}


def projection(
    results: dict[tuple[str, str], dict[str, Any]],
    db: dict[str, float] | None,
    args: argparse.Namespace,
) -> None:
    target, n = args.project, args.size
    factor = target / n
    print(f"== projection to {target:,} references per algorithm (uniform; from the cost model) ==")
    total = 0.0
    for algorithm, (bits, threshold, _) in ALGORITHMS.items():
        result = results.get((algorithm, "uniform"))
        if result is None:
            continue
        words = -(-bits // 64)
        spans_now = matching._Tables.choose_spans(bits, n, threshold, words)
        spans = matching._Tables.choose_spans(bits, target, threshold, words)
        widths = [w for _, w in spans]
        # codes, entry and case ids, alive; a row number per table (and for one-word
        # hashes the hash itself again per table, in table order)
        per_row = words * 8 + 8 + 8 + 1 + (4 + (8 if words == 1 else 0)) * len(spans)
        memory = target * per_row + 4 * (sum(1 << w for w in widths) + 1)
        total += memory
        _, cost_now = matching._plan_radii([w for _, w in spans_now], n, threshold, words)
        _, cost = matching._plan_radii(widths, target, threshold, words)
        q = float(result["rate"]) * cost_now / cost
        scan = float(result["scan"]) / factor
        print(
            f"  {algorithm:5}: {len(spans)} tables of {max(widths)}-{min(widths)} bits, "
            f"{mb(memory)} ({memory / target:.0f} B/hash); build ~{float(result['build']) * factor:.0f} s; "
            f"~{q:,.0f} q/s (model: x{cost / cost_now:.1f} the cost at {n:,}); scan ~{scan:,.1f} q/s"
        )
    print(f"  both algorithms: {mb(total)}", end="")
    if db:
        rows = 2 * target
        print(f"; loading {rows:,} rows ~{db['rows'] * rows / args.db_rows:.0f} s (linear)")
    else:
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="references per algorithm")
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--near", type=float, default=0.5, help="fraction of near-duplicates")
    parser.add_argument(
        "--check", type=int, default=500, help="queries checked against brute force"
    )
    parser.add_argument("--independent", type=int, default=20, help="... and the previous index")
    parser.add_argument("--brute-queries", type=int, default=100)
    parser.add_argument("--db-rows", type=int, default=1_000_000)
    parser.add_argument("--project", type=int, default=10_000_000)
    parser.add_argument("--skip-db", action="store_true")
    parser.add_argument("--sets", default="uniform,clustered", help="uniform and/or clustered")
    parser.add_argument("--skip-thresholds", action="store_true")
    parser.add_argument("--cpu", type=int, default=1, help="the one core to run on")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the index's queries")
    parser.add_argument("--batch", type=int, default=16, help="hashes per match_many call")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    rng = np.random.default_rng(args.seed)
    print(
        f"matching benchmark: one core (CPU {args.cpu}), Python {platform.python_version()}, "
        f"numpy {np.__version__}; {args.queries:,} queries per set, {args.near:.0%} near-duplicates"
    )
    started = time.perf_counter()
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for algorithm in ALGORITHMS:
        for kind in args.sets.split(","):
            results[algorithm, kind] = bench_dataset(rng, algorithm, kind, args)
            if (algorithm, kind) == ("pdq", "uniform"):
                if not args.skip_thresholds:
                    bench_thresholds(rng, results[algorithm, kind], args)
                bench_additions(rng, results[algorithm, kind])
            # keep the figures, free the index and its data
            results[algorithm, kind].pop("index")
            results[algorithm, kind].pop("values")
            results[algorithm, kind].pop("queries")
            gc.collect()
    kind = args.sets.split(",")[0]
    pdq, phash = results["pdq", kind], results["phash", kind]
    image = 1 / (1 / float(pdq["rate"]) + 1 / float(phash["rate"]))
    previous = 1 / (1 / float(pdq["previous"]) + 1 / float(phash["previous"]))
    print(
        f"== per crawled image (one PDQ + one pHash query), {kind} sets: {image:,.0f} images/s "
        f"against {previous:,.1f} with the previous index ({image / previous:,.0f}x) =="
    )
    rule = 1 / (16 / float(pdq["batch_rate"]) + 1 / float(phash["batch_rate"]))
    print(
        f"== per crawled image as the decision rule asks (16 PDQ variants + one pHash): "
        f"{rule:,.0f} images/s =="
    )
    db = None if args.skip_db else bench_database(rng, args)
    projection(results, db, args)
    print(f"(benchmark ran {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
