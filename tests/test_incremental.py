"""Incremental recrawls against the sample site on 127.0.0.1: the second crawl of an
unchanged site sends conditional requests, is answered 304 for its pages and images,
downloads a fraction of the bytes and finds the same hits; a page that changed is
fetched and read again. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import LOOPBACK, Env
from test_crawl import crawl, enrol

from crawler.sitemaps import parse_sitemap
from monitor.runs import list_runs
from monitor.samplesite import Route, SiteServer
from spiders.watchlist import _older


def test_a_recrawl_asks_only_for_what_changed(env: Env, server: SiteServer) -> None:
    env.vars["MONITOR_ALLOWED_ADDRESSES"] = LOOPBACK
    enrol(env)
    env.cli("site", "add", server.main_url + "/", "--name", "sample", "--crawl-delay", "0",
            check=True)  # fmt: skip
    _summary, first_hits = crawl(env, "sample")
    assert server.not_modified == []  # nothing known yet: nothing asked conditionally

    server.clear_requests()
    _summary, second_hits = crawl(env, "sample")
    pages_304 = [path for host, path in server.not_modified if path.endswith((".html", "/"))]
    images_304 = [path for host, path in server.not_modified if path not in pages_304]
    assert len(pages_304) >= 10 and len(images_304) >= 25, server.not_modified
    second, first = list_runs(env.app, limit=2)
    assert second.stats.bytes < first.stats.bytes * 0.5, (first.stats, second.stats)
    assert second.stats.pages == first.stats.pages  # every page still visited...
    assert second.stats.hits == first.stats.hits  # ...and every copy still found
    key = lambda h: (h["page_url"], h["image_url"], h["hash_entry_id"])  # noqa: E731
    assert sorted(map(key, second_hits)) == sorted(map(key, first_hits))
    assert all(h["last_seen"] > h["first_seen"] for h in second_hits)  # seen again

    # A page that changed is fetched in full and read again; the others are not.
    route = server.site.main["/gallery.html"]
    server.site.main["/gallery.html"] = Route(
        body=route.body + b"<!-- edited -->",
        template=route.template,
        headers={**route.headers, "ETag": '"edited"'},
    )
    try:
        server.clear_requests()
        crawl(env, "sample")
        not_modified = {path for _host, path in server.not_modified}
        assert "/gallery.html" not in not_modified and "/" in not_modified
        third = list_runs(env.app, limit=1)[0]
        assert third.stats.hits == first.stats.hits
    finally:
        server.site.main["/gallery.html"] = route


def test_sitemap_lastmod_narrows_what_is_asked() -> None:
    sitemap = parse_sitemap(
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://a.test/old</loc><lastmod>2026-01-02</lastmod></url>"
        b"<url><loc>https://a.test/new</loc><lastmod>2026-11-28T10:00:00Z</lastmod></url>"
        b"<url><loc>https://a.test/none</loc></url></urlset>",
        max_bytes=1_000_000,
    )
    assert sitemap is not None and sitemap.pages == [
        "https://a.test/old",
        "https://a.test/new",
        "https://a.test/none",
    ]
    fetched = datetime(2026, 6, 1, tzinfo=UTC)
    assert _older(sitemap.lastmod["https://a.test/old"], fetched)  # unchanged: not asked
    assert not _older(sitemap.lastmod["https://a.test/new"], fetched)
    assert not _older(sitemap.lastmod.get("https://a.test/none"), fetched)  # no date: ask
    assert not _older("yesterday", fetched)
