"""Videos, the whole path against the sample site on 127.0.0.1: discovery, fetching (ranges,
HLS, DASH), hashing in memory, matching in order, hits with their time ranges.

/clips.html (monitor/samplesite.py) holds copies of the case's video (exact, a rescaled
excerpt, mirrored and letterboxed in VP8, HLS segments, DASH at 8 fps, a long high-bitrate
one), an unrelated video, a corrupt one, one too large from a server without ranges, and
an encrypted HLS stream.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest
from conftest import LOOPBACK, Env

from monitor.cases import add_case
from monitor.hashes import hash_files
from monitor.samplesite import SampleSite, SiteServer

#: Seconds a matched stretch may be off by: frames are sampled about once a second.
SLACK = 1.6


def enrol_video(env: Env, sample: SampleSite) -> int:
    """A case with the victim's video (her file, hashed where it lies; only hashes stored)."""
    case_id = add_case(env.app, "Test victim", email="v@example.org")
    her = env.tmp_path / "her-video.mp4"
    her.write_bytes(sample.reference_video)
    added = hash_files(env.app, case_id, [her])
    assert added.files == 1 and added.videos == 1 and added.added == 3  # frames x2, MD5
    her.unlink()
    return case_id


def crawl(env: Env, server: SiteServer) -> tuple[str, list[dict]]:  # type: ignore[type-arg]
    env.cli(
        "site", "add", server.main_url + "/", "--name", "sample", "--crawl-delay", "0", check=True
    )
    result = env.cli("crawl", "sample", "--verbose", timeout=240)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    hits = json.loads(env.cli("hits", "list", "--json", check=True).stdout)
    return result.stdout + result.stderr, hits


def stats_of(output: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"'(monitor/[\w/]+)': (\d+)", output)}


def test_the_crawl_hits_every_copy_of_her_video_with_its_stretch(
    env: Env, server: SiteServer, sample: SampleSite
) -> None:
    env.vars["MONITOR_ALLOWED_ADDRESSES"] = LOOPBACK
    case_id = enrol_video(env, sample)
    output, hits = crawl(env, server)

    videos = [h for h in hits if h["kind"] == "video"]
    expected = server.expected_video_hit_urls()
    found = {(h["page_url"], h["image_url"]): h for h in videos}
    assert set(found) == set(expected), (sorted(found), sorted(expected))
    assert [h for h in hits if h["kind"] != "video"] == []  # no photo of hers: no image hit
    by_transform = {v.transform: server.url(v.path) for v in sample.videos}
    for (_page, url), hit in found.items():
        assert hit["case_id"] == case_id and hit["label"] == "her-video.mp4"
        ref_start, ref_end = expected[(_page, url)]
        # Where in her video: the copy's stretch, within a sample or so.
        assert abs(hit["ref_start"] - ref_start) <= SLACK, hit
        assert abs(hit["ref_end"] - ref_end) <= SLACK, hit
        assert hit["query_end"] - hit["query_start"] == pytest.approx(
            hit["ref_end"] - hit["ref_start"], abs=SLACK
        )
    exact = found[(server.url("/clips.html"), by_transform["exact"])]
    assert exact["algorithm"] == "md5" and exact["distance"] == 0  # the same bytes
    excerpt = found[(server.url("/clips.html"), by_transform["excerpt"])]
    assert excerpt["algorithm"] == "vpdq" and excerpt["query_start"] <= SLACK
    assert excerpt["ref_start"] > 3.0  # cut out of the middle of hers
    mirrored = [h for h in videos if h["image_url"] == by_transform["mirrored"]]
    assert mirrored[0]["view"] == "mirrored"
    # The rest: fetched, counted and skipped; the crawl went on.
    stats = stats_of(output)
    assert stats["monitor/errors/video/too_large"] == 1
    assert stats["monitor/errors/video/video_drm"] == 1
    assert sum(v for k, v in stats.items() if k.startswith("monitor/errors/video/video_")) >= 2
    assert stats["monitor/videos/ok"] == len(expected) + 1  # the copies and the unrelated one
    assert "completed (finished)" in output
    # The analyst sees the stretch in the CLI's list.
    listed = env.cli("hits", "list", "--case", str(case_id), check=True).stdout
    assert re.search(r"copy 0:0\d-0:\d\d = hers 0:0[3-6]-0:\d\d", listed), listed


