"""Recall per transform family and false-positive rate, per matcher, on real photographs.

    .venv/bin/python benchmarks/robustness.py [--photos N] [--families a,b] [--jobs 2]
        [--matchers pdq,phash,dhash,rule] [--seed 1] [--cache DIR] [--json out.json]

1. Loads the photo set (``photoset.py``; built on first use into ~/.cache, never the repo).
2. For every photo and every family of ``transforms.FAMILIES`` makes a copy, in memory,
   encoded as a JPEG (quality 90) as a site would serve it.
3. Every matcher enrols every original (``enrol``: the reference, as a victim's hash list
   holds it) and looks up every original and every copy (``query``: as the crawler sees it).
4. Prints, per family, the recall (share of copies matched to *their own* reference),
   and the false-positive rate: pairs (photo i's query, photo j's reference), j != i, that
   match, over every such pair, for the originals and for the copies, with the number of
   pairs tested and the number of independent photo pairs behind the rate. A collage
   shows two or three other photos of the set: its matches with those are right, and are
   reported apart, not counted as false positives.

A matcher is any object with ``name``, ``enrol(image_bytes) -> ref``,
``query(image_bytes) -> q`` and ``matches(ref, q) -> bool``; one that also has
``match_matrix(refs, queries) -> bool array (len(queries), len(refs))`` is counted over
all pairs at numpy speed (``HashMatcher`` does it with packed bits and
``numpy.bitwise_count``), the others pair by pair. Built in: ``pdq`` (distance <= 31,
quality >= 50 on both sides), ``phash`` (<= 10) through the project's own
``monitor.hashing.hash_image_bytes``; ``dhash`` (imagehash, <= 10) on the project's
decoded image; and ``rule``, the project's decision rule (``monitor.hashing.rule``)
when it is there.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import photoset
import transforms

from monitor.hashing import ALGORITHMS, decode_image, hash_image_bytes

MAX_PIXELS = 200_000_000
COPY_QUALITY = 90  # JPEG quality the copies are served at


# --------------------------------------------------------------------------- matchers


class Matcher(Protocol):
    name: str

    def enrol(self, data: bytes) -> Any: ...

    def query(self, data: bytes) -> Any: ...

    def matches(self, ref: Any, query: Any) -> bool: ...


Ref = dict[str, bytes | None]  # algorithm -> hash bytes (None: too unreliable to store)
Query = dict[str, list[bytes]]  # algorithm -> the hashes an image is looked up with


class HashMatcher:
    """Hashes with per-algorithm Hamming thresholds: a query matches a reference when any
    of its hashes is within the threshold of the reference's hash of that algorithm."""

    name = "hash"
    thresholds: dict[str, int] = {}

    def enrol(self, data: bytes) -> Ref:
        raise NotImplementedError

    def query(self, data: bytes) -> Query:
        raise NotImplementedError

    def matches(self, ref: Ref, query: Query) -> bool:
        for algorithm, threshold in self.thresholds.items():
            value = ref.get(algorithm)
            if value is None:
                continue
            reference = int.from_bytes(value, "big")
            for candidate in query.get(algorithm, ()):
                if (reference ^ int.from_bytes(candidate, "big")).bit_count() <= threshold:
                    return True
        return False

    def match_matrix(self, refs: Sequence[Ref], queries: Sequence[Query]) -> np.ndarray:
        """matches(refs[j], queries[i]) for every i and j, as a bool array [i, j]."""
        result = np.zeros((len(queries), len(refs)), dtype=bool)
        for algorithm, threshold in self.thresholds.items():
            _or_matches(result, algorithm, threshold, refs, queries)
        return result


