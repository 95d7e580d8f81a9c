"""The whole path against a real HTTP server on 127.0.0.1: crawl, hash in memory, match, record.

The sample site (monitor/samplesite.py) holds transformed copies of the case's
photos, referenced in every way a page can reference an image, unrelated
photos, and every kind of bad input.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path

from conftest import CASE_PHOTOS, LOOPBACK, PHOTOS, Env

from crawler.settings import CONCURRENT_REQUESTS_PER_DOMAIN
from monitor.cases import add_case
from monitor.hashes import hash_files
from monitor.samplesite import FORMS, SampleSite, SiteServer


def enrol(env: Env) -> int:
    case_id = add_case(env.app, "Test victim", email="v@example.org")
    added = hash_files(env.app, case_id, [PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS])
    assert added.files == len(CASE_PHOTOS) and added.added >= 2 * len(CASE_PHOTOS)
    return case_id


def crawl(env: Env, site: str, *options: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    result = env.cli("crawl", site, *options, timeout=180)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    hits = json.loads(env.cli("hits", "list", "--json", check=True).stdout)
    return result.stdout, hits


def files_under(*roots: Path) -> set[Path]:
    found = set()
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            found.update(Path(folder) / name for name in files)
    return found


IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8", b"BM")


def holds_image(path: Path, served: set[str]) -> bool:
    try:
        data = path.read_bytes()
    except OSError:  # gone already, or not ours to read
        return False
    return data.startswith(IMAGE_MAGIC) or hashlib.sha256(data).hexdigest() in served


def test_crawl_finds_every_copy_and_nothing_else(
    env: Env, server: SiteServer, sample: SampleSite
) -> None:
    env.vars["MONITOR_ALLOWED_ADDRESSES"] = LOOPBACK
    case_id = enrol(env)
    env.cli(
        "site", "add", server.main_url + "/", "--name", "sample", "--crawl-delay", "0", check=True
    )
    server.clear_requests()
    sandbox_before = files_under(env.tmp_path)  # the crawl's cwd, HOME, TMPDIR and var
    tmp_before = files_under(Path("/tmp"))

    summary, hits = crawl(env, "sample")

    # -- every copy is hit on every page it is on; nothing else is ----------------------
    found = {(h["page_url"], h["image_url"]) for h in hits}
    expected = {(page, image) for page, image, _original in server.expected_hit_urls()}
    assert expected and found == expected
    for h in hits:
        assert h["case_id"] == case_id and h["status"] == "new"
        assert h["algorithm"] in ("pdq", "phash") and len(h["sha256"]) == 64
    originals = {image: original for _page, image, original in server.expected_hit_urls()}
    for h in hits:
        assert h["label"] == f"{originals[h['image_url']]}.jpg", h
    unrelated = {server.url(p) for p in sample.unrelated_paths()}
    assert not unrelated & {h["image_url"] for h in hits}
    forbidden = {server.url(page) for page, *_ in sample.forbidden_hits()}
    assert not forbidden & {h["page_url"] for h in hits}  # robots.txt was obeyed
    # Every way of referencing an image led to a hit.
    forms_hit = {
        form
        for image in sample.case_images()
        for form in image.forms
        if any(h["image_url"] == server.url(image.url_template) for h in hits)
    }
    assert forms_hit == set(FORMS)  # the sample site uses every form at least once

    # -- each image URL fetched once; bad input counted, not fatal --------------------------
    gets = Counter((host, path) for host, method, path in server.requests if method == "GET")
    for image in sample.case_images():
        host = "cdn" if image.url_template.startswith("{{CDN}}") else "main"
        path = image.url_template.replace("{{CDN}}", "")
        assert gets[(host, path)] <= 1, (image.url_template, gets[(host, path)])
    assert not any(path.startswith("/private/") for _host, path in gets)
    # -- polite and frugal with connections even with no delay: never more open at once
    # than the per-site concurrency (plus the hanging image's first try and its retry,
    # still held by the server after the crawl gave up on them), and reused, not one a
    # request (Scrapy 2.19 alone: 24 open at once, 48 opened for 79 requests).
    assert server.most_open["main"] <= CONCURRENT_REQUESTS_PER_DOMAIN + 2, server.most_open
    assert server.connections_opened["main"] <= 20 < sum(gets.values()), server.connections_opened
    run = json.loads(env.cli("hits", "list", "--json", check=True).stdout)  # listing again works
    assert len(run) == len(hits)
    for kind in (
        "image/corrupt",
        "image/not_image",
        "image/too_many_pixels",
        "image/too_large",
        "image/truncated",
        "image/http_404",
        "image/http_500",
        "image/too_many_redirects",
        "image/private_address",
        "image/timeout",
        "reference/data_url",
        "reference/unsupported_scheme",
    ):
        assert f"  {kind}: " in summary, (kind, summary)
    assert "completed (finished)" in summary

    # -- nothing but the database reached the disk ---------------------------------------------
    allowed = {env.tmp_path / "var" / f"monitor.db{s}" for s in ("", "-wal", "-shm", "-journal")}
    assert files_under(env.tmp_path) - sandbox_before - allowed == set()
    # /tmp is shared with other processes, so there only image content counts.
    served = {
        hashlib.sha256(route.body).hexdigest()
        for route in [*sample.main.values(), *sample.cdn.values()]
        if route.body
    }
    for path in files_under(Path("/tmp")) - tmp_before:
        assert not holds_image(path, served), path

    # -- a second crawl refreshes hits, never duplicates them, and decodes nothing again -------
    result = env.cli("crawl", "sample", "--verbose", timeout=180)
    assert result.returncode == 0, result.stderr
    again = json.loads(env.cli("hits", "list", "--json", check=True).stdout)
    assert sorted(h["id"] for h in again) == sorted(h["id"] for h in hits)
    before = {h["id"]: h["last_seen"] for h in hits}
    assert all(h["last_seen"] > before[h["id"]] for h in again)
    # Scrapy's closing statistics: every image seen before was known by its sha256.
    stats = dict(re.findall(r"'(monitor/images/\w+)': (\d+)", result.stderr))
    # (answered 304 Not Modified, or downloaded and known by its sha256): none hashed again.
    reused = int(stats.get("monitor/images/not_modified", 0)) + int(
        stats.get("monitor/images/known", 0)
    )
    assert reused == int(stats["monitor/images/ok"]) > 20
    assert "monitor/images/hashed" not in stats
