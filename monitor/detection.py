"""Detection: the decision rule over the match index, kept up to date while a crawl runs.

A ``Detector`` is what a crawl matches with. It holds

- the decision rule (``monitor.hashing.rule.DecisionRule``): which views of a
  crawled image are looked up and which of the index's answers are hits;
- the ``MatchIndex`` over every usable reference hash of every open case, with,
  for each entry, the view of the reference image it is a hash of and the
  enrolled image it belongs to (its group), kept as arrays, not objects;
- for each group and view, its PDQ entry. The rule accepts a pHash match within 14
  when PDQ's plain hashes of the same two images agree within 64, and a pHash match
  within 8 between a reference crop and the plain query, or between the reference and a
  box found in the query, when PDQ of the same two views agrees within 80.
  Asking the index for every PDQ hash within 64 or 80 would make each lookup about
  40 times slower than within 31 (benchmarks/matching.py), so the index is asked at
  the distances that make hits on their own (PDQ 31, pHash 14), and PDQ's agreement
  is checked with ``MatchIndex.distance_to`` on the one entry concerned: the same
  decisions, exactly, as a lookup within 80;
- the id of the newest entry loaded: ``refresh`` adds what was stored since
  (a hash added while a crawl runs is matched by the next image looked up) and
  drops the entries of cases that were closed.

``load`` and ``refresh`` read the database (call them from the database thread);
``detect`` only reads memory and may run on any thread, at the same time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from monitor.app import App
from monitor.db.models import Case, HashEntry
from monitor.hashing import ALGORITHMS, FOREIGN_RULES, current_versions
from monitor.hashing import rule as rules
from monitor.hashing.pipeline import ORIGINAL
from monitor.hashing.rule import DecisionRule, QueryHash, ViewMatch
from monitor.matching import MatchIndex

logger = logging.getLogger(__name__)

#: Rows fetched from the database per round trip while loading.
LOAD_BATCH = 50_000


@dataclass
class LoadResult:
    added: int = 0
    removed: int = 0
    older_rules: int = 0  # entries made by older hashing rules: not matched


def lookup_thresholds() -> dict[str, int]:
    """The distances the index is asked at: every match the rule accepts on its own, every
    pHash match that PDQ's agreement can make a hit, every dHash match that pHash's and
    PDQ's can (``confirmations`` checks those agreements)."""
    return {
        "pdq": max(rules.PDQ_PLAIN, rules.PDQ_DERIVED),
        "phash": max(rules.PHASH_CONFIRMED, rules.PHASH_ALONE, rules.PHASH_CROP),
        "dhash": rules.DHASH_TRIPLE,
    }


