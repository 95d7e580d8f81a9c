"""What a second crawl of an unchanged site costs, against the first, in the same run.

    .venv/bin/python benchmarks/recrawl.py [--crawls 3] [--pages 20] [--per-page 10]

Two sites, served on 127.0.0.1 with ETag and Last-Modified validators on every page and
image, as web servers give them:

- photos: ``--pages`` pages of ``--per-page`` distinct 2-megapixel JPEGs each (made
  from the test photos, in memory), a few of them copies of the case photos;
- sample: the bundled sample site (copies of the case photos among unrelated photos and
  every kind of broken file).

For each, the case photos are enrolled and the site crawled ``--crawls`` times with real
crawl processes (``python -m crawler RUN_ID``) on a SQLite database in a temporary
folder. The first crawl knows nothing; the later ones send conditional requests, reuse
the image lists and links of pages answered 304, and the stored hashes of images
answered 304.

It prints, per crawl: seconds (wall clock, the crawl process's start-up included, and
the crawl's own, from its spider opening to its close), bytes received, requests, 304 answers, pages, images and hits; and each later crawl's
bytes and times as a share of the first's. On the sample site, the broken files
(corrupt, truncated, oversized…) are never recorded, so they are fetched again every
time: they are most of what its recrawls still download.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from monitor.app import bootstrap
from monitor.cases import add_case
from monitor.config import Config
from monitor.crawls import crawl_command
from monitor.db.migrations import upgrade
from monitor.hashes import hash_files
from monitor.runs import create_run, get_run
from monitor.samplesite import (
    LAST_MODIFIED,
    Route,
    SampleSite,
    SiteServer,
    _image_route,
    build_sample_site,
)
from monitor.sites import add_site

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"
CASE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def photo_site(pages: int, per_page: int) -> SampleSite:
    import hashlib

    from hashing import make_jpegs  # benchmarks/hashing.py: this script's folder is on sys.path

    images = make_jpegs(pages * per_page, 2.0)
    # A few copies of the case photos among them, so that the crawls have hits to record.
    images[:: max(1, len(images) // 4)] = [
        (PHOTOS / f"{name}.jpg").read_bytes() for name in CASE_PHOTOS
    ][: len(images[:: max(1, len(images) // 4)])]
    routes: dict[str, Route] = {}

    def page(path: str, html: str) -> None:
        body = html.encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        routes[path] = Route(body=body, headers={"ETag": etag, "Last-Modified": LAST_MODIFIED})

    page("/", "".join(f'<a href="/p/{p}.html">page {p}</a> ' for p in range(pages)))
    for p in range(pages):
        page(f"/p/{p}.html",
             "".join(f'<img src="/i/{p * per_page + k}.jpg">' for k in range(per_page)))  # fmt: skip
    for i, data in enumerate(images):
        routes[f"/i/{i}.jpg"] = _image_route(data)
    return SampleSite(main=routes, cdn={}, expected=[], bad={}, case_photos=[], unrelated_photos=[])


def crawl_repeatedly(site_data: SampleSite, crawls: int) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
            "MONITOR_VAR_DIR": folder,
            "MONITOR_DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "MONITOR_ALLOWED_ADDRESSES": "127.0.0.1/32",
            "MONITOR_HASH_WORKERS": "1",
        }
        config = Config.from_env(env)
        from monitor.db import Database

        database = Database(config.database_url)
        upgrade(database)
        database.dispose()
        app = bootstrap(config)
        case_id = add_case(app, "bench")
        hash_files(app, case_id, [PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS])
        rows: list[dict[str, object]] = []
        with SiteServer(site_data) as server:
            site = add_site(
                app, server.main_url + "/", allow_private=True, crawl_delay=0.0, max_pages=500
            )
            for number in range(1, crawls + 1):
                server.clear_requests()
                run_id = create_run(app, site)
                started = time.perf_counter()
                subprocess.run(
                    crawl_command(run_id, "CRITICAL"),
                    env={**env, **config.to_env()},
                    check=False,
                    stderr=subprocess.DEVNULL,
                )
                seconds = time.perf_counter() - started
                run = get_run(app, run_id)
                rows.append(
                    {
                        "crawl": number,
                        "status": run.status,
                        "seconds": seconds,
                        "crawl_seconds": (run.finished_at - run.started_at).total_seconds()
                        if run.finished_at and run.started_at
                        else float("nan"),
                        "bytes": run.stats.bytes,
                        "requests": len(server.requests),
                        "not_modified": len(server.not_modified),
                        "pages": run.stats.pages,
                        "images": run.stats.images,
                        "hits": run.stats.hits,
                    }
                )
        app.close()
    return rows


def report(name: str, rows: list[dict[str, object]]) -> None:
    first = rows[0]
    print(f"\n{name}")
    print(
        f"{'crawl':>5} {'status':>9} {'wall s':>7} {'crawl s':>7} {'bytes':>10} {'requests':>8}"
        f" {'304s':>5} {'pages':>5} {'images':>6} {'hits':>4}"
        "   bytes / crawl time / wall time vs the first"
    )
    for r in rows:
        ratios = (
            ""
            if r is first
            else f"   {r['bytes'] / first['bytes']:.1%}"  # type: ignore[operator]
            f" / {r['crawl_seconds'] / first['crawl_seconds']:.0%}"  # type: ignore[operator]
            f" / {r['seconds'] / first['seconds']:.0%}"  # type: ignore[operator]
        )
        print(
            f"{r['crawl']:>5} {r['status']:>9} {r['seconds']:>7.2f} {r['crawl_seconds']:>7.2f}"
            f" {r['bytes']:>10}"
            f" {r['requests']:>8} {r['not_modified']:>5} {r['pages']:>5} {r['images']:>6}"
            f" {r['hits']:>4}{ratios}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crawls", type=int, default=3)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--per-page", type=int, default=10)
    args = parser.parse_args()
    report(
        f"photos: {args.pages} pages of {args.per_page} 2-megapixel JPEGs",
        crawl_repeatedly(photo_site(args.pages, args.per_page), args.crawls),
    )
    report(
        "sample: the bundled sample site",
        crawl_repeatedly(build_sample_site(PHOTOS, include_slow=False), args.crawls),
    )


if __name__ == "__main__":
    main()