def _or_matches(
    result: np.ndarray,
    algorithm: str,
    threshold: int,
    refs: Sequence[Ref],
    queries: Sequence[Query],
) -> None:
    ref_values = [ref.get(algorithm) for ref in refs]
    width = next((len(v) for v in ref_values if v is not None), 0)
    if not width:
        return
    valid = np.array([v is not None for v in ref_values])
    packed_refs = np.frombuffer(
        b"".join(v or bytes(width) for v in ref_values), dtype=np.uint8
    ).reshape(len(refs), width)
    views, owners = [], []
    for index, query in enumerate(queries):
        for value in query.get(algorithm, ()):
            views.append(value)
            owners.append(index)
    if not views:
        return
    packed_views = np.frombuffer(b"".join(views), dtype=np.uint8).reshape(len(views), width)
    owner = np.array(owners)
    chunk = max(1, 30_000_000 // (len(refs) * width))  # ~30 MB of XORed bytes at a time
    for start in range(0, len(views), chunk):
        stop = min(start + chunk, len(views))
        xor = packed_views[start:stop, None, :] ^ packed_refs[None, :, :]
        distances = np.bitwise_count(xor).sum(axis=2, dtype=np.uint16)
        hits = (distances <= threshold) & valid[None, :]
        owners_here, first = np.unique(owner[start:stop], return_index=True)
        result[owners_here] |= np.logical_or.reduceat(hits, first, axis=0)


class ProjectHash(HashMatcher):
    """One of the project's algorithms, through ``hash_image_bytes`` (the crawler's path),
    at the algorithm's default threshold; hashes the algorithm deems unusable (PDQ quality
    below 50) are neither stored nor looked up."""

    #: Every ProjectHash's algorithm: one ``hash_image_bytes`` call computes them all for
    #: an image (one decode), and each matcher takes its own from it.
    shared: ClassVar[list[str]] = []
    _last: ClassVar[tuple[bytes, Any] | None] = None

    def __init__(self, algorithm: str) -> None:
        self.algorithm = ALGORITHMS[algorithm]
        self.name = algorithm
        self.thresholds = {algorithm: self.algorithm.default_threshold}
        if algorithm not in self.shared:
            self.shared.append(algorithm)

    def _hash(self, data: bytes) -> bytes | None:
        last = ProjectHash._last
        if last is None or last[0] is not data:  # the cache holds `data`: its id stays unique
            algorithms = [ALGORITHMS[name] for name in self.shared]
            last = ProjectHash._last = (
                data,
                hash_image_bytes(data, max_pixels=MAX_PIXELS, algorithms=algorithms),
            )
        value = last[1].get(self.name)
        assert value is not None
        return bytes.fromhex(value.value) if self.algorithm.usable(value) else None

    def enrol(self, data: bytes) -> Ref:
        return {self.name: self._hash(data)}

    def query(self, data: bytes) -> Query:
        value = self._hash(data)
        return {self.name: [value] if value is not None else []}


class DHash(HashMatcher):
    """imagehash.dhash (64 bits, <= 10) of the project's decoded image."""

    name = "dhash"
    thresholds = {"dhash": 10}

    def _hash(self, data: bytes) -> bytes:
        import imagehash

        image = decode_image(data, max_pixels=MAX_PIXELS).image
        return bytes.fromhex(str(imagehash.dhash(image)))

    def enrol(self, data: bytes) -> Ref:
        return {"dhash": self._hash(data)}

    def query(self, data: bytes) -> Query:
        return {"dhash": [self._hash(data)]}


class QueryHashesRule(HashMatcher):
    """The decision rule as ``monitor.hashing.rule.query_hashes`` states it: the reference
    is the image's PDQ and pHash; the query is every view ``query_hashes`` returns (PDQ's
    eight dihedral variants, the image with borders trimmed, pHash of the upright views),
    each matched at its algorithm's threshold."""

    name = "rule"

    def __init__(self, query_hashes: Any) -> None:
        self.query_hashes = query_hashes
        self.thresholds = {name: a.default_threshold for name, a in ALGORITHMS.items()}
        self.default_algorithms = [a for n, a in ALGORITHMS.items() if n in ("pdq", "phash")]

    def enrol(self, data: bytes) -> Ref:
        hashes = hash_image_bytes(data, max_pixels=MAX_PIXELS, algorithms=self.default_algorithms)
        return {
            v.algorithm: bytes.fromhex(v.value) if ALGORITHMS[v.algorithm].usable(v) else None
            for v in hashes.hashes
        }

    def query(self, data: bytes) -> Query:
        image = decode_image(data, max_pixels=MAX_PIXELS).image
        if image.mode != "RGB":  # the decoder now keeps luma only; query_hashes wants RGB
            image = image.convert("RGB")
        views: Query = {}
        for item in self.query_hashes(image):
            value = item.value
            if ALGORITHMS[value.algorithm].usable(value):
                views.setdefault(value.algorithm, []).append(bytes.fromhex(value.value))
        return views


def decision_rule() -> tuple[Matcher | None, str]:
    """The project's decision rule as a matcher, and a line saying what was found.

    The rule is tried on one sample image first: one that fails (the hashing code
    changing under it) is reported and left out rather than failing the run."""
    rule, note = _find_rule()
    if rule is None:
        return None, note
    sample = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(sample).save(buffer, "JPEG", quality=90)
    try:
        rule.matches(rule.enrol(buffer.getvalue()), rule.query(buffer.getvalue()))
    except Exception as exc:  # whatever it raises, the run goes on without it
        return (
            None,
            f"{note}\n  ...but it fails on a sample image, left out: {type(exc).__name__}: {exc}",
        )
    return rule, note


def _find_rule() -> tuple[Matcher | None, str]:
    try:
        from monitor.hashing.rule import DecisionRule  # type: ignore[attr-defined]
    except ImportError:
        DecisionRule = None
    if DecisionRule is not None:
        rule = DecisionRule()
        if all(hasattr(rule, attr) for attr in ("enrol", "query", "matches")):
            if not hasattr(rule, "name"):
                rule.name = "rule"
            return rule, "decision rule: monitor.hashing.rule.DecisionRule"
        return None, (
            "decision rule: DecisionRule found, but without enrol/query/matches "
            "(see robustness.py: decision_rule)"
        )
    try:
        from monitor.hashing.rule import query_hashes
    except ImportError:
        return None, "decision rule: not available"
    return QueryHashesRule(query_hashes), (
        "decision rule: no DecisionRule class yet; measured monitor.hashing.rule.query_hashes "
        "(dihedral PDQ + trimmed borders, pHash upright) against plain PDQ/pHash references"
    )


def build_matchers(names: Sequence[str]) -> tuple[list[Matcher], list[str]]:
    matchers: list[Matcher] = []
    notes: list[str] = []
    for name in names:
        if name in ("pdq", "phash"):
            matchers.append(ProjectHash(name))
        elif name == "dhash":
            if "dhash" in ALGORITHMS:  # the project's own, once registered
                matchers.append(ProjectHash("dhash"))
                notes.append("dhash: the project's (monitor.hashing ALGORITHMS['dhash'])")
            else:
                matchers.append(DHash())
                notes.append("dhash: imagehash.dhash on the project's decoded image")
        elif name == "rule":
            rule, note = decision_rule()
            notes.append(note)
            if rule is not None:
                matchers.append(rule)
        else:
            raise SystemExit(f"unknown matcher {name!r} (known: pdq, phash, dhash, rule)")
    return matchers, notes


# --------------------------------------------------------------------------- the run


@dataclass
class Setup:
    photos: list[photoset.Photo]
    families: list[str]
    matchers: list[Matcher]
    seed: int


_SETUP: Setup | None = None  # inherited by the worker processes (fork)


def _decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=COPY_QUALITY)
    return buffer.getvalue()