class Detector:
    def __init__(self, rule: DecisionRule | None = None) -> None:
        self.rule = rule if rule is not None else DecisionRule()
        self.thresholds = lookup_thresholds()
        self.index = MatchIndex(self.thresholds)
        self.last_id = 0
        # Per entry, in entry-id order (ids only grow): group number and view number.
        self._ids = np.empty(0, dtype=np.int64)
        self._groups = np.empty(0, dtype=np.int64)
        self._views = np.empty(0, dtype=np.int32)
        self._group_numbers: dict[str, int] = {}
        self._view_names: list[str] = [ORIGINAL]
        self._view_numbers: dict[str, int] = {ORIGINAL: 0}
        self._open_cases: set[int] | None = None
        # (group number, view number, algorithm) -> its entry, for confirmations: PDQ of
        # every view, pHash of the plain view (dHash is never confirmed, only confirms).
        self._entries: dict[tuple[int, int, str], int] = {}
        self._lock = threading.Lock()  # one loader at a time; readers never wait

    def __len__(self) -> int:
        return len(self.index)

    # -------------------------------------------------------------- loading

    def load(self, app: App) -> LoadResult:
        """Add every entry stored since the last load (all of them the first time)."""
        with self._lock:
            return self._load(app)

    refresh = load

    def _load(self, app: App) -> LoadResult:
        result = LoadResult()
        current = current_versions()
        with app.db.session() as session:
            open_cases = set(session.scalars(select(Case.id).where(Case.status == "open")))
            if self._open_cases is not None and self._open_cases - open_cases:
                closed = self._open_cases - open_cases
                stale = session.scalars(
                    select(HashEntry.id).where(
                        HashEntry.case_id.in_(closed), HashEntry.id <= self.last_id
                    )
                ).all()
                result.removed = self.index.remove(stale)
            self._open_cases = open_cases
            query = (
                select(
                    HashEntry.id,
                    HashEntry.case_id,
                    HashEntry.algorithm,
                    HashEntry.value,
                    HashEntry.rules_version,
                    HashEntry.view,
                    HashEntry.group_key,
                )
                .join(Case, Case.id == HashEntry.case_id)
                .where(
                    Case.status == "open",
                    HashEntry.id > self.last_id,
                    # Exact file hashes (MD5) are kept for exchange, not matched.
                    HashEntry.algorithm.in_(sorted(ALGORITHMS)),
                )
                .order_by(HashEntry.id)
            )
            # Core rows, not ORM ones (several times faster on a million), added to the
            # index in one go at the end (one table build instead of one per batch).
            rows: list[Sequence[object]] = []
            connection = session.connection().execution_options(yield_per=LOAD_BATCH)
            last_id = self.last_id
            for batch in connection.execute(query).partitions(LOAD_BATCH):
                last_id = batch[-1][0]
                kept = [
                    row for row in batch if row[4] == FOREIGN_RULES or row[4] == current.get(row[2])
                ]
                result.older_rules += len(batch) - len(kept)
                rows.extend(kept)
            if rows:
                self._add(rows)
                result.added = len(rows)
            self.last_id = last_id
        if result.older_rules:
            logger.warning(
                "%d reference hashes were made by older hashing rules and are not matched;"
                " add their images again (monitor hashes add) to match them",
                result.older_rules,
            )
        return result

    def _add(self, rows: Sequence[Sequence[object]]) -> None:
        groups = self._group_numbers
        views = self._view_numbers
        names = self._view_names

        def view_number(name: object) -> int:
            number = views.get(name)  # type: ignore[call-overload]
            if number is None:
                number = views[str(name)] = len(names)
                names.append(str(name))
            return number

        group_column = np.fromiter(
            (-1 if r[6] is None else groups.setdefault(r[6], len(groups)) for r in rows),  # type: ignore[call-overload]
            dtype=np.int64,
            count=len(rows),
        )
        view_column = np.fromiter(
            (0 if r[5] == ORIGINAL else view_number(r[5]) for r in rows),
            dtype=np.int32,
            count=len(rows),
        )
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        for row, group, view in zip(rows, group_column.tolist(), view_column.tolist(), strict=True):
            if group >= 0 and (row[2] == "pdq" or row[2] == "phash" and view == 0):
                self._entries[group, view, row[2]] = row[0]  # type: ignore[index,assignment]
        # The metadata first, then the index: a reader never finds an entry without it.
        self._ids = np.concatenate([self._ids, ids])
        self._groups = np.concatenate([self._groups, group_column])
        self._views = np.concatenate([self._views, view_column])
        self.index.add_rows(rows)

    # -------------------------------------------------------------- matching

    def candidates(self, views: Sequence[QueryHash]) -> list[ViewMatch]:
        """Everything the index finds for every view, before the rule decides."""
        ids, groups, view_numbers, names = self._ids, self._groups, self._views, self._view_names
        found: list[ViewMatch] = []
        answers = self.index.match_many(query.value for query in views)
        for query, matches in zip(views, answers, strict=True):
            for match in matches:
                position = int(np.searchsorted(ids, match.entry_id))
                if position < len(ids) and ids[position] == match.entry_id:
                    number = int(groups[position])
                    group: int | None = None if number < 0 else number
                    reference_view = names[int(view_numbers[position])]
                else:  # not possible while metadata is written first; be safe anyway
                    group, reference_view = None, ORIGINAL
                found.append(
                    ViewMatch(
                        entry_id=match.entry_id,
                        group=group,
                        case_id=match.case_id,
                        algorithm=match.algorithm,
                        distance=match.distance,
                        query_view=query.view,
                        reference_view=reference_view,
                    )
                )
        return found

    def confirmations(
        self, views: Sequence[QueryHash], candidates: Sequence[ViewMatch]
    ) -> list[ViewMatch]:
        """The matches that the rule needs to confirm candidates and that the index, asked
        at the distances that make hits alone, did not return, from ``distance_to`` on the
        one entry concerned, when within the rule's limit: PDQ of the same two views for a
        pHash candidate that PDQ's agreement could make a hit (``rules.pair_pdq_limit``); pHash
        and PDQ of the plain views for a dHash candidate between them (``DHASH_TRIPLE``)."""
        wanted: dict[tuple[int, str, str, str], tuple[int, int]] = {}

        def want(
            group: int, query: str, reference: str, algorithm: str, limit: int, case: int
        ) -> None:
            key = (group, query, reference, algorithm)
            wanted[key] = (max(limit, wanted.get(key, (limit, case))[0]), case)

        for c in candidates:
            group = c.group
            if not isinstance(group, int):
                continue
            if c.algorithm == "phash":
                limit = rules.pair_pdq_limit(c.query_view, c.reference_view, c.distance)
                if limit is not None:
                    want(group, c.query_view, c.reference_view, "pdq", limit, c.case_id)
            elif (
                c.algorithm == "dhash" and rules.plain_pair(c) and c.distance <= rules.DHASH_TRIPLE
            ):
                want(group, ORIGINAL, ORIGINAL, "phash", rules.PHASH_TRIPLE, c.case_id)
                want(group, ORIGINAL, ORIGINAL, "pdq", rules.PDQ_TRIPLE, c.case_id)
        if not wanted:
            return []
        for c in candidates:
            wanted.pop((c.group, c.query_view, c.reference_view, c.algorithm), None)  # type: ignore[arg-type]
        values = {(q.view, q.value.algorithm): q.value for q in views}
        numbers = self._view_numbers
        extra: list[ViewMatch] = []
        for (group, query, reference, algorithm), (limit, case) in wanted.items():
            value = values.get((query, algorithm))
            entry = self._entries.get((group, numbers.get(reference, -1), algorithm))
            if value is None or entry is None:
                continue
            distance = self.index.distance_to(entry, value)
            if distance is not None and distance <= limit:
                extra.append(
                    ViewMatch(
                        entry_id=entry,
                        group=group,
                        case_id=case,
                        algorithm=algorithm,
                        distance=distance,
                        query_view=query,
                        reference_view=reference,
                    )
                )
        return extra

    def detect(self, views: Sequence[QueryHash]) -> list[ViewMatch]:
        """The hits among the index's answers for these views of one image: the rule's
        decision, then one hit per reference image (group), not one per hash of it.

        Of a group's hits the one kept is PDQ's if any (the field's reference hash, whose
        distance an analyst can compare across hits), the closest first."""
        candidates = self.candidates(views)
        if not candidates:
            return []
        candidates += self.confirmations(views, candidates)
        kept: dict[tuple[int, object], ViewMatch] = {}
        for hit in self.rule.decide(candidates):
            key = (hit.case_id, ("group", hit.group) if hit.group is not None else hit.entry_id)
            best = kept.get(key)
            if best is None or _preference(hit) < _preference(best):
                kept[key] = hit
        return list(kept.values())


def _preference(hit: ViewMatch) -> tuple[bool, int]:
    return (hit.algorithm != "pdq", hit.distance)
