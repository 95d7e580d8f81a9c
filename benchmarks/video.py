"""Video matching: recall per transform, false hits among distinct videos, hashing and
matching speed, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/video.py [--quick] [--references 8] [--distractors 12]
        [--seconds 20] [--jobs 2] [--cache DIR] [--no-cache]

1. Reference videos (a victim's videos) and distractor videos (other videos) are camera
   moves over the real photographs of tests/data/photos (``monitor.video.synth``:
   a shot per photo, a pan and zoom each, hard cuts): each video takes 4 of the 10 photos
   in its own order, with its own moves (its seed). Only 10 photos: different videos
   share photos (other moves over the same picture), which is the hard case for false
   hits (two videos showing the same picture), not an easy one. 640x360, 30 fps, H.264.
2. Every reference is altered by each transform of TRANSFORMS (``synth.transform``):
   re-encoding at 1500k, 500k and 200k, rescaling to 480x270 and 320x180, 15 and 24 fps,
   the start trimmed, the end trimmed, a middle excerpt of 30 %, letterboxing (25 % of the
   height in black bars), a watermark, a horizontal flip, and all at once (flip, 500k,
   480x270, 24 fps, start trimmed, watermark).
3. Everything is hashed with ``monitor.video.hashing.hash_video``: the references as
   ``monitor.hashes`` enrols them (REFERENCE_FPS frames a second, with their mirrored
   frames), the copies and distractors as the crawler does (CRAWL_FPS); every reference
   is added to a ``VideoIndex`` (original and mirrored views), and every copy and every
   distractor is matched.
4. Printed: recall per transform (the copy matched to its own reference, with the right
   view), the error of the matched reference time range against the transform's
   (seconds), the median frame distance and the lowest shares among the matched; false
   hits among distinct videos (every copy against every reference but its source, every
   distractor against every reference) with the largest shares any such pair reached;
   the same at other thresholds (frame distance, shares, quality, minimums); the
   matching time (CPU) per query against an index padded to tens of thousands of frames,
   and against the time hashing the same videos took; and the decoding + hashing speed of a 720p
   H.264 video (1280x720, 30 fps, x264's default settings) at 1 sampled frame a second, on
   one core, in x real time, against decoding the same file with PyAV without hashing.

Built videos are cached in ~/.cache/ncii-monitor/video-bench (keyed by their parameters
and synth.py's source), never in the repository: a second run only hashes and matches.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.video import CRAWL_FPS, REFERENCE_FPS, Frame, VideoHashes, synth
from monitor.video.matching import VideoIndex, VideoMatch

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "tests" / "data" / "photos").glob("*.jpg"))
DEFAULT_CACHE = Path.home() / ".cache" / "ncii-monitor" / "video-bench"
SIZE = (640, 360)
FPS = 30
PHOTOS_PER_VIDEO = 4
MAX_PIXELS = 3840 * 2160


@dataclass(frozen=True)
class Transform:
    """A transform: synth.transform's arguments, and where the copy lies in its reference."""

    name: str
    options: Callable[[float], dict[str, Any]]  # duration -> transform() keywords
    span: Callable[[float], tuple[float, float]]  # duration -> reference seconds shown
    view: str = "original"


def _whole(seconds: float) -> tuple[float, float]:
    return (0.0, seconds)


def _trim_start(seconds: float) -> float:
    return round(seconds * 0.2 + 0.4, 1)  # between two samples of the reference