def test_a_long_video_is_fetched_in_part_and_its_start_is_matched(
    sqlite_env: Env, server: SiteServer, sample: SampleSite
) -> None:
    """A server with ranges: only the first MONITOR_MAX_VIDEO_BYTES (and the end) of a
    longer video are fetched; the frames there are hashed and matched."""
    env = sqlite_env
    long = next(v for v in sample.videos if v.transform == "long")
    size = len(sample.main[long.path].body)
    cap = size // 2
    # (On the crawl's own thread, no hashing worker: the other tests use one.)
    env.vars.update(
        MONITOR_ALLOWED_ADDRESSES=LOOPBACK,
        MONITOR_MAX_VIDEO_BYTES=str(cap),
        MONITOR_HASH_WORKERS="0",
    )
    enrol_video(env, sample)
    output, hits = crawl(env, server)
    hit = next(h for h in hits if h["image_url"] == server.url(long.path))
    assert hit["algorithm"] == "vpdq"
    assert hit["ref_start"] <= SLACK and 1.0 < hit["ref_end"] < sample_length(sample) - 2
    stats = stats_of(output)
    assert stats["monitor/videos/partial"] >= 1
    assert stats["monitor/videos/bytes"] < sum(len(sample.main[v.path].body) for v in sample.videos)
    # A recrawl asks "has it changed?" and reuses what it knows: no video fetched again.
    server.clear_requests()
    again = env.cli("crawl", "sample", "--verbose", timeout=240)
    stats = stats_of(again.stdout + again.stderr)
    assert stats["monitor/videos/not_modified"] == stats["monitor/videos/ok"] >= 6
    assert "monitor/videos/hashed" not in stats, {k: v for k, v in stats.items() if "video" in k}


def sample_length(sample: SampleSite) -> float:
    return max(v.ref_range[1] for v in sample.videos if v.ref_range)


SITECUSTOMIZE = """
import os, sys
_log = os.environ["VIDEO_WRITES_LOG"]
def _hook(event, args):
    if event == "open" and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1] or "", args[2] or 0
        writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR)
        if writing and os.fspath(args[0]) != _log:
            with open(_log, "a") as out:
                out.write(os.fspath(args[0]) + "\\n")
sys.addaudithook(_hook)
"""


def test_nothing_about_videos_reaches_the_disk(
    sqlite_env: Env, server: SiteServer, sample: SampleSite, tmp_path: Path
) -> None:
    """Every file the crawl opens for writing (Python's audit hook, in the crawl process
    and its workers) is the database's; no file under the installation, its HOME or
    TMPDIR holds any piece of a video served."""
    env = sqlite_env
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "writes.log"
    env.vars.update(
        MONITOR_ALLOWED_ADDRESSES=LOOPBACK,
        PYTHONPATH=f"{hooks}:{env.vars.get('PYTHONPATH', '')}",
        VIDEO_WRITES_LOG=str(log),
    )
    enrol_video(env, sample)
    _output, hits = crawl(env, server)
    assert any(h["kind"] == "video" for h in hits)
    # (SQLite writes its files from C, unseen here; Python's own byte-code cache is code.)
    written = {p for p in log.read_text().split() if "__pycache__" not in p}
    var = env.tmp_path / "var"
    allowed = {str(var / f"monitor.db{s}") for s in ("", "-wal", "-shm", "-journal")}
    assert written <= allowed | {"/dev/null"}, written - allowed
    assert "/dev/null" in written  # the hook saw the crawl's opens (Scrapy's, at least)
    # And no file holds a piece of any video served (1 kB windows from each).
    pieces = [
        body[i : i + 1024]
        for v in sample.videos
        if (body := sample.main[v.path].body) and len(body) < 10_000_000
        for i in range(0, len(body) - 1024, max(1024, len(body) // 16))
    ]
    assert pieces
    for path in (p for p in env.tmp_path.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert not any(piece in data for piece in pieces), path
    assert sys.executable  # the crawl ran in this interpreter's environment


def test_md5_of_her_video_alone_finds_its_exact_copies(
    sqlite_env: Env, server: SiteServer, sample: SampleSite
) -> None:
    """A case whose list holds only her video's MD5 (what StopNCII shares): the exact
    copy is a hit; the re-encoded ones, which no MD5 can see, are not."""
    env = sqlite_env
    env.vars["MONITOR_ALLOWED_ADDRESSES"] = LOOPBACK
    case_id = add_case(env.app, "Test victim", email="v@example.org")
    md5 = hashlib.md5(sample.reference_video, usedforsecurity=False).hexdigest()
    hashes = env.tmp_path / "stopncii.json"
    hashes.write_text(
        json.dumps({"count": 1, "hashRecords": [{"signalType": "VideoMD5", "hashValue": md5}]})
    )
    env.cli("hashes", "import", str(case_id), str(hashes), check=True)
    _output, hits = crawl(env, server)
    exact = next(v for v in sample.videos if v.transform == "exact")
    assert [(h["image_url"], h["algorithm"]) for h in hits] == [(server.url(exact.path), "md5")]
