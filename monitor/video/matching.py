"""Matching a crawled video's frames against victims' reference videos, in order.

In the spirit of Meta's vPDQ (a per-frame PDQ distance threshold, then the share of
matched frames in the query and in the reference), with one addition: the matched
frames must be *in order*. Two videos that merely share a few similar pictures (a
still, a title card, a photo both show) would pass vPDQ's shares on a short query;
here they must share a stretch of time.

How a query is answered (``VideoIndex.match``):

1. Distances. Every usable query frame against every reference frame of every entry,
   brute force: XOR and popcount of the packed 256-bit hashes in numpy, the reference
   rows stored word-major (four contiguous uint64 rows), in blocks of query frames and
   reference rows so that the temporaries stay a few MB, half the bits first (see
   ``_pairs``). A 600-frame query against 73,000 reference frames (300 one-minute
   videos at 4 frames a second) takes 100-180 ms on one core of the development machine,
   a 20-frame one 2-7 ms (benchmarks/video.py); a multi-index would not pay at this size
   and with a threshold this wide. The pairs within ``frame_threshold`` are kept.
2. Candidates. Only the (entry, view) pairs whose matched query frames could reach the
   shares are aligned.
3. Alignment. Each query frame votes, with its nearest reference frames (those within
   ``VOTE_MARGIN`` bits of its smallest distance), for the offset r - q (reference time
   minus query time), in bins of ``OFFSET_BIN`` seconds. A centre's score is the number
   of distinct query frames with a vote within ``offset_tolerance`` of it (ties: the
   frames whose very nearest frame is within it, then the middle of the tied run). Only
   the nearest frames vote: where the picture changes slowly, a frame is also within the
   threshold of reference frames seconds away, and a piece shown in another order
   would join the alignment through them. A query frame is aligned when one of its
   votes is within the tolerance of the best centre. Copies are sampled at other
   instants than the reference (a copy trimmed by 2.4 s samples between the reference's
   samples; scene changes add samples of their own), so the tolerance is 1.25 s.
4. The aligned pairs give the match: the query frames matched (each with its nearest
   reference frame: the median of those distances is the match's distance), their time
   span in the query, the span of their reference frames, and the seconds of that
   reference span that hold a matched reference frame. ``ref_share`` is measured within
   the matched reference span, not over the whole reference, so that an excerpt (a
   minute out of twenty) matches, and per second of it rather than per frame, as a
   reference is sampled more densely than a crawled copy (``monitor.video.REFERENCE_FPS``
   4 a second against ``CRAWL_FPS`` 1: a copy's frame then always has a reference frame
   within an eighth of a second, where at 1 fps it may fall half a second away, which
   in a camera move is 30-100 PDQ bits). ``query_share`` is over the whole query, so
   that a video that shows a few seconds of the reference among unrelated minutes does
   not match.

Low-quality frames (PDQ quality under ``min_quality``: black, flat or nearly flat
pictures, whose hashes are noise and match each other) are left out on both sides:
never matched, never counted in a share.

A flipped copy matches the reference's ``mirrored`` view (the hashes of its frames
mirrored, added with ``view="mirrored"``); each entry is reported once, with its better
view.

The defaults, and why (benchmarks/video.py, 2026-11-29; see benchmarks/README.md: 8
reference videos and 12 distractors of camera moves over the 10 test photographs, 20 s,
640x360; 14 transforms of each reference: re-encoding down to 200 kbit/s, rescaling to
320x180, 15 and 24 fps, trimmed start and end, a 30 % excerpt, letterbox, watermark,
flip, all at once; 880 pairs of distinct videos, which share photographs):

- ``frame_threshold=31`` (PDQ's usual threshold for images): recall is the same from 24
  to 48 (112/112 with the other defaults), 105/112 at 16 (the combined transform moves
  frames 16-30 bits). Between distinct videos, the closest alignment held 2 frames in
  order at 31, 3 at 40 and 4 at 48: the order does most of the work, and 31 keeps it
  far from the minimums.
- ``min_quality=30``: black, fades (a frame at 10 % brightness: quality 12) and heavy
  blur (9) stay out, as in vPDQ; PDQ's own 50 also dropped real frames of textured or
  zoomed photographs (5 % of the set's frames are under 50, none under 30), which cost
  2 of the 8 excerpts (112/112 at 0-40, 110/112 at 50-60); dim phone footage, common
  here, scores in the 30-60s. A linear gradient scores 44: such frames are admitted, the
  order and shares decide.
- ``min_query_share=0.4``, ``min_ref_share=0.5``: the matched copies' lowest shares were
  0.56 (all transforms at once) and 0.63 (a trimmed start: the copy's samples fall
  between the reference's, in camera moves), their reference shares 0.60; distinct
  videos reached 0.17 at most. Recall is the same with both minimums anywhere from 0.3
  to 0.5 (112/112), and falls from 0.6 (111, 107 at 0.7, 102 at 0.8: vPDQ's 80 % would
  miss the harder copies). 0.4 also lets a copy with an intro or an outro of its own
  match, as long as the victim's video is 40 % of it.
- ``min_frames=4``, ``min_seconds=3.0``: distinct videos aligned at most 2 frames over 1 s
  (a shared photograph, a similar shot); with no minimums at all, 62 of the 880 pairs
  matched. A still that both videos hold for a few seconds matches only where it is
  40 % of the copy. Copies shorter than 3 s, or with fewer than 4 usable frames, are
  not matched (at 2 frames and 1 s recall is 112/112 and the shares still stop every
  distinct pair, but these reach exactly that: no margin).

Reads are lock-free: ``match`` reads one immutable snapshot; ``add`` and ``remove``
publish a new one under a lock (``add`` appends past the rows any snapshot reads, so a
snapshot's arrays never change under it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from monitor.matching import pack_hashes
from monitor.video import Frame

VIEWS = ("original", "mirrored")

#: Offsets (reference time - query time) are counted in bins of this many seconds.
OFFSET_BIN = 0.25
#: Pairs within this many seconds of the best offset are in the alignment.
OFFSET_TOLERANCE = 1.25
#: A query frame votes for (and is aligned by) the reference frames within this many
#: bits of its nearest one: re-encoding moves each hash by a few bits, so on a still
#: shot the nearest of several near-identical reference frames is a matter of noise.
VOTE_MARGIN = 6

FRAME_THRESHOLD = 31
MIN_QUALITY = 30
MIN_QUERY_SHARE = 0.4
MIN_REF_SHARE = 0.5
MIN_FRAMES = 4
MIN_SECONDS = 3.0

_WORDS = 4  # a PDQ hash: 256 bits
_FILTER_WORDS = 2  # words counted in the first pass (see _pairs)
_QUERY_BLOCK = 64  # query frames compared at once
_ROW_BLOCK = 8192  # reference rows compared at once: temporaries of 64 x 8192 x 8 bytes


@dataclass(frozen=True)
class VideoMatch:
    """A crawled video matched to one reference video (one hash entry)."""

    entry_id: int
    case_id: int
    view: str  # "original" or "mirrored": which of the reference's frame views matched
    distance: int  # median PDQ distance of the matched frames to their reference frames
    matched: int  # query frames matched in the alignment
    query_share: float  # matched / usable query frames
    ref_share: float  # reference frames matched / usable ones within the matched span
    query_start: float  # seconds, in the crawled copy
    query_end: float
    ref_start: float  # seconds, in the reference (the victim's video)
    ref_end: float


@dataclass(frozen=True)
class _Segment:
    """One view of one entry: its usable frames are rows [start, start + count)."""

    entry_id: int
    case_id: int
    view: str
    start: int
    count: int


class _Snapshot:
    """What ``match`` reads. Rows [0, rows) of the arrays never change once published."""

    __slots__ = ("codes", "nsegments", "rows", "segments", "seg_of_row", "times")

    def __init__(
        self,
        codes: np.ndarray,
        times: np.ndarray,
        seg_of_row: np.ndarray,
        rows: int,
        segments: list[_Segment],
    ) -> None:
        self.codes = codes  # (4, capacity) uint64, word-major
        self.times = times  # (capacity,) float64
        self.seg_of_row = seg_of_row  # (capacity,) int32: index into segments
        self.rows = rows
        self.segments = segments  # only appended to: readers use [0, nsegments)
        self.nsegments = len(segments)


def _empty_snapshot() -> _Snapshot:
    return _Snapshot(
        np.zeros((_WORDS, 0), dtype=np.uint64),
        np.zeros(0, dtype=np.float64),
        np.zeros(0, dtype=np.int32),
        0,
        [],
    )


def _usable(frames: Sequence[Frame], min_quality: int) -> list[Frame]:
    """The frames of at least ``min_quality``, in time order."""
    return sorted((f for f in frames if f.quality >= min_quality), key=lambda f: f.at)


def _pack(frames: Sequence[Frame]) -> np.ndarray:
    """Frames' PDQ hashes -> a (4, n) uint64 word-major matrix."""
    if not frames:
        return np.zeros((_WORDS, 0), dtype=np.uint64)
    return np.ascontiguousarray(pack_hashes([f.pdq for f in frames], 256).T)


