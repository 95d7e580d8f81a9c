"""A crawl's limits and scope, through real crawls of the sample site on 127.0.0.1.

Each crawl is ``monitor crawl`` in a child process (as in test_crawl.py). What the
crawler did is read from two independent sources: the run summary it printed (and
``monitor hits list --json``), and ``SiteServer.requests``, the (host, method, path)
of every request the sample site actually received.

Crawls whose pages reach /bad.html never use ``--allow-private``: that page redirects
an image to 127.0.0.2, which only a refusing crawl keeps off the wire. They allow the
loopback addresses of the sample servers (``LOOPBACK``) instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CASE_PHOTOS, LOOPBACK, PHOTOS, Env
from sqlalchemy import select

from monitor.cases import add_case
from monitor.db.models import CrawlRun
from monitor.hashes import hash_files
from monitor.runs import get_run
from monitor.samplesite import (
    CDN,
    PRIVATE_PREFIX,
    SITEMAP_PATH,
    Route,
    SampleSite,
    SiteServer,
    build_sample_site,
)
from monitor.sites import list_sites

REPO = Path(__file__).resolve().parents[1]
#: The sample servers' addresses (the CDN's name "localhost" may resolve to ::1 as
#: well), but not the rest of 127.0.0.0/8: the private redirect to 127.0.0.2 stays refused.
NOT_PAGES = ("/robots.txt", SITEMAP_PATH)
STASH = PRIVATE_PREFIX + "stash.html"
SUMMER = "/albums/summer.html"  # "/" -> /albums.html -> /albums/summer.html: depth 2

_HEAD = re.compile(r"^run (?P<id>\d+) of (?P<site>.+): (?P<status>\w+) \((?P<reason>.*)\)$", re.M)
_COUNTS = re.compile(
    r"^pages (?P<pages>\d+) · images (?P<images>\d+) · bytes (?P<bytes>\d+) · "
    r"hits (?P<hits>\d+) \((?P<new_hits>\d+) new\) · errors (?P<errors>\d+)$",
    re.M,
)
_ERROR = re.compile(r"^  (?P<kind>[\w/.-]+): (?P<count>\d+)$", re.M)


# --- the site ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> SampleSite:
    return build_sample_site(PHOTOS, include_slow=False)


def gets(server: SiteServer, host: str | None = None) -> list[tuple[str, str]]:
    """(host, path) of every GET the sample servers received, optionally of one host."""
    return [
        (h, path) for h, method, path in server.requests if method == "GET" and host in (None, h)
    ]


def is_image_path(host: str, path: str) -> bool:
    """An image's or a video's path (media, not a page): /img/ and /media/ on the main
    host (its videos, some named by the sitemap), /media/ on the CDN."""
    return path.startswith(("/img/", "/media/") if host == "main" else "/media/")


def page_gets(server: SiteServer) -> list[tuple[str, str]]:
    """The GETs of pages: neither images nor robots.txt nor sitemaps."""
    return [
        (host, path)
        for host, path in gets(server)
        if path not in NOT_PAGES and not is_image_path(host, path)
    ]


def linked_from(sample: SampleSite, page: str) -> set[str]:
    """Paths on the main host that ``page`` links to (relative links only)."""
    body = sample.main[page].body.decode()
    return set(re.findall(r'<a href="(/[^"]*)"', body))


def images_on(sample: SampleSite, *pages: str) -> set[tuple[str, str]]:
    """(host, path) of the images (case copies and unrelated) that any of ``pages`` shows."""
    return {
        (image.host, image.path)
        for image in sample.expected
        if any(page in image.pages for page in pages)
    }


def route_for(server: SiteServer, url: str) -> Route:
    """The route the sample site serves for an absolute URL (query strings as the server does)."""
    for base, routes in ((server.main_url, server.site.main), (server.cdn_url, server.site.cdn)):
        if url.startswith(base + "/"):
            path = url[len(base) :]
            route = routes.get(path) or routes.get(path.split("?", 1)[0])
            assert route is not None, url
            return route
    raise AssertionError(f"not a URL of the sample site: {url}")


# --- the installation -------------------------------------------------------------------


def allow_loopback(env: Env) -> None:
    env.vars["MONITOR_ALLOWED_ADDRESSES"] = LOOPBACK


def enrol(env: Env) -> int:
    case_id = add_case(env.app, "Test victim", email="v@example.org")
    added = hash_files(env.app, case_id, [PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS])
    assert added.files == len(CASE_PHOTOS) and added.added >= 2 * len(CASE_PHOTOS)
    return case_id


def add_site(env: Env, url: str, *options: str, name: str = "sample") -> None:
    env.cli("site", "add", url, "--name", name, "--crawl-delay", "0", *options, check=True)


@dataclass
class Summary:
    """What ``monitor crawl`` printed."""

    text: str
    run_id: int
    status: str
    reason: str
    pages: int
    images: int
    bytes: int
    hits: int
    errors: dict[str, int]


def parse_summary(text: str) -> Summary:
    head, counts = _HEAD.search(text), _COUNTS.search(text)
    assert head and counts, text
    errors = {m["kind"]: int(m["count"]) for m in _ERROR.finditer(text)}
    assert sum(errors.values()) == int(counts["errors"]), text
    return Summary(
        text,
        int(head["id"]),
        head["status"],
        head["reason"],
        int(counts["pages"]),
        int(counts["images"]),
        int(counts["bytes"]),
        int(counts["hits"]),
        errors,
    )


def crawl(env: Env, site: str = "sample") -> Summary:
    """``monitor crawl SITE``, which must complete."""
    result = env.cli("crawl", site, timeout=180)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    summary = parse_summary(result.stdout)
    assert (summary.status, summary.reason) == ("completed", "finished"), result.stdout
    return summary


def hits_json(env: Env, *args: str) -> list[dict[str, Any]]:
    return json.loads(env.cli("hits", "list", "--json", *args, check=True).stdout)


# --- 1. page budget ----------------------------------------------------------------------


def test_max_pages_caps_pages_but_not_their_images(
    sqlite_env: Env, server: SiteServer, sample: SampleSite
) -> None:
    allow_loopback(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-pages", "3")

    summary = crawl(sqlite_env)

    assert summary.pages == 3, summary.text
    crawled = page_gets(server)
    assert len(crawled) <= 3 and ("main", "/") in crawled, crawled
    assert len(set(crawled)) == len(crawled) == 3, crawled  # all 3 pages were served
    # robots.txt and the sitemap were read, and are not pages.
    assert ("main", "/robots.txt") in gets(server) and ("main", SITEMAP_PATH) in gets(server)
    # Every image on the pages crawled was fetched, CDN ones included.
    on_pages = images_on(sample, *(path for _host, path in crawled))
    assert images_on(sample, "/") and images_on(sample, "/") < on_pages
    assert on_pages <= set(gets(server)), on_pages - set(gets(server))
    assert summary.images >= len(on_pages), summary.text
    # Nothing beyond the budget: none of the other pages was requested.
    others = {("main", page) for page in sample.pages} - set(crawled)
    assert not others & set(gets(server))


# --- 2. depth ----------------------------------------------------------------------------


def test_max_depth_0_crawls_the_start_page_only(
    sqlite_env: Env, server: SiteServer, sample: SampleSite
) -> None:
    allow_loopback(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-depth", "0")

    summary = crawl(sqlite_env)

    assert summary.pages == 1, summary.text
    assert page_gets(server) == [("main", "/")]
    assert ("main", SITEMAP_PATH) in gets(server)  # read, but its pages are at depth 1
    assert ("main", "/orphan.html") not in gets(server)  # listed in the sitemap only
    assert images_on(sample, "/") and images_on(sample, "/") <= set(gets(server))
    assert not images_on(sample, "/gallery.html") & set(gets(server))


def test_max_depth_1_stops_before_depth_2(
    sqlite_env: Env, server: SiteServer, sample: SampleSite
) -> None:
    allow_loopback(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-depth", "1")

    summary = crawl(sqlite_env)

    crawled = {path for host, path in page_gets(server) if host == "main"}
    depth_1 = {page for page in linked_from(sample, "/") if not sample.is_disallowed(page)}
    assert "/albums.html" in depth_1 and len(depth_1) >= 9, depth_1
    assert depth_1 <= crawled, depth_1 - crawled
    assert "/orphan.html" in crawled  # in the sitemap, read at depth 0
    assert SUMMER in linked_from(sample, "/albums.html") and SUMMER not in crawled
    assert crawled == depth_1 | {"/orphan.html"}, crawled
    assert summary.pages == len(crawled), summary.text
    only_on_summer = {
        (image.host, image.path) for image in sample.expected if image.pages == [SUMMER]
    }
    assert only_on_summer and not only_on_summer & set(gets(server))


# --- 3. robots.txt -----------------------------------------------------------------------


def forbidden_hit_urls(server: SiteServer) -> set[tuple[str, str]]:
    """(page URL, image URL) of the hits only reachable through robots-disallowed pages."""
    found = {
        (server.url(page), server.url(image))
        for page, image, _original in server.site.forbidden_hits()
    }
    assert found and all(page == server.url(STASH) for page, _ in found)
    return found


def test_robots_txt_is_obeyed_by_default(sqlite_env: Env, server: SiteServer) -> None:
    allow_loopback(sqlite_env)
    enrol(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-depth", "1")

    summary = crawl(sqlite_env)
    hits = hits_json(sqlite_env)

    assert ("main", "/robots.txt") in gets(server)
    assert not [path for _host, path in gets(server) if path.startswith(PRIVATE_PREFIX)]
    assert summary.errors.get("page/robots_disallowed") == 1, summary.text
    assert hits  # the crawl did find the other copies
    found = {(h["page_url"], h["image_url"]) for h in hits}
    assert not found & forbidden_hit_urls(server)
    stash_images = {image for _page, image in forbidden_hit_urls(server)}
    assert not stash_images & {h["image_url"] for h in hits}
    assert not {server.url(path) for _host, path in gets(server, "main")} & stash_images


def test_ignore_robots_crawls_disallowed_pages(sqlite_env: Env, server: SiteServer) -> None:
    allow_loopback(sqlite_env)
    case_id = enrol(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-depth", "1", "--ignore-robots")

    summary = crawl(sqlite_env)
    hits = hits_json(sqlite_env)

    assert ("main", STASH) in gets(server)
    assert "page/robots_disallowed" not in summary.errors, summary.text
    found = {(h["page_url"], h["image_url"]) for h in hits if h["case_id"] == case_id}
    assert forbidden_hit_urls(server) <= found, found


# --- 4. private addresses --------------------------------------------------------------


def test_site_on_a_private_address_needs_allow_private(sqlite_env: Env, server: SiteServer) -> None:
    refused = sqlite_env.cli(
        "site", "add", server.main_url + "/", "--name", "sample", "--crawl-delay", "0"
    )
    assert refused.returncode != 0 and refused.stdout == ""
    assert "Traceback" not in refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--allow-private" in lines[0], refused.stderr
    assert "127.0.0.1" in lines[0] and "private" in lines[0], lines[0]
    assert list_sites(sqlite_env.app) == []  # nothing changed
    assert server.requests == []

    # --max-pages 3 keeps it off /bad.html, whose redirect to 127.0.0.2 it would follow.
    add_site(sqlite_env, server.main_url + "/", "--allow-private", "--max-pages", "3")
    (site,) = list_sites(sqlite_env.app)
    assert site.allow_private

    summary = crawl(sqlite_env)

    assert summary.pages == 3 and summary.images > 0, summary.text
    assert "page/private_address" not in summary.errors
    assert not [k for k in summary.errors if k.endswith("private_address")], summary.text
    assert len(page_gets(server)) == 3


def test_allowlist_still_refuses_a_redirect_elsewhere(
    sqlite_env: Env, server: SiteServer, sample: SampleSite
) -> None:
    """Allowlisted 127.0.0.1 (the site) does not open the rest of 127.0.0.0/8 (127.0.0.2)."""
    allow_loopback(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-depth", "1")  # no --allow-private
    (site,) = list_sites(sqlite_env.app)
    assert not site.allow_private

    summary = crawl(sqlite_env)

    assert ("main", "/bad.html") in gets(server)
    assert gets(server).count(("main", "/img/bad/private.jpg")) == 1  # answered by a redirect
    assert summary.errors.get("image/private_address") == 1, summary.text
    # Refused before connecting: a connection to the closed port would be image/connection.
    assert "image/connection" not in summary.errors, summary.text
    assert summary.pages > 1 and summary.images > 0  # the allowlisted hosts were crawled
    assert cdn_images(sample) <= set(gets(server, "cdn"))  # "localhost" was allowed too


def test_host_name_of_a_private_address_is_refused_after_resolution(
    sqlite_env: Env, server: SiteServer
) -> None:
    port = server.main_url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/"  # the main server, by a name: site add cannot tell
    add_site(sqlite_env, url)  # no --allow-private, no allowlist
    (site,) = list_sites(sqlite_env.app)
    assert site.start_urls == [url] and not site.allow_private

    summary = crawl(sqlite_env)

    assert summary.pages == 0 and summary.images == 0, summary.text
    assert summary.errors == {"page/private_address": 1}, summary.text
    assert server.requests == []  # not even robots.txt


# --- 5, 6. other hosts -----------------------------------------------------------------


def cdn_images(sample: SampleSite) -> set[tuple[str, str]]:
    found = {("cdn", image.path) for image in sample.expected if image.host == "cdn"}
    assert found
    return found


def test_offsite_pages_are_not_crawled_but_offsite_images_are(
    sqlite_env: Env, server: SiteServer, sample: SampleSite
) -> None:
    allow_loopback(sqlite_env)
    case_id = enrol(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-depth", "1")
    assert f'href="{CDN}/index.html"'.encode() in sample.main["/"].body  # linked from "/"

    crawl(sqlite_env)

    assert ("cdn", "/index.html") not in gets(server)
    assert page_gets(server) and all(host == "main" for host, _path in page_gets(server))
    assert cdn_images(sample) <= set(gets(server, "cdn"))
    hits = hits_json(sqlite_env, "--case", str(case_id))
    cdn_hits = {h["image_url"] for h in hits if h["image_url"].startswith(server.cdn_url + "/")}
    assert cdn_hits == {server.cdn_url + path for _host, path in cdn_images(sample)}


def test_allow_domain_crawls_the_other_hosts_pages(sqlite_env: Env, server: SiteServer) -> None:
    allow_loopback(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-depth", "1", "--allow-domain", "localhost")
    (site,) = list_sites(sqlite_env.app)
    assert site.allowed_domains == ["127.0.0.1", "localhost"]

    summary = crawl(sqlite_env)

    assert gets(server).count(("cdn", "/index.html")) == 1
    assert summary.pages == len(page_gets(server)), summary.text


# --- 7. the run's row -------------------------------------------------------------------


def test_run_row_records_the_crawl(sqlite_env: Env, server: SiteServer) -> None:
    allow_loopback(sqlite_env)
    enrol(sqlite_env)
    add_site(sqlite_env, server.main_url + "/", "--max-depth", "1")

    summary = crawl(sqlite_env)

    assert "completed (finished)" in summary.text
    run = get_run(sqlite_env.app, summary.run_id)
    assert run.site_name == "sample"
    assert (run.status, run.finish_reason) == ("completed", "finished")
    assert run.started_at is not None and run.finished_at is not None
    assert run.started_at <= run.finished_at
    stats = run.stats
    assert min(stats.pages, stats.images, stats.bytes, stats.hits) > 0, stats
    assert (stats.pages, stats.images, stats.bytes, stats.hits) == (
        summary.pages,
        summary.images,
        summary.bytes,
        summary.hits,
    )
    assert isinstance(stats.errors, dict) and stats.errors == summary.errors
    assert all(
        isinstance(k, str) and "/" in k and isinstance(v, int) and v > 0
        for k, v in stats.errors.items()
    ), stats.errors
    assert stats.errors["image/http_404"] >= 1 and stats.errors["image/private_address"] == 1
    with sqlite_env.app.db.session() as session:  # one run, the one printed
        assert session.scalars(select(CrawlRun.id)).all() == [summary.run_id]


# --- 8. evidence, on both backends --------------------------------------------------------


def test_hit_sha256_is_of_the_bytes_served(env: Env, server: SiteServer) -> None:
    allow_loopback(env)
    case_id = enrol(env)
    other_case = add_case(env.app, "Nobody")  # no hashes: never hit
    add_site(env, server.main_url + "/", "--max-depth", "1")

    summary = crawl(env)
    hits = hits_json(env, "--case", str(case_id))

    assert hits and summary.hits == len(hits), summary.text
    assert hits_json(env, "--case", str(other_case)) == []
    for hit in hits:
        assert hit["case_id"] == case_id
        body = route_for(server, hit["final_url"] or hit["image_url"]).body
        assert hit["sha256"] == hashlib.sha256(body).hexdigest(), hit["image_url"]
    assert any(h["image_url"].startswith(server.cdn_url) for h in hits)  # a CDN body too


# --- 9. scrapy crawl -------------------------------------------------------------------


def test_scrapy_crawl_from_the_repository(sqlite_env: Env, server: SiteServer) -> None:
    enrol(sqlite_env)
    # --max-pages 3 keeps it off /bad.html, whose redirect to 127.0.0.2 it would follow.
    add_site(sqlite_env, server.main_url + "/", "--allow-private", "--max-pages", "3")

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "watchlist",
            "-a",
            "site=sample",
            "-s",
            "MONITOR_ALLOW_PRIVATE=1",
            "-s",
            "LOG_LEVEL=WARNING",
        ],
        cwd=REPO,
        env=sqlite_env.vars,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    with sqlite_env.app.db.session() as session:
        run_ids = session.scalars(select(CrawlRun.id)).all()
    assert len(run_ids) == 1
    run = get_run(sqlite_env.app, run_ids[0])
    assert (run.status, run.finish_reason) == ("completed", "finished")
    assert run.stats.pages == 3 and run.stats.hits > 0, run.stats
    hits = hits_json(sqlite_env)
    assert len(hits) == run.stats.hits
    evidence = {server.main_url + path for _host, path in page_gets(server) + [("", SITEMAP_PATH)]}
    assert {h["page_url"] for h in hits} <= evidence
