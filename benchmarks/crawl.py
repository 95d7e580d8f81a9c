"""End-to-end crawl rate against the hashing rate, measured in the same run.

    .venv/bin/python benchmarks/crawl.py [--pages 40] [--per-page 10] [--megapixels 2]

Builds a site of ``pages`` pages with ``per-page`` distinct JPEGs each (from the test
photos, in memory), serves it on 127.0.0.1 from a process of its own, enrols a few of
its images in a case (so the crawl has hits to record), and runs a real crawl
(``python -m crawler RUN_ID``: Scrapy, the address guard, the media pipeline, the
decision rule, the match index, SQLite writes) with no politeness delay.

It prints
  hashing rate: the crawler's hashing path (decode + every default hash + the decision
                rule's query views) on 200 of the same images, in this process, on one
                core, best of two passes;
  crawl rate:   images hashed and recorded by the crawl process per second, the crawl
                pinned to one core (``os.sched_setaffinity``), server on another, or with
                ``--unpinned`` on every core (and one hashing worker per core, the default);
and the crawl rate as a share of the hashing rate (the issue's target: ≥ 70 %).
Nothing is written outside a temporary folder, which is deleted afterwards.
"""

from __future__ import annotations

import argparse
import http.server
import multiprocessing
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from hashing import make_jpegs  # benchmarks/hashing.py: this script's folder is on sys.path
from threadpoolctl import threadpool_limits

from monitor.app import bootstrap
from monitor.cases import add_case
from monitor.config import Config
from monitor.crawls import crawl_command
from monitor.db.migrations import upgrade
from monitor.hashes import hash_files
from monitor.hashing import hash_image_bytes
from monitor.hashing.rule import DecisionRule
from monitor.runs import create_run, get_run
from monitor.sites import add_site

MAX_PIXELS = 200_000_000


def site_files(images: list[bytes], pages: int, per_page: int) -> dict[str, tuple[str, bytes]]:
    files: dict[str, tuple[str, bytes]] = {}
    links = "".join(f'<li><a href="/p/{p}.html">page {p}</a></li>' for p in range(pages))
    files["/"] = ("text/html", f"<html><body><ul>{links}</ul></body></html>".encode())
    for p in range(pages):
        tags = "".join(f'<img src="/i/{p * per_page + k}.jpg" alt="">' for k in range(per_page))
        files[f"/p/{p}.html"] = ("text/html", f"<html><body>{tags}</body></html>".encode())
    for i, data in enumerate(images):
        files[f"/i/{i}.jpg"] = ("image/jpeg", data)
    return files


def serve(files: dict[str, tuple[str, bytes]], port: multiprocessing.Queue, core: int) -> None:
    _pin(core)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # As real servers do: headers and body go out as separate writes, and on a kept-alive
        # connection Nagle's algorithm then holds the body's tail until the client's delayed
        # ACK (40 ms), which would make this server, not the crawler, the bottleneck.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            found = files.get(self.path)
            if found is None:
                self.send_error(404)
                return
            kind, body = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # socketserver's default of 5 drops a crawl's connections

    server = Server(("127.0.0.1", 0), Handler)
    port.put(server.server_address[1])
    server.serve_forever()


def _pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        pass


def _pin_all(available: list[int]) -> None:
    try:
        os.sched_setaffinity(0, set(available))
    except (AttributeError, OSError):
        pass


def cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return [0]