def _pairs(
    query: np.ndarray, codes: np.ndarray, rows: int, threshold: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query frame, reference row, distance) of every pair within ``threshold``.

    Blocks of query frames x reference rows. The first pass counts the first
    ``_FILTER_WORDS`` words only (half the bits: their distance is at most the whole
    one, so no pair within the threshold is lost): two unrelated PDQ hashes differ in
    64 +- 6 of 128 bits, so hardly any pass 31, and the pass costs half of a whole
    comparison. Counts are summed in uint8; the few pairs that pass are counted again
    exactly, on every word.
    """
    nq = query.shape[1]
    found_q: list[np.ndarray] = []
    found_r: list[np.ndarray] = []
    if threshold < 0 or nq == 0 or rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    for r0 in range(0, rows, _ROW_BLOCK):
        r1 = min(rows, r0 + _ROW_BLOCK)
        block = codes[:, r0:r1]
        for q0 in range(0, nq, _QUERY_BLOCK):
            q1 = min(nq, q0 + _QUERY_BLOCK)
            x = np.bitwise_xor(block[0][None, :], query[0, q0:q1, None])
            d = np.bitwise_count(x)
            for w in range(1, _FILTER_WORDS):
                np.bitwise_xor(block[w][None, :], query[w, q0:q1, None], out=x)
                d += np.bitwise_count(x)
            hit = d <= threshold
            if hit.any():  # most blocks have no pair: skip the slower nonzero
                qi, ri = np.divmod(np.flatnonzero(hit), r1 - r0)
                found_q.append(qi + q0)
                found_r.append(ri + r0)
    if not found_q:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    qi = np.concatenate(found_q).astype(np.int64)
    ri = np.concatenate(found_r).astype(np.int64)
    exact = np.zeros(len(qi), dtype=np.int64)
    for w in range(_WORDS):
        exact += np.bitwise_count(query[w, qi] ^ codes[w, ri])
    keep = exact <= threshold
    return qi[keep], ri[keep], exact[keep]


def _support(qi: np.ndarray, bins: np.ndarray, half: int, width: int) -> np.ndarray:
    """For every offset bin (0..width-1), the distinct query frames with a pair (qi, bin)
    within ``half`` bins of it."""
    votes = np.unique(qi * width + bins)  # distinct (query frame, bin)
    vq, vb = np.divmod(votes, width)
    centres = (vb[:, None] + np.arange(-half, half + 1)[None, :]).ravel()
    support = np.unique(np.repeat(vq, 2 * half + 1) * width + centres) % width
    return np.bincount(support, minlength=width)


@dataclass(frozen=True)
class _Alignment:
    matched: int
    distance: int
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    ref_matched: int
    ref_usable: int


def _align(
    qi: np.ndarray,
    ri: np.ndarray,
    dist: np.ndarray,
    qtimes: np.ndarray,
    rtimes: np.ndarray,
    seg_times: np.ndarray,
    tolerance: float,
) -> _Alignment:
    """The best single-offset alignment of one segment's pairs (see the module docstring).

    ``ri`` are rows of the segment (0-based), ``seg_times`` the times of all its rows.
    """
    offsets = rtimes - qtimes
    bins = np.rint(offsets / OFFSET_BIN).astype(np.int64)
    half = int(round(tolerance / OFFSET_BIN))
    low = int(bins.min()) - half
    width = int(bins.max()) + half - low + 1
    # Each query frame votes with its nearest reference frames only (within VOTE_MARGIN
    # of its smallest distance): where the picture changes slowly, a frame is also within
    # the threshold of references seconds away, which would blur the offsets and let
    # pieces in another order join the alignment.
    nearest = np.full(int(qi.max()) + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(nearest, qi, dist)
    voting = dist <= nearest[qi] + VOTE_MARGIN
    # A centre's score: the query frames with a voting pair within the tolerance of it;
    # ties (a plateau as wide as the tolerance) are broken by the frames whose very
    # nearest pair is within it, and then by the middle of the tied run.
    score = _support(qi[voting], bins[voting] - low, half, width)
    exact = dist == nearest[qi]
    score = score * (len(qi) + 1) + _support(qi[exact], bins[exact] - low, half, width)
    top = np.flatnonzero(score == score.max())
    breaks = np.flatnonzero(np.diff(top) != 1)
    run = top[: breaks[0] + 1] if len(breaks) else top
    centre = int(run[len(run) // 2]) + low

    def pick(c: int) -> tuple[np.ndarray, np.ndarray]:
        """(every pair at the offset, each aligned query frame's nearest voting pair).

        A query frame is aligned when one of its voting pairs is at the offset: one whose
        nearest reference frames are elsewhere (a piece in another order, matching here
        only because the picture changes slowly) is not."""
        near = np.abs(bins - c) <= half
        inside = np.flatnonzero(near)
        members = np.flatnonzero(near & voting)
        # Per query frame its nearest pair (smallest distance, then nearest the centre).
        order = np.lexsort((np.abs(bins[members] - c), dist[members], qi[members]))
        ordered = members[order]
        first = np.ones(len(ordered), dtype=bool)
        first[1:] = qi[ordered][1:] != qi[ordered][:-1]
        return inside, ordered[first]

    inside, best = pick(centre)

    q_at = qtimes[best]
    r_at = rtimes[best]
    ref_start, ref_end = float(r_at.min()), float(r_at.max())
    # Counted per second of the reference, not per reference frame: a reference may be
    # sampled more densely than the query (monitor hashes add samples REFERENCE_FPS a
    # second, so that a copy sampled at other instants still meets a close frame), and
    # then most of its frames have no query frame near enough in time to match.
    span_rows = np.unique(ri[inside])
    span_times = seg_times[span_rows]
    within = (span_times >= ref_start) & (span_times <= ref_end)
    ref_matched = len(np.unique(np.floor(span_times[within] - ref_start)))
    usable = seg_times[(seg_times >= ref_start) & (seg_times <= ref_end)]
    ref_usable = len(np.unique(np.floor(usable - ref_start)))
    return _Alignment(
        matched=len(best),
        distance=int(np.rint(np.median(dist[best]))),
        query_start=float(q_at.min()),
        query_end=float(q_at.max()),
        ref_start=ref_start,
        ref_end=ref_end,
        ref_matched=ref_matched,
        ref_usable=max(ref_usable, 1),
    )


class VideoIndex:
    """Every reference video's sampled frames, for in-order matching of crawled videos."""

    def __init__(
        self,
        *,
        frame_threshold: int = FRAME_THRESHOLD,
        min_quality: int = MIN_QUALITY,
        min_query_share: float = MIN_QUERY_SHARE,
        min_ref_share: float = MIN_REF_SHARE,
        min_frames: int = MIN_FRAMES,
        min_seconds: float = MIN_SECONDS,
        offset_tolerance: float = OFFSET_TOLERANCE,
    ) -> None:
        self.frame_threshold = frame_threshold
        self.min_quality = min_quality
        self.min_query_share = min_query_share
        self.min_ref_share = min_ref_share
        self.min_frames = max(1, min_frames)
        self.min_seconds = min_seconds
        self.offset_tolerance = offset_tolerance
        self._lock = threading.Lock()
        self._state = _empty_snapshot()

    def __len__(self) -> int:
        """Entries (reference videos) held, whatever their views."""
        s = self._state
        return len({seg.entry_id for seg in s.segments[: s.nsegments]})

    @property
    def frames(self) -> int:
        """Reference frames held (usable ones, every view)."""
        return self._state.rows

    def add(
        self, entry_id: int, case_id: int, frames: Sequence[Frame], view: str = "original"
    ) -> None:
        """Add one view of a reference video: its frames (low-quality ones are dropped).

        Call again with ``view="mirrored"`` and the video's mirrored frames so that
        flipped copies match. Adding a view an entry already has adds its frames again
        as another segment; remove the entry first to replace it.
        """
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
        usable = _usable(frames, self.min_quality)
        packed = _pack(usable)  # before the lock: malformed hashes raise here
        times = np.array([f.at for f in usable], dtype=np.float64)
        count = len(usable)
        with self._lock:
            s = self._state
            segment = _Segment(entry_id, case_id, view, s.rows, count)
            rows = s.rows + count
            codes, all_times, seg_of_row = s.codes, s.times, s.seg_of_row
            if rows > codes.shape[1]:  # grow by half: appends are amortised O(1)
                capacity = max(rows, codes.shape[1] * 3 // 2, 4096)
                codes = _grown(codes, capacity, s.rows, axis=1)
                all_times = _grown(all_times, capacity, s.rows)
                seg_of_row = _grown(seg_of_row, capacity, s.rows)
            # Rows past s.rows are unseen by every published snapshot: safe to write.
            codes[:, s.rows : rows] = packed
            all_times[s.rows : rows] = times
            seg_of_row[s.rows : rows] = len(s.segments)
            # The list is shared with older snapshots, which never read past their length.
            segments = s.segments
            segments.append(segment)
            self._state = _Snapshot(codes, all_times, seg_of_row, rows, segments)

    def remove(self, entry_ids: Iterable[int]) -> int:
        """Stop matching these entries (every view). Returns how many entries were removed."""
        wanted = set(entry_ids)
        if not wanted:
            return 0
        with self._lock:
            s = self._state
            current = s.segments[: s.nsegments]
            gone = [seg for seg in current if seg.entry_id in wanted]
            if not gone:
                return 0
            kept = [seg for seg in current if seg.entry_id not in wanted]
            rows = sum(seg.count for seg in kept)
            codes = np.zeros((_WORDS, max(rows, 4096)), dtype=np.uint64)
            times = np.zeros(codes.shape[1], dtype=np.float64)
            seg_of_row = np.zeros(codes.shape[1], dtype=np.int32)
            segments: list[_Segment] = []
            at = 0
            for number, seg in enumerate(kept):
                end = at + seg.count
                codes[:, at:end] = s.codes[:, seg.start : seg.start + seg.count]
                times[at:end] = s.times[seg.start : seg.start + seg.count]
                seg_of_row[at:end] = number
                segments.append(_Segment(seg.entry_id, seg.case_id, seg.view, at, seg.count))
                at = end
            self._state = _Snapshot(codes, times, seg_of_row, rows, segments)
            return len({seg.entry_id for seg in gone})

    def match(self, frames: Sequence[Frame]) -> list[VideoMatch]:
        """The reference videos this video's frames match (at most one per entry, its
        better view), best first."""
        return self._match(frames, accept=True)

    def _match(self, frames: Sequence[Frame], *, accept: bool) -> list[VideoMatch]:
        s = self._state
        usable = _usable(frames, self.min_quality)
        if (accept and len(usable) < self.min_frames) or not usable or s.rows == 0:
            return []
        query = _pack(usable)
        qtimes = np.array([f.at for f in usable], dtype=np.float64)
        qi, ri, dist = _pairs(query, s.codes, s.rows, self.frame_threshold)
        if len(qi) == 0:
            return []
        need = max(self.min_frames, int(np.ceil(self.min_query_share * len(usable) - 1e-9)))
        if not accept:
            need = 1
        seg = s.seg_of_row[ri]
        order = np.argsort(seg, kind="stable")
        qi, ri, dist, seg = qi[order], ri[order], dist[order], seg[order]
        bounds = np.flatnonzero(np.diff(seg)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(seg)]))
        best: dict[int, VideoMatch] = {}
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            if len(np.unique(qi[a:b])) < need:
                continue
            segment = s.segments[int(seg[a])]
            rows = ri[a:b]
            seg_times = s.times[segment.start : segment.start + segment.count]
            al = _align(
                qi[a:b],
                rows - segment.start,
                dist[a:b],
                qtimes[qi[a:b]],
                s.times[rows],
                seg_times,
                self.offset_tolerance,
            )
            found = VideoMatch(
                entry_id=segment.entry_id,
                case_id=segment.case_id,
                view=segment.view,
                distance=al.distance,
                matched=al.matched,
                query_share=al.matched / len(usable),
                ref_share=al.ref_matched / al.ref_usable,
                query_start=al.query_start,
                query_end=al.query_end,
                ref_start=al.ref_start,
                ref_end=al.ref_end,
            )
            if accept and not self._accepted(found):
                continue
            kept = best.get(found.entry_id)
            if kept is None or (found.matched, -found.distance) > (kept.matched, -kept.distance):
                best[found.entry_id] = found
        return sorted(best.values(), key=lambda m: (-m.query_share, m.distance, m.entry_id))

    def explain(self, frames: Sequence[Frame]) -> list[VideoMatch]:
        """Every entry's best alignment, whether ``match`` accepts it or not (for the
        benchmark and the tests: what the thresholds decide on)."""
        return self._match(frames, accept=False)

    def _accepted(self, m: VideoMatch) -> bool:
        return (
            m.matched >= self.min_frames
            and m.query_end - m.query_start >= self.min_seconds
            and m.query_share >= self.min_query_share
            and m.ref_share >= self.min_ref_share
        )


def _grown(array: np.ndarray, capacity: int, used: int, axis: int = 0) -> np.ndarray:
    if axis == 0:
        grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
        grown[:used] = array[:used]
    else:
        grown = np.zeros((array.shape[0], capacity), dtype=array.dtype)
        grown[:, :used] = array[:, :used]
    return grown