TRANSFORMS = [
    Transform("re-encode 1500k", lambda s: {"bitrate": 1_500_000}, _whole),
    Transform("re-encode 500k", lambda s: {"bitrate": 500_000}, _whole),
    Transform("re-encode 200k", lambda s: {"bitrate": 200_000}, _whole),
    Transform("rescale 480x270", lambda s: {"size": (480, 270)}, _whole),
    Transform("rescale 320x180", lambda s: {"size": (320, 180)}, _whole),
    Transform("fps 30->15", lambda s: {"fps": 15}, _whole),
    Transform("fps 30->24", lambda s: {"fps": 24}, _whole),
    Transform("trim start", lambda s: {"start": _trim_start(s)}, lambda s: (_trim_start(s), s)),
    Transform("trim end", lambda s: {"end": round(s * 0.6, 1)}, lambda s: (0.0, round(s * 0.6, 1))),
    Transform(
        "excerpt 30 %",
        lambda s: {"start": round(s * 0.35, 1), "end": round(s * 0.65, 1)},
        lambda s: (round(s * 0.35, 1), round(s * 0.65, 1)),
    ),
    Transform("letterbox 25 %", lambda s: {"letterbox": 0.25}, _whole),
    Transform("watermark", lambda s: {"watermark": "@reposted"}, _whole),
    Transform("flip", lambda s: {"flip": True}, _whole, view="mirrored"),
    Transform(
        "combined",
        lambda s: {
            "flip": True,
            "bitrate": 500_000,
            "size": (480, 270),
            "fps": 24,
            "start": _trim_start(s),
            "watermark": "@reposted",
        },
        lambda s: (_trim_start(s), s),
        view="mirrored",
    ),
]


# ----------------------------------------------------------------------------- building


def _synth_version() -> str:
    return hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest()[:12]


def _video_plan(kind: str, number: int) -> tuple[list[int], int]:
    """Which photos (indexes, in order) and which seed a reference or distractor uses."""
    seed = (1000 if kind == "distractor" else 0) + number
    rng = random.Random(f"{kind}-{number}")
    return rng.sample(range(len(PHOTOS)), PHOTOS_PER_VIDEO), seed


def _cached(cache: Path | None, key: str, build: Callable[[], bytes]) -> bytes:
    if cache is None:
        return build()
    path = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.mp4"
    if path.exists():
        return path.read_bytes()
    data = build()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def _camera(kind: str, number: int, seconds: float, cache: Path | None) -> bytes:
    photos, seed = _video_plan(kind, number)
    key = f"{_synth_version()} camera {photos} {seed} {seconds} {SIZE} {FPS}"
    return _cached(
        cache,
        key,
        lambda: synth.camera_video(
            [PHOTOS[i] for i in photos], seconds=seconds, fps=FPS, size=SIZE, seed=seed
        ),
    )


@dataclass
class Job:
    kind: str  # "reference", "distractor" or "copy"
    number: int  # the video's number (a copy: its reference's)
    transform: str = ""


@dataclass
class Hashed:
    job: Job
    hashes: VideoHashes
    seconds: float  # hashing CPU time (its worker process's)
    size: int


def _build_and_hash(args: tuple[Job, float, str | None]) -> Hashed:
    job, seconds, cache_dir = args
    from monitor.video.hashing import hash_video

    cache = Path(cache_dir) if cache_dir else None
    kind = "distractor" if job.kind == "distractor" else "reference"
    data = _camera(kind, job.number, seconds, cache)
    if job.kind == "copy":
        t = next(t for t in TRANSFORMS if t.name == job.transform)
        options = t.options(seconds)
        key = f"{_synth_version()} copy {job.number} {seconds} {sorted(options.items())}"
        source = data
        data = _cached(cache, key, lambda: synth.transform(source, **options))
    began = time.process_time()
    if job.kind == "reference":  # as monitor.hashes enrols a victim's video
        hashes = hash_video(data, max_pixels=MAX_PIXELS, fps=REFERENCE_FPS, mirrored=True)
    else:  # as the crawler hashes a video it finds
        hashes = hash_video(data, max_pixels=MAX_PIXELS, fps=CRAWL_FPS, fast=True)
    return Hashed(job, hashes, time.process_time() - began, len(data))


# ----------------------------------------------------------------------------- scoring


@dataclass
class Row:
    recall: int = 0
    total: int = 0
    time_errors: list[float] = field(default_factory=list)
    distances: list[int] = field(default_factory=list)
    query_shares: list[float] = field(default_factory=list)
    ref_shares: list[float] = field(default_factory=list)


def _own(matches: list[VideoMatch], entry: int, view: str) -> VideoMatch | None:
    return next((m for m in matches if m.entry_id == entry and m.view == view), None)