def process_photo(
    index: int,
) -> tuple[int, dict[str, Any], dict[str, Any], dict[str, dict[str, Any]], float, float]:
    """Reference, plain query and one query per family copy, for every matcher."""
    setup = _SETUP
    assert setup is not None
    data = setup.photos[index].data
    original = _decode(data)
    refs = {m.name: m.enrol(data) for m in setup.matchers}
    plain = {m.name: m.query(data) for m in setup.matchers}
    others: list[Image.Image] = []
    shown: list[int] = []  # the other photos the collage shows (matching them is no error)
    if "collage" in setup.families:
        rng = np.random.default_rng([setup.seed, index, 10_000])
        pool = [j for j in range(len(setup.photos)) if j != index]
        chosen = rng.choice(len(pool), size=min(transforms.OTHERS_NEEDED, len(pool)), replace=False)
        others = [_decode(setup.photos[pool[int(j)]].data) for j in chosen]
        # transforms.collage shows others[0..tiles-2]: 3 in a 2x2 grid (its generator's
        # first draw < 0.5), 2 in a row of three.
        grid = transforms.family_rng(setup.seed, index, "collage").random() < 0.5
        shown = [pool[int(j)] for j in chosen][: 3 if grid else 2]
    copies: dict[str, dict[str, Any]] = {}
    transform_time = hash_time = 0.0
    for family in setup.families:
        start = time.perf_counter()
        copy = _encode(
            transforms.apply(
                family, original, transforms.family_rng(setup.seed, index, family), others
            )
        )
        middle = time.perf_counter()
        copies[family] = {m.name: m.query(copy) for m in setup.matchers}
        transform_time += middle - start
        hash_time += time.perf_counter() - middle
    return index, refs, plain, copies, transform_time, hash_time, shown


