"""Reference videos: `monitor hashes add` of a video file, and video entries in hash lists
(our JSON with frames, ThreatExchange's vPDQ descriptors and signal lines), matched after
the round trip."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from conftest import PHOTOS, Env
from sqlalchemy import select

from monitor.cases import add_case
from monitor.db.models import HashEntry
from monitor.hashes import export_hashes, hash_files, import_hash_bytes, known_bits
from monitor.hashlists import EXPORT_FORMATS, read_hash_list
from monitor.video import REFERENCE_FPS, frames_digest, frames_from_json
from monitor.video.detection import VideoDetector
from monitor.video.hashing import hash_video
from monitor.video.synth import camera_video, transform


@functools.cache
def her_video() -> bytes:
    photos = [PHOTOS / f"{n}.jpg" for n in ("astronaut", "coffee", "chelsea")]
    return camera_video(photos, seconds=9, fps=10, size=(192, 108), seed=4, shot_seconds=3)


def add_her_video(env: Env, tmp_path: Path, name: str = "her.mp4") -> int:
    case_id = add_case(env.app, "V")
    (tmp_path / name).write_bytes(her_video())
    result = hash_files(env.app, case_id, [tmp_path / name])
    assert (result.files, result.videos, result.added) == (1, 1, 3), result
    return case_id


def entries(env: Env, case_id: int) -> list[HashEntry]:
    with env.app.db.session() as session:
        return list(
            session.scalars(
                select(HashEntry).where(HashEntry.case_id == case_id).order_by(HashEntry.id)
            )
        )


def test_hashes_add_stores_a_videos_frames_its_mirrors_and_its_md5(
    env: Env, tmp_path: Path
) -> None:
    case_id = add_her_video(env, tmp_path)
    stored = entries(env, case_id)
    assert [(e.algorithm, e.view) for e in stored] == [
        ("vpdq", "original"),
        ("vpdq", "mirrored"),
        ("md5", "original"),
    ]
    assert len({e.group_key for e in stored}) == 1  # one video
    original = frames_from_json(stored[0].frames)
    mirrored = frames_from_json(stored[1].frames)
    # Sampled REFERENCE_FPS a second over 9 s (and at the cuts), the mirror's at the same times.
    assert len(original) >= 9 * REFERENCE_FPS - 2
    assert [f.at for f in original] == [f.at for f in mirrored]
    assert max(b.at - a.at for a, b in zip(original, original[1:], strict=False)) <= 0.45
    assert stored[0].value == frames_digest(original)
    assert {e.sha256 for e in stored} == {__import__("hashlib").sha256(her_video()).hexdigest()}
    # The file itself is not kept: only what hash_video computed.
    assert her_video()[:64] not in repr([e.frames for e in stored]).encode()


def test_our_json_carries_the_frames_and_a_changed_frame_is_rejected(
    env: Env, tmp_path: Path
) -> None:
    case_id = add_her_video(env, tmp_path)
    exported = json.loads(export_hashes(env.app, case_id).text)
    videos = [h for h in exported["hashes"] if h["algorithm"] == "vpdq"]
    assert len(videos) == 2 and all(len(h["frames"]) >= 30 for h in videos)
    other = add_case(env.app, "W")
    report = import_hash_bytes(env.app, other, json.dumps(exported).encode(), "list.json")
    assert report.added == 3 and not report.rejected
    assert [e.frames for e in entries(env, other)] == [e.frames for e in entries(env, case_id)]
    # One bit of one frame changed (the signature left out): that entry is rejected.
    del exported["signature"]
    frame = videos[0]["frames"][5]
    frame[1] = ("1" if frame[1][0] != "1" else "2") + frame[1][1:]
    third = add_case(env.app, "X")
    report = import_hash_bytes(env.app, third, json.dumps(exported).encode(), "list.json")
    assert report.added == 2
    assert [str(r) for r in report.rejected] == [
        f"entry {exported['hashes'].index(videos[0]) + 1}: the vpdq hash is not the digest of"
        " its frames (changed or damaged)"
    ]


@pytest.mark.parametrize("format", EXPORT_FORMATS)
def test_each_format_holds_the_video_frames_where_it_has_room(
    env: Env, tmp_path: Path, format: str
) -> None:
    case_id = add_her_video(env, tmp_path)
    exported = export_hashes(env.app, case_id, format=format)
    empty = format == "pdq"  # PDQ lines only: nothing of a video's
    parsed = None if empty else read_hash_list(exported.text, known_bits())
    videos = [p for p in parsed.hashes if p.algorithm == "vpdq"] if parsed else []
    stored = entries(env, case_id)
    if format in ("ncii-monitor", "threatexchange", "text"):
        # Ours: both views; ThreatExchange's: the picture's own frames, as threatexchange.
        expected = stored[:2] if format == "ncii-monitor" else stored[:1]
        assert [p.frames for p in videos] == [frames_from_json(e.frames) for e in expected]
        assert all(p.value == frames_digest(p.frames) for p in videos)
    else:
        assert videos == []
        assert exported.skipped >= 1


def test_threatexchanges_vpdq_signal_imports_and_its_copy_is_matched(
    env: Env, tmp_path: Path
) -> None:
    """A vPDQ signal as python-threatexchange writes it (vpdq_util.vpdq_to_json: JSON list
    of "hex,quality,seconds", one frame a second, made by another system: here our own
    hashing at 1 fps) is imported as a video entry, and a re-encoded copy matches it."""
    hashed = hash_video(her_video(), max_pixels=64_000_000, fps=1.0)
    signal = json.dumps([f"{f.pdq},{f.quality},{f.at:.3}" for f in hashed.frames])
    line = f"vpdq {signal}\n"
    case_id = add_case(env.app, "T")
    report = import_hash_bytes(env.app, case_id, line.encode(), "signals.txt")
    assert report.format == "text" and report.added == 1 and not report.rejected
    descriptor = {"data": [{"raw_indicator": signal, "type": "HASH_VIDEO_VPDQ", "tags": []}]}
    other = add_case(env.app, "U")
    assert import_hash_bytes(env.app, other, json.dumps(descriptor).encode(), "te.json").added == 1
    detector = VideoDetector()
    assert detector.load(env.app).added == 2
    copy = hash_video(transform(her_video(), bitrate=80_000, size=(160, 90)), max_pixels=10**8)
    assert sorted(hit.case_id for hit in detector.detect(copy)) == [case_id, other]
    # A bad signal: rejected with its reason.
    bad = import_hash_bytes(env.app, case_id, b'vpdq ["zz,100,0.0"]\npdq ' + b"a" * 64, "x.txt")
    assert [str(r) for r in bad.rejected] == ["line 1: frame 1: a PDQ hash has 64 hex digits"]