def score(
    index: VideoIndex,
    copies: list[Hashed],
    distractors: list[Hashed],
    seconds: float,
) -> tuple[dict[str, Row], int, int, list[VideoMatch], list[float]]:
    """Per-transform rows, false hits, pairs tested, the false pairs' best alignments
    (``explain``), and every query's matching time."""
    rows = {t.name: Row() for t in TRANSFORMS}
    false_hits = 0
    pairs = 0
    near_misses: list[VideoMatch] = []
    times: list[float] = []
    references = len(index)
    for h in copies + distractors:
        frames = h.hashes.frames
        began = time.perf_counter()
        matches = index.match(frames)
        times.append(time.perf_counter() - began)
        source = h.job.number if h.job.kind == "copy" else -1
        false_hits += sum(1 for m in matches if m.entry_id != source)
        pairs += references - (1 if source >= 0 else 0)
        near_misses += [m for m in index.explain(frames) if m.entry_id != source]
        if h.job.kind != "copy":
            continue
        t = next(t for t in TRANSFORMS if t.name == h.job.transform)
        row = rows[t.name]
        row.total += 1
        m = _own(matches, source, t.view)
        if m is None:
            continue
        row.recall += 1
        start, end = t.span(seconds)
        # the reference's last sample is within a second of its end
        row.time_errors.append(max(abs(m.ref_start - start), max(0.0, abs(m.ref_end - end) - 1.0)))
        row.distances.append(m.distance)
        row.query_shares.append(m.query_share)
        row.ref_shares.append(m.ref_share)
    return rows, false_hits, pairs, near_misses, times


def _index(references: list[Hashed], **options: Any) -> VideoIndex:
    index = VideoIndex(**options)
    for h in references:
        index.add(h.job.number, 1, h.hashes.frames)
        index.add(h.job.number, 1, h.hashes.mirrored, view="mirrored")
    return index


# ----------------------------------------------------------------------------- speed


def _pin_one_core() -> str:
    try:
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {allowed[0]})
        return f"pinned to core {allowed[0]}"
    except (AttributeError, OSError):
        return "NOT pinned to one core"


def _decode_only(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream))


