"""Video detection: the reference videos of every open case, kept up to date while a crawl runs.

A ``VideoDetector`` is to videos what ``monitor.detection.Detector`` is to images:

- the frame sequences of every reference video (hash entries of algorithm ``vpdq``,
  the original picture's and the mirrored one's) in a ``VideoIndex``, matched in
  order with time ranges (``monitor.video.matching``);
- every MD5 entry (StopNCII's and ThreatExchange's video hash, and the MD5 that
  ``monitor hashes add`` keeps of each file): a crawled video whose bytes have that
  MD5 is an exact copy, a hit at distance 0 whatever its frames say.

``load``/``refresh`` read the database (the crawl's database thread); ``detect`` only
reads memory.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from monitor.app import App
from monitor.db.models import Case, HashEntry
from monitor.detection import LoadResult
from monitor.hashing import FOREIGN_RULES
from monitor.hashing.pipeline import ORIGINAL
from monitor.hashlists import MD5
from monitor.video import VPDQ, VPDQ_VERSION, VideoHashes, frames_from_json
from monitor.video.matching import VideoIndex


@dataclass(frozen=True)
class VideoHit:
    """A crawled video that matched one entry of one case, and where."""

    entry_id: int
    case_id: int
    algorithm: str  # "vpdq" (frames in order) or "md5" (the same bytes)
    distance: int  # median PDQ distance of the matched frames; 0 for an MD5
    query_view: str  # "original", or "mirrored" when it matched her video flipped
    query_start: float | None = None  # seconds, in the crawled copy
    query_end: float | None = None
    ref_start: float | None = None  # seconds, in her video
    ref_end: float | None = None


class VideoDetector:
    def __init__(self) -> None:
        self.index = VideoIndex()
        self.last_id = 0
        self._md5: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._cases: dict[int, int] = {}  # entry id -> case id, for every entry held
        self._groups: dict[int, str] = {}  # entry id -> its video's group, where it has one
        self._open_cases: set[int] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cases)

    def load(self, app: App) -> LoadResult:
        """Add the entries stored since the last load; drop those of closed cases."""
        with self._lock:
            return self._load(app)

    refresh = load

    def _load(self, app: App) -> LoadResult:
        result = LoadResult()
        with app.db.session() as session:
            open_cases = set(session.scalars(select(Case.id).where(Case.status == "open")))
            closed = (self._open_cases or set()) - open_cases
            if closed:
                stale = {e for e, c in self._cases.items() if c in closed}
                result.removed = self.index.remove(stale)
                for entries in self._md5.values():
                    entries[:] = [(e, c) for e, c in entries if e not in stale]
                for entry_id in stale:
                    self._cases.pop(entry_id, None)
                    self._groups.pop(entry_id, None)
            self._open_cases = open_cases
            rows = session.execute(
                select(
                    HashEntry.id,
                    HashEntry.case_id,
                    HashEntry.algorithm,
                    HashEntry.value,
                    HashEntry.rules_version,
                    HashEntry.view,
                    HashEntry.frames,
                    HashEntry.group_key,
                )
                .join(Case, Case.id == HashEntry.case_id)
                .where(
                    Case.status == "open",
                    HashEntry.id > self.last_id,
                    HashEntry.algorithm.in_((VPDQ, MD5)),
                )
                .order_by(HashEntry.id)
            ).all()
        for entry_id, case_id, algorithm, value, version, view, frames, group in rows:
            self.last_id = max(self.last_id, entry_id)
            if algorithm == MD5:
                self._md5[value].append((entry_id, case_id))
            elif version not in (VPDQ_VERSION, FOREIGN_RULES) or not frames:
                result.older_rules += 1
                continue
            else:
                try:
                    sequence = frames_from_json(frames)
                except ValueError:
                    result.older_rules += 1
                    continue
                self.index.add(entry_id, case_id, sequence, view or ORIGINAL)
            self._cases[entry_id] = case_id
            if group:
                self._groups[entry_id] = group
            result.added += 1
        return result

    def detect(self, hashes: VideoHashes) -> list[VideoHit]:
        """The hits of one crawled video, one per reference video (its entries share a
        group: the frames of the picture and of its mirror image, and the file's MD5).

        An MD5 equal to the crawled bytes' is an exact copy: that hit (distance 0, the
        whole video when it was fetched whole) is kept over the frames' for its video.
        Otherwise the frames matched in order, the closest view."""
        whole = None if hashes.partial else hashes.duration
        found: dict[tuple[int, object], VideoHit] = {}
        for entry_id, case_id in self._md5.get(hashes.md5, ()):
            hit = VideoHit(entry_id, case_id, MD5, 0, ORIGINAL, 0.0, whole, 0.0, whole)
            found.setdefault(self._key(entry_id, case_id), hit)
        for match in self.index.match(hashes.frames):
            key = self._key(match.entry_id, match.case_id)
            best = found.get(key)
            if best is not None and (best.algorithm == MD5 or best.distance <= match.distance):
                continue
            found[key] = VideoHit(
                match.entry_id,
                match.case_id,
                VPDQ,
                match.distance,
                match.view,
                match.query_start,
                match.query_end,
                match.ref_start,
                match.ref_end,
            )
        return list(found.values())

    def _key(self, entry_id: int, case_id: int) -> tuple[int, object]:
        group = self._groups.get(entry_id)
        return (case_id, ("group", group) if group is not None else entry_id)