def hashing_rate(images: list[bytes], rule: DecisionRule) -> float:
    """Images per CPU second of the crawler's hashing path, best of two passes."""
    best = float("inf")
    for _ in range(2):
        start = time.process_time()
        for data in images:
            hash_image_bytes(
                data, max_pixels=MAX_PIXELS, views=rule.query_views, views_version=rule.version
            )
        best = min(best, time.process_time() - start)
    return len(images) / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--per-page", type=int, default=10)
    parser.add_argument("--megapixels", type=float, default=2.0)
    parser.add_argument("--enrolled", type=int, default=5, help="images enrolled in a case")
    parser.add_argument(
        "--unpinned",
        action="store_true",
        help="let the crawl process use every core (its hashing and database threads then"
        " run beside the event loop); the server keeps one core",
    )
    args = parser.parse_args()
    available = cores()
    server_core, crawl_core = available[0], available[-1]
    count = args.pages * args.per_page
    images = make_jpegs(count, args.megapixels)
    mean_kib = sum(map(len, images)) / count / 1024
    print(
        f"{count} JPEGs of {args.megapixels:g} MP (mean {mean_kib:.0f} KiB) on {args.pages} pages;"
        f" crawl on core {crawl_core}, server on core {server_core}"
    )

    rule = DecisionRule()
    _pin(crawl_core)
    # One BLAS thread, as in the crawl's workers: several, on the one core this process
    # is pinned to, spin against each other (enrolling the images then takes minutes).
    threadpool_limits(1)
    hash_image_bytes(images[0], max_pixels=MAX_PIXELS, views=rule.query_views)  # warm up
    sample = images[:: max(1, count // 200)]  # 200 of the crawl's images, spread over all
    rate = hashing_rate(sample, rule)
    print(f"  hashing rate (decode + hashes + rule views, 1 core): {rate:7.1f} images/s")

    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.get_context("fork").Process(
        target=serve, args=(site_files(images, args.pages, args.per_page), queue, server_core)
    )
    server.start()
    try:
        port = queue.get(timeout=30)
        with tempfile.TemporaryDirectory(prefix="ncii-bench-") as folder:
            env = {
                "MONITOR_VAR_DIR": folder,
                "MONITOR_DATABASE_URL": f"sqlite:///{folder}/monitor.db",
                "MONITOR_ACTOR": "benchmark",
                "MONITOR_MAX_IMAGE_PIXELS": str(MAX_PIXELS),
                # The default, one hashing worker per core the crawl may use (this process
                # is pinned to one core, so its own default would be 1).
                "MONITOR_HASH_WORKERS": os.environ.get(
                    "MONITOR_HASH_WORKERS", str(len(available) if args.unpinned else 1)
                ),
            }
            config = Config.from_env({**os.environ, **env})
            app = bootstrap(config, require_schema=False)
            upgrade(app.db)
            case = add_case(app, "benchmark case")
            enrol = Path(folder) / "enrol"
            enrol.mkdir()
            for i in range(args.enrolled):  # photos 0..enrolled-1 of the ten
                (enrol / f"{i}.jpg").write_bytes(images[i])
            hash_files(app, case, [enrol])
            for path in enrol.iterdir():
                path.unlink()
            site = add_site(
                app,
                f"http://127.0.0.1:{port}/",
                max_pages=args.pages + 1,
                max_depth=2,
                obey_robots=False,
                crawl_delay=0.0,
                allow_private=True,
            )
            run_id = create_run(app, site)
            command = crawl_command(run_id, os.environ.get("CRAWL_LOG_LEVEL", "WARNING"))
            if os.environ.get("CRAWL_PROFILE"):  # e.g. py-spy record -o crawl.svg --
                command = os.environ["CRAWL_PROFILE"].split() + command
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(
                command,
                env={**os.environ, **config.to_env()},
                check=True,
                preexec_fn=(lambda: _pin_all(available))
                if args.unpinned
                else (lambda: _pin(crawl_core)),
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            run = get_run(app, run_id)
            stats = run.stats
            app.close()
    finally:
        server.terminate()
        server.join()
    print(
        f"  crawl: {config.hash_workers} hashing worker(s), {run.status}, pages {stats.pages}, images {stats.images}, hits {stats.hits},"
        f" errors {dict(stats.errors)}, {wall:.1f} s wall, {cpu:.1f} s CPU"
    )
    where = "every core" if args.unpinned else "pinned to 1 core"
    crawl_rate = stats.images / wall
    assert run.started_at is not None and run.finished_at is not None
    running = (run.finished_at - run.started_at).total_seconds()
    print(f"  crawl rate, process wall time ({where}):  {crawl_rate:7.1f} images/s")
    print(f"    / hashing rate:                                 {crawl_rate / rate:7.0%}")
    print(
        f"  crawl rate, spider open to close ({running:.1f} s):     {stats.images / running:7.1f} images/s"
    )
    print(
        f"    / hashing rate:                                 {stats.images / running / rate:7.0%}"
    )
    print(
        "  (the wall time includes the process start, Scrapy's start-up and the index load:"
        f" {stats.images / cpu:.1f} images per CPU second of the crawl process)"
    )
    if stats.images != count:
        print(f"  WARNING: {count - stats.images} images were not hashed")


if __name__ == "__main__":
    main()