def _cpu(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        fn()
        best = min(best, time.process_time() - began)
    return best


def speed(seconds: float, cache: Path | None, repeats: int) -> None:
    """Decoding + hashing of 720p H.264 on one core against PyAV decoding every frame,
    at x264's defaults (which the camera moves make a small file) and at 4 Mbit/s (what
    720p footage online runs at): the crawl's side (1 fps, fast: B-frames skipped), and
    the reference side (4 fps and the mirror image's frames)."""
    from monitor.video.hashing import hash_video

    photos, seed = _video_plan("reference", 99)
    where = _pin_one_core()
    for label, bitrate in (
        ("x264 defaults: preset medium, crf 23", None),
        ("x264 defaults at 4 Mbit/s", 4_000_000),
    ):
        key = f"{_synth_version()} camera720 {photos} {seed} {seconds} {bitrate}"
        data = _cached(
            cache,
            key,
            lambda bitrate=bitrate: synth.camera_video(
                [PHOTOS[i] for i in photos],
                seconds=seconds,
                fps=30,
                size=(1280, 720),
                seed=seed,
                bitrate=bitrate,
                encoder_options={},  # x264's defaults (preset medium, B-frames)
            ),
        )
        frames = _decode_only(data)
        hashes = hash_video(data, max_pixels=MAX_PIXELS)  # warm: imports, first-use caches
        base = _cpu(lambda data=data: _decode_only(data), repeats)
        crawl = _cpu(lambda data=data: hash_video(data, max_pixels=MAX_PIXELS, fast=True), repeats)
        plain = _cpu(lambda data=data: hash_video(data, max_pixels=MAX_PIXELS), repeats)
        reference = _cpu(
            lambda data=data: hash_video(
                data, max_pixels=MAX_PIXELS, fps=REFERENCE_FPS, mirrored=True
            ),
            repeats,
        )
        print(
            f"\nDecoding + hashing, 1280x720 H.264 30 fps ({label}), {seconds:g} s,"
            f" {frames} frames, {len(data) / 1e6:.1f} MB ({len(data) * 8 / seconds / 1e6:.1f}"
            f" Mbit/s); {where}, CPU time, best of {repeats}:"
        )
        rows = [
            ("baseline: PyAV decode, every frame, no hashing", base),
            (f"crawl: 1 fps, fast ({len(hashes.frames)} frames hashed)", crawl),
            ("1 fps, not fast (non-reference frames skipped)", plain),
            (f"reference side: {REFERENCE_FPS:g} fps + mirrored", reference),
        ]
        for name, cpu in rows:
            print(
                f"  {name:<50} {seconds / cpu:6.1f}x real time  {frames / cpu:7.1f} frames/s"
                f"  {base / cpu:5.2f}x the baseline"
            )


# ----------------------------------------------------------------------------- main


def _pad(index: VideoIndex, videos: int, frames: int) -> None:
    """Unrelated reference videos of random hashes, so that the index holds tens of
    thousands of frames as a real one would."""
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, (videos * frames, 32), dtype=np.uint8)
    for v in range(videos):
        chunk = raw[v * frames : (v + 1) * frames]
        index.add(
            100_000 + v,
            2,
            [Frame(float(t), row.tobytes().hex(), 90) for t, row in enumerate(chunk)],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 references, 2 distractors, 12 s")
    parser.add_argument("--references", type=int, default=8)
    parser.add_argument("--distractors", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each video")
    parser.add_argument("--speed-seconds", type=float, default=20.0, help="the 720p video")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help=f"keep the videos built (made from the photos) in this folder, e.g. {DEFAULT_CACHE};"
        " by default nothing is written",
    )
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.references, args.distractors, args.seconds, args.speed_seconds = 2, 2, 12.0, 6.0
    cache = None if args.no_cache else args.cache

    jobs = [Job("reference", n) for n in range(args.references)]
    jobs += [Job("distractor", n) for n in range(args.distractors)]
    jobs += [Job("copy", n, t.name) for n in range(args.references) for t in TRANSFORMS]
    began = time.perf_counter()
    work = [(job, args.seconds, str(cache) if cache else None) for job in jobs]
    # references and distractors first: the copies of a reference re-use its cached bytes
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        first = pool.map(_build_and_hash, work[: args.references + args.distractors])
        rest = pool.map(_build_and_hash, work[args.references + args.distractors :], chunksize=1)
    done = first + rest
    references = [h for h in done if h.job.kind == "reference"]
    distractors = [h for h in done if h.job.kind == "distractor"]
    copies = [h for h in done if h.job.kind == "copy"]
    ref_frames = sum(len(h.hashes.frames) for h in references)
    print(
        f"{len(references)} references, {len(distractors)} distractors, {len(copies)} copies"
        f" ({len(TRANSFORMS)} transforms), {args.seconds:g} s each, {SIZE[0]}x{SIZE[1]} {FPS} fps,"
        f" from {len(PHOTOS)} photos ({PHOTOS_PER_VIDEO} a video); built and hashed in"
        f" {time.perf_counter() - began:.0f} s with {args.jobs} processes;"
        f" {ref_frames / len(references):.1f} frames a reference (+ mirrored)"
    )

    qualities = np.array([f.quality for h in done for f in h.hashes.frames])
    print(
        "frames' PDQ quality: "
        + ", ".join(f"under {q}: {np.mean(qualities < q):.1%}" for q in (10, 30, 50, 70))
    )

    index = _index(references)
    rows, false_hits, pairs, near, _ = score(index, copies, distractors, args.seconds)
    print(f"\nVideoIndex defaults: {_describe(index)}")
    print(
        f"{'transform':<17} {'recall':>8} {'time err s':>10} {'distance':>8}"
        f" {'min q-share':>11} {'min r-share':>11}"
    )
    for name, row in rows.items():
        print(
            f"{name:<17} {row.recall:>3}/{row.total:<4} "
            f"{_fmt(max(row.time_errors, default=None)):>10} "
            f"{_fmt(statistics.median(row.distances) if row.distances else None, 0):>8} "
            f"{_fmt(min(row.query_shares, default=None), 2):>11} "
            f"{_fmt(min(row.ref_shares, default=None), 2):>11}"
        )
    total = sum(r.recall for r in rows.values()), sum(r.total for r in rows.values())
    print(f"{'all':<17} {total[0]:>3}/{total[1]:<4}")
    print(
        f"false hits among distinct videos: {false_hits} of {pairs} pairs"
        f" (copies x other references, distractors x references)"
    )
    if near:
        print(
            "  the closest of those pairs (each one's best alignment, accepted or not):"
            f" matched frames max {max(m.matched for m in near)},"
            f" query share max {max(m.query_share for m in near):.2f},"
            f" reference share max {max(m.ref_share for m in near):.2f},"
            f" seconds max {max(m.query_end - m.query_start for m in near):.0f};"
            f" {sum(1 for m in near if m.matched >= 4)} pairs with >= 4 frames in order"
        )

    print("\nOther thresholds (the rest at the defaults):")
    variants: list[tuple[str, dict[str, Any]]] = [
        (f"frame_threshold {t:>2}", {"frame_threshold": t}) for t in (16, 24, 31, 40, 48)
    ]
    variants += [
        (f"min shares {x:.1f}", {"min_query_share": x, "min_ref_share": x})
        for x in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    ]
    variants += [(f"min_quality {q}", {"min_quality": q}) for q in (0, 20, 30, 40, 50, 60)]
    variants += [
        ("min_frames 2, min_seconds 1", {"min_frames": 2, "min_seconds": 1.0}),
        (
            "all minimums off",
            {"min_query_share": 0, "min_ref_share": 0, "min_frames": 1, "min_seconds": 0},
        ),
    ]
    for label, options in variants:
        other = _index(references, **options)
        r, f, p, n, _ = score(other, copies, distractors, args.seconds)
        got = sum(x.recall for x in r.values())
        worst = min(r.items(), key=lambda kv: kv[1].recall)
        qmax = max((m.query_share for m in n), default=0.0)
        fmax = max((m.matched for m in n), default=0)
        print(
            f"  {label:<28} recall {got:>3}/{total[1]}"
            f" (lowest: {worst[0]} {worst[1].recall}/{worst[1].total}),"
            f" false hits {f}/{p}; false pairs: query share max {qmax:.2f}, frames max {fmax}"
        )

    padded = _index(references)
    _pad(padded, 300, 240)
    queried = copies + distractors
    padded.match(queried[0].hashes.frames)
    spent = []
    for h in queried:
        began = time.process_time()
        padded.match(h.hashes.frames)
        spent.append(time.process_time() - began)
    long_query = [f for h in queried for f in h.hashes.frames][:600]
    long_query = [Frame(float(n), f.pdq, f.quality) for n, f in enumerate(long_query)]
    began = time.process_time()
    for _ in range(5):
        padded.match(long_query)
    long_time = (time.process_time() - began) / 5
    hashing = statistics.mean(h.seconds for h in queried)
    print(
        f"\nMatching (CPU time), against {len(padded)} videos / {padded.frames} frames: the"
        " references and 300 padding videos of 240 random frames (a minute at 4 fps each):"
    )
    print(
        f"  a copy or distractor ({statistics.mean(len(h.hashes.frames) for h in queried):.0f}"
        f" frames on average): {statistics.mean(spent) * 1e3:.1f} ms on average,"
        f" max {max(spent) * 1e3:.1f} ms; hashing the same videos took"
        f" {hashing * 1e3:.0f} ms each: matching adds {statistics.mean(spent) / hashing:.1%}"
    )
    print(f"  a 600-frame query (10 minutes at 1 fps): {long_time * 1e3:.0f} ms")

    speed(args.speed_seconds, cache, 2 if args.quick else 3)


def _describe(index: VideoIndex) -> str:
    return (
        f"frame_threshold {index.frame_threshold}, min_quality {index.min_quality},"
        f" min_query_share {index.min_query_share}, min_ref_share {index.min_ref_share},"
        f" min_frames {index.min_frames}, min_seconds {index.min_seconds},"
        f" offset tolerance {index.offset_tolerance} s"
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