def run(setup: Setup, jobs: int) -> dict[str, Any]:
    global _SETUP
    _SETUP = setup
    count = len(setup.photos)
    results: list[Any] = [None] * count
    start = time.perf_counter()
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for done, item in enumerate(
                pool.imap_unordered(process_photo, range(count), chunksize=2), 1
            ):
                results[item[0]] = item
                _progress(done, count, start)
    else:
        for done, index in enumerate(range(count), 1):
            results[index] = process_photo(index)
            _progress(done, count, start)
    print(file=sys.stderr)
    copy_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = score(setup, results)
    report["timings"] = {
        "copies_and_hashes_s": round(copy_seconds, 1),
        "transform_cpu_s": round(sum(r[4] for r in results), 1),
        "hash_copies_cpu_s": round(sum(r[5] for r in results), 1),
        "matching_s": round(time.perf_counter() - start, 1),
        "jobs": jobs,
    }
    return report


def _progress(done: int, total: int, start: float) -> None:
    if done % 10 == 0 or done == total:
        elapsed = time.perf_counter() - start
        print(f"\r  {done}/{total} photos, {elapsed:.0f} s", end="", file=sys.stderr, flush=True)


def _match_matrix(matcher: Matcher, refs: Sequence[Any], queries: Sequence[Any]) -> np.ndarray:
    fast = getattr(matcher, "match_matrix", None)
    if fast is not None:
        return np.asarray(fast(refs, queries), dtype=bool)
    return np.array([[matcher.matches(r, q) for r in refs] for q in queries], dtype=bool)


def score(setup: Setup, results: list[Any]) -> dict[str, Any]:
    count = len(results)
    off_diagonal = ~np.eye(count, dtype=bool)
    ordered_pairs = count * (count - 1)
    report: dict[str, Any] = {
        "photos": count,
        "families": setup.families,
        "independent_pairs": ordered_pairs // 2,
        "matchers": {},
    }
    for matcher in setup.matchers:
        name = matcher.name
        refs = [r[1][name] for r in results]
        plain = _match_matrix(matcher, refs, [r[2][name] for r in results])
        recall: dict[str, float] = {}
        fp_by_family: dict[str, int] = {}
        pairs_hit = plain & off_diagonal
        shown_found = 0
        for family in setup.families:
            matrix = _match_matrix(matcher, refs, [r[3][family][name] for r in results])
            recall[family] = float(np.diag(matrix).mean())
            wrong = matrix & off_diagonal
            if family == "collage":
                # A collage shows other photos of the set too: finding them is right.
                for i, r in enumerate(results):
                    for j in r[6]:
                        shown_found += int(wrong[i, j])
                        wrong[i, j] = False
            fp_by_family[family] = int(wrong.sum())
            pairs_hit |= wrong
        unusable = sum(
            1
            for ref in refs
            if isinstance(ref, dict) and ref and all(v is None for v in ref.values())
        )
        fp_plain = int((plain & off_diagonal).sum())
        fp_copies = sum(fp_by_family.values())
        report["matchers"][name] = {
            "recall": recall,
            "recall_mean": float(np.mean(list(recall.values()))) if recall else None,
            "self_match_unmodified": float(np.diag(plain).mean()),
            "unusable_references": unusable,
            "fp_unmodified": {
                "matches": fp_plain,
                "pairs": ordered_pairs,
                "rate": fp_plain / ordered_pairs if ordered_pairs else None,
            },
            "fp_copies": {
                "matches": fp_copies,
                "pairs": ordered_pairs * len(setup.families),
                "rate": fp_copies / (ordered_pairs * len(setup.families))
                if ordered_pairs and setup.families
                else None,
                "by_family": fp_by_family,
            },
            "photo_pairs_with_any_fp": int((pairs_hit | pairs_hit.T).sum() // 2),
            "collage_other_photos_found": shown_found,
        }
    return report


# --------------------------------------------------------------------------- the report


def _rate(matches: int, pairs: int, independent: int) -> str:
    if matches:
        return f"{matches / pairs:.2e} ({matches}/{pairs})"
    return f"0 (0/{pairs}; 95% bound < {3 / independent:.1e})"


def print_report(report: dict[str, Any], notes: Sequence[str], sources: str) -> None:
    names = list(report["matchers"])
    width = max(16, *(len(f) for f in report["families"]))
    print(
        f"\n{report['photos']} photos ({sources}), {len(report['families'])} families, "
        f"seed {report['seed']}"
    )
    for note in notes:
        print(note)
    print("\nrecall: share of copies matched to their own reference")
    print(f"{'family':<{width}}" + "".join(f"{n:>9}" for n in names))
    for family in report["families"]:
        print(
            f"{family:<{width}}"
            + "".join(f"{100 * report['matchers'][n]['recall'][family]:8.1f}%" for n in names)
        )
    print(
        f"{'mean':<{width}}"
        + "".join(f"{100 * report['matchers'][n]['recall_mean']:8.1f}%" for n in names)
    )
    print(
        f"{'(unmodified)':<{width}}"
        + "".join(f"{100 * report['matchers'][n]['self_match_unmodified']:8.1f}%" for n in names)
    )
    independent = report["independent_pairs"]
    print(
        f"\nfalse positives: photo i's query against photo j's reference, j != i "
        f"({independent} independent photo pairs, each tested both ways)"
    )
    for n in names:
        m = report["matchers"][n]
        unmodified, copies = m["fp_unmodified"], m["fp_copies"]
        worst = max(copies["by_family"].items(), key=lambda kv: kv[1], default=("-", 0))
        print(
            f"  {n:<6} unmodified: {_rate(unmodified['matches'], unmodified['pairs'], independent)}"
        )
        print(
            f"  {'':<6} copies:     {_rate(copies['matches'], copies['pairs'], independent)}"
            f"; photo pairs with any false match: {m['photo_pairs_with_any_fp']}"
            + (f"; most from {worst[0]} ({worst[1]})" if worst[1] else "")
        )
        if m.get("collage_other_photos_found"):
            print(
                f"  {'':<6} (not counted: {m['collage_other_photos_found']} matches of a "
                "collage with another photo that it shows)"
            )
        if m["unusable_references"]:
            print(
                f"  {'':<6} {m['unusable_references']} references too unreliable to store "
                "(counted as misses)"
            )
    t = report["timings"]
    print(
        f"\ntime: {t['copies_and_hashes_s']} s for copies and hashes on {t['jobs']} processes "
        f"(CPU: transforms {t['transform_cpu_s']} s, hashing copies {t['hash_copies_cpu_s']} s), "
        f"matching {t['matching_s']} s, total {report['total_s']} s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=None, help="use at most N photos")
    parser.add_argument(
        "--families",
        default=None,
        help="comma-separated families (default all: " + ",".join(transforms.FAMILIES) + ")",
    )
    parser.add_argument("--matchers", default="pdq,phash,dhash,rule")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=photoset.DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    families = args.families.split(",") if args.families else list(transforms.FAMILIES)
    unknown = [f for f in families if f not in transforms.FAMILIES]
    if unknown:
        raise SystemExit(f"unknown families: {', '.join(unknown)}")
    photos = photoset.load_photos(args.cache.expanduser(), args.photos)
    if len(photos) < 2:
        raise SystemExit("need at least two photos")
    matchers, notes = build_matchers(args.matchers.split(","))
    notes.append(f"transform assets: {transforms.assets().source}")
    print(
        f"{len(photos)} photos x {len(families)} families, matchers "
        f"{', '.join(m.name for m in matchers)}, {args.jobs} processes",
        file=sys.stderr,
    )
    report = run(Setup(photos, families, matchers, args.seed), max(1, args.jobs))
    report["seed"] = args.seed
    report["sources"] = {}
    for photo in photos:
        report["sources"][photo.source] = report["sources"].get(photo.source, 0) + 1
    report["notes"] = notes
    report["total_s"] = round(time.perf_counter() - started, 1)
    sources = ", ".join(
        f"{k} {v}" for k, v in sorted(report["sources"].items(), key=lambda kv: -kv[1])
    )
    print_report(report, notes, sources)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
