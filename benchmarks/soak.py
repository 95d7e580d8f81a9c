"""Soak: a real crawl of a large generated site, at two sizes, side by side.

    .venv/bin/python benchmarks/soak.py [--pages 10000] [--small-pages 2000]
                                        [--images-per-page 5] [--quick]

Generates a site (lazily, from the requested path: nothing is stored) and serves it on
127.0.0.1 from a process of its own (a threaded HTTP/1.1 server). Each page links to ten
pages further down a tree, to the home page and to one page elsewhere (links seen many
times), and shows ``--images-per-page`` images; each image reference is, by a seeded draw:

- a distinct small JPEG (a crop of one of the test photos that are not the case's,
  resized to about 300 px, mirrored or not, tinted, encoded at quality 70-89: 20 KB);
- a shared image: one of 20 URLs (logos, banners) seen on many pages;
- a duplicate: the same bytes as one of 100 images, under a URL of its own;
- broken: a JPEG cut at 60 % (served whole, and cut in transit: the Content-Length says
  more than is sent), HTML served as ``image/jpeg``, a 404, a 500;
- and on one page in ``pages // 25`` (every other page with ``--quick``) a copy of one of
  the case's four reference photos (the file itself or a smaller re-encoded copy), each
  under a URL of its own: the hits the crawl must find.

Some responses are slow (1 % of pages and 0.5 % of images wait 0.2-1.5 s first).

For each size it makes a SQLite database in a temporary folder, enrols the four case
photos, adds the site (every page allowed, no politeness delay, private address allowed)
and runs the real crawl process (``python -m crawler RUN_ID``, as ``monitor crawl`` does),
sampling every 0.5 s the resident memory of that process and of its hashing workers
(``/proc``) and every 2 s the run's progress (its row). It prints pages, images, pages/s,
images/s (over the crawl, from the spider's opening to its close, and over the process),
the crawl process's peak resident memory (``wait4``'s ``ru_maxrss``) and the whole tree's
(crawl + workers, sampled), the resident memory when 25/50/75/100 % of the images were
done, the database's size (file, WAL), hits found against those placed, errors by kind
against the broken images served, and the two sizes side by side with their ratios
(large / small): memory that stays flat as the site grows shows as a ratio near 1.

Nothing is written outside the temporary folders, which are deleted afterwards.
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"
CASE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
OTHER_PHOTOS = ("brick", "camera", "grass", "gravel", "hubble", "ihc")

FANOUT = 10  # links from each page to pages further down
SHARED = 20  # URLs of images shown on many pages
DUPLICATED = 100  # images served under many URLs each
#: Shares of the image references, by kind (the rest: distinct images).
MIX = (
    ("shared", 0.04),
    ("duplicate", 0.06),
    ("truncated", 0.005),
    ("cut_off", 0.005),
    ("not_image", 0.005),
    ("404", 0.005),
    ("500", 0.005),
)
SLOW_PAGES = 0.01
SLOW_IMAGES = 0.005
FILLER = (
    "<p>"
    + " ".join(
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"
        " incididunt ut labore et dolore magna aliqua.".split()
        * 12
    )
    + "</p>"
)
ETAG_DATE = "Tue, 03 Nov 2026 10:00:00 GMT"


# ------------------------------------------------------------------------------ the site


def _mix(*values: int) -> int:
    """A deterministic 64-bit hash of integers (splitmix64 rounds)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h


def _fraction(*values: int) -> float:
    return (_mix(*values) >> 11) / float(1 << 53)


@dataclass(frozen=True)
class Plan:
    """What the generated site holds: everything follows from these numbers."""

    pages: int
    per_page: int
    hit_every: int

    @classmethod
    def of(cls, pages: int, per_page: int) -> Plan:
        return cls(pages, per_page, hit_every=max(2, pages // 25))

    def page_path(self, i: int) -> str:
        return "/" if i == 0 else f"/p/{i}.html"

    def links(self, i: int) -> list[str]:
        children = range(FANOUT * i + 1, min(self.pages, FANOUT * i + FANOUT + 1))
        other = _mix(i, 7) % self.pages
        return [self.page_path(c) for c in children] + ["/", self.page_path(other)]

    def image(self, i: int, j: int) -> tuple[str, str]:
        """(kind, path) of the j-th image of page i."""
        n = i * self.per_page + j
        if j == 0 and i % self.hit_every == self.hit_every // 2:
            return "hit", f"/h/{n}.jpg"
        u = _fraction(n, 1)
        kind = "distinct"
        for name, share in MIX:
            if u < share:
                kind = name
                break
            u -= share
        if kind == "distinct":
            return kind, f"/i/{n}.jpg"
        if kind == "shared":
            return kind, f"/s/{_mix(n, 2) % SHARED}.jpg"
        return kind, f"/{kind}/{n}.jpg"

    def images(self, i: int) -> list[tuple[str, str]]:
        return [self.image(i, j) for j in range(self.per_page)]

    def expected(self) -> Expected:
        refs: Counter[str] = Counter()
        urls: dict[str, str] = {}
        for i in range(self.pages):
            for kind, path in self.images(i):
                refs[kind] += 1
                urls[path] = kind
        return Expected(refs=refs, urls=Counter(urls.values()))


@dataclass
class Expected:
    refs: Counter[str] = field(default_factory=Counter)  # image references, by kind
    urls: Counter[str] = field(default_factory=Counter)  # distinct image URLs, by kind

    @property
    def ok_urls(self) -> int:
        return sum(self.urls[k] for k in ("distinct", "shared", "duplicate", "hit"))


def slow_delay(path: str, pages: bool) -> float:
    """Seconds the server waits before answering ``path`` (0 for most)."""
    h = zlib.crc32(path.encode())
    if (h % 10_000) / 10_000 >= (SLOW_PAGES if pages else SLOW_IMAGES):
        return 0.0
    return 0.2 + 1.3 * ((h >> 14) % 1000) / 1000


def page_html(plan: Plan, i: int) -> bytes:
    links = "".join(f'<li><a href="{p}">{p}</a></li>' for p in plan.links(i))
    images = "".join(
        f'<figure><img src="{path}" alt="picture {k}" width="300"><figcaption>picture {k}'
        "</figcaption></figure>"
        for k, (_, path) in enumerate(plan.images(i))
    )
    return (
        f"<!doctype html><html><head><title>Page {i}</title></head><body>"
        f"<nav><ul>{links}</ul></nav><h1>Page {i}</h1>{images}{FILLER}"
        "<footer>generated by benchmarks/soak.py</footer></body></html>"
    ).encode()


class Images:
    """Image bytes made on demand from the test photos (no two distinct ones alike)."""

    def __init__(self) -> None:
        from PIL import Image

        self._image = Image
        self.bases = [Image.open(PHOTOS / f"{n}.jpg").convert("RGB") for n in OTHER_PHOTOS]
        self.case = [(PHOTOS / f"{n}.jpg").read_bytes() for n in CASE_PHOTOS]

    def distinct(self, seed: int) -> bytes:
        Image = self._image
        r = random.Random(seed)
        base = self.bases[seed % len(self.bases)]
        w, h = base.size
        cw, ch = int(w * r.uniform(0.4, 0.9)), int(h * r.uniform(0.4, 0.9))
        x, y = r.randrange(w - cw + 1), r.randrange(h - ch + 1)
        size = r.choice([(320, 240), (240, 320), (300, 300), (400, 300)])
        image = base.resize(size, Image.Resampling.BILINEAR, box=(x, y, x + cw, y + ch))
        if r.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        gains = [r.uniform(0.75, 1.25) for _ in range(3)]
        image = Image.merge(
            "RGB",
            [
                c.point(lambda v, g=g: min(255, int(v * g)))
                for c, g in zip(image.split(), gains, strict=True)
            ],
        )
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=r.randrange(70, 90))
        return buffer.getvalue()

    @lru_cache(maxsize=256)  # noqa: B019 - one instance per server process
    def pooled(self, seed: int) -> bytes:
        return self.distinct(seed)

    @lru_cache(maxsize=8)  # noqa: B019
    def hit(self, variant: int) -> bytes:
        photo = self.case[variant % len(self.case)]
        if variant < len(self.case):
            return photo  # the reference file itself
        image = self._image.open(io.BytesIO(photo)).convert("RGB")
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=80)
        return buffer.getvalue()


def serve(plan: Plan, port: Any) -> None:
    """The site's server (in a process of its own): answers every path from ``plan``."""
    images = Images()
    counts: Counter[str] = Counter()
    answered: set[int] = set()  # page numbers asked for
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # see benchmarks/crawl.py

        def log_message(self, *args: object) -> None:
            pass

        def answer(self, status: int, kind: str, body: bytes, *, length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            if status == 200:
                self.send_header("ETag", f'"{zlib.crc32(body):08x}-{len(body)}"')
                self.send_header("Last-Modified", ETAG_DATE)
            self.end_headers()
            self.wfile.write(body)
            if length is not None:
                self.close_connection = True  # the client sees the transfer end early

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            kind, status, ctype, body, length = self.route(path)
            with lock:
                counts[kind] += 1
                if kind == "page":
                    answered.add(0 if path == "/" else int(path.split("/")[-1].split(".")[0]))
                if kind == "stats":
                    body = json.dumps({"counts": counts, "pages": sorted(answered)}).encode()
            delay = slow_delay(path, kind == "page") if kind != "stats" else 0.0
            if delay:
                with lock:
                    counts["slow"] += 1
                time.sleep(delay)
            try:
                self.answer(status, ctype, body, length=length)
            except OSError:
                self.close_connection = True

        def route(self, path: str) -> tuple[str, int, str, bytes, int | None]:
            html, jpeg = "text/html; charset=utf-8", "image/jpeg"
            parts = path.strip("/").split("/")
            number = parts[-1].split(".")[0]
            if path == "/__soak_stats":
                return "stats", 200, "application/json", b"", None
            if path == "/" or (len(parts) == 2 and parts[0] == "p" and number.isdigit()):
                i = 0 if path == "/" else int(number)
                if i < plan.pages:
                    return "page", 200, html, page_html(plan, i), None
            if len(parts) == 2 and number.isdigit():
                n, what = int(number), parts[0]
                if what == "i":
                    return "distinct", 200, jpeg, images.distinct(n), None
                if what == "s":
                    return "shared", 200, jpeg, images.pooled(1_000_000_000 + n), None
                if what == "duplicate":
                    source = 2_000_000_000 + _mix(n, 3) % DUPLICATED
                    return "duplicate", 200, jpeg, images.pooled(source), None
                if what == "h":
                    variant = (n // plan.per_page // plan.hit_every) % 8
                    return "hit", 200, jpeg, images.hit(variant), None
                if what == "truncated":
                    data = images.distinct(n)
                    return "truncated", 200, jpeg, data[: len(data) * 6 // 10], None
                if what == "cut_off":
                    data = images.distinct(n)
                    return "cut_off", 200, jpeg, data[: len(data) * 6 // 10], len(data)
                if what == "not_image":
                    page = b"<html><body><p>Sorry, this image was removed.</p></body></html>"
                    return "not_image", 200, jpeg, page, None
                if what in ("404", "500"):
                    return what, int(what), html, f"<h1>{what}</h1>".encode(), None
            return "other_404", 404, html, b"<h1>404</h1>", None

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # socketserver's default of 5 drops a crawl's connections

    server = Server(("127.0.0.1", 0), Handler)
    port.put(server.server_address[1])
    server.serve_forever()


def server_counts(port: int) -> tuple[Counter[str], set[int]]:
    """Requests the server answered, by kind, and the page numbers it was asked for."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__soak_stats", timeout=10) as answer:
        found = json.loads(answer.read())
    counts: Counter[str] = Counter(found["counts"])
    counts["stats"] -= 1
    return +counts, set(found["pages"])


# ------------------------------------------------------------------------ measuring memory


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB (empty once it is gone)."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    values[line[:5]] = int(line.split()[1])
    except OSError:
        pass
    return values


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as children:
                    kids = [int(k) for k in children.read().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


@dataclass
class Sample:
    t: float
    rss: int  # kB, the crawl process
    tree: int  # kB, the crawl process and its descendants (hashing workers)
    images: int | None = None  # the run's images done, where it was read at that moment


class Sampler(threading.Thread):
    def __init__(self, pid: int, progress: Any, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.progress = progress  # () -> images done (reads the run's row)
        self.interval = interval
        self.samples: list[Sample] = []
        self.hwm = 0
        self.stop = threading.Event()
        self.start_time = time.perf_counter()

    def run(self) -> None:
        tick = 0
        while not self.stop.is_set():
            own = _status(self.pid)
            if own:
                self.hwm = max(self.hwm, own.get("VmHWM", 0))
                tree = own.get("VmRSS", 0) + sum(
                    _status(p).get("VmRSS", 0) for p in _descendants(self.pid)
                )
                images = None
                if tick % 4 == 0:
                    try:
                        images = self.progress()
                    except Exception:  # the database busy for a moment: next time
                        images = None
                self.samples.append(
                    Sample(time.perf_counter() - self.start_time, own.get("VmRSS", 0), tree, images)
                )
            tick += 1
            self.stop.wait(self.interval)


# --------------------------------------------------------------------------- one crawl


@dataclass
class Result:
    plan: Plan
    expected: Expected
    status: str
    pages: int
    images: int
    hits: int
    errors: dict[str, int]
    wall: float
    crawl_seconds: float
    peak_rss: int  # kB, the crawl process (wait4)
    peak_tree: int  # kB, crawl + workers (sampled)
    samples: list[Sample]
    db_before: int  # bytes, the database before the crawl (schema, case, references)
    db_bytes: int
    wal_bytes: int
    log_lines: int  # lines the crawl process wrote to stderr
    unusual_log: list[str]  # those lines, without the retries and data losses expected here
    missing_pages: list[int]  # pages the crawl never asked for
    served: Counter[str]
    load: tuple[float, float]  # 1-minute load average before and after

    @property
    def image_refs(self) -> int:
        return sum(self.expected.refs.values())

    def rss_at(self, share: float) -> tuple[int, int] | None:
        """(crawl RSS, tree RSS) in kB when ``share`` of the images were done."""
        target = share * self.images
        for s in self.samples:
            if s.images is not None and s.images >= target and s.images > 0:
                return s.rss, s.tree
        return None

    def rss_at_time(self, share: float) -> tuple[int, int] | None:
        """(crawl RSS, tree RSS) in kB at ``share`` of the process's wall time."""
        before = [s for s in self.samples if s.t <= share * self.wall]
        return (before[-1].rss, before[-1].tree) if before else None


def crawl(plan: Plan, log_level: str, log_dir: Path | None = None) -> Result:
    from monitor.app import bootstrap
    from monitor.cases import add_case
    from monitor.config import Config
    from monitor.crawls import crawl_command
    from monitor.db import Database
    from monitor.db.migrations import upgrade
    from monitor.hashes import hash_files
    from monitor.runs import create_run, get_run
    from monitor.sites import add_site

    expected = plan.expected()
    queue: Any = multiprocessing.get_context("fork").Queue()
    server = multiprocessing.get_context("fork").Process(target=serve, args=(plan, queue))
    server.start()
    try:
        port = queue.get(timeout=30)
        with tempfile.TemporaryDirectory(prefix="ncii-soak-") as folder:
            db_path = Path(folder) / "soak.db"
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
                "MONITOR_VAR_DIR": folder,
                "MONITOR_DATABASE_URL": f"sqlite:///{db_path}",
                "MONITOR_ALLOWED_ADDRESSES": "127.0.0.1/32",
                "MONITOR_ACTOR": "benchmark",
            }
            config = Config.from_env(env)
            database = Database(config.database_url)
            upgrade(database)
            database.dispose()
            app = bootstrap(config)
            case_id = add_case(app, "soak")
            hash_files(app, case_id, [PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS])
            site = add_site(
                app,
                f"http://127.0.0.1:{port}/",
                max_pages=plan.pages + 10,
                max_depth=50,
                obey_robots=False,
                crawl_delay=0.0,
                allow_private=True,
            )
            run_id = create_run(app, site)
            db_before = _db_size(db_path)
            log = Path(folder) / "crawl.log"
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            command = crawl_command(run_id, log_level)
            if os.environ.get("CRAWL_PROFILE"):  # as in crawl.py: a command to run it under
                command = os.environ["CRAWL_PROFILE"].split() + command
            with log.open("wb") as stderr:
                process = subprocess.Popen(
                    command,
                    env={**env, **config.to_env()},
                    stderr=stderr,
                )
            sampler = Sampler(process.pid, lambda: get_run(app, run_id).stats.images)
            sampler.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            except BaseException:
                process.kill()
                process.wait()
                raise
            process.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - started
            sampler.stop.set()
            sampler.join()
            load_after = os.getloadavg()[0]
            run = get_run(app, run_id)
            served, asked = server_counts(port)
            app.close()
            wal = db_path.with_name(db_path.name + "-wal")
            db_bytes = db_path.stat().st_size
            wal_bytes = wal.stat().st_size if wal.exists() else 0
            lines = log.read_text(errors="replace").splitlines()
            if log_dir is not None:
                log_dir.mkdir(parents=True, exist_ok=True)
                (log_dir / f"crawl-{plan.pages}.log").write_bytes(log.read_bytes())
            unusual = [line for line in lines if not any(m in line for m in USUAL_LOG)]
            if run.status != "completed":
                print("\n".join(["crawl log, last lines:", *lines[-30:]]), file=sys.stderr)
    finally:
        server.terminate()
        server.join()
    crawl_seconds = (
        (run.finished_at - run.started_at).total_seconds()
        if run.finished_at and run.started_at
        else float("nan")
    )
    return Result(
        plan=plan,
        expected=expected,
        status=run.status,
        pages=run.stats.pages,
        images=run.stats.images,
        hits=run.stats.hits,
        errors=dict(run.stats.errors),
        wall=wall,
        crawl_seconds=crawl_seconds,
        peak_rss=max(usage.ru_maxrss, sampler.hwm),
        peak_tree=max((s.tree for s in sampler.samples), default=0),
        samples=sampler.samples,
        db_before=db_before,
        db_bytes=db_bytes,
        wal_bytes=wal_bytes,
        log_lines=len(lines),
        unusual_log=unusual,
        missing_pages=sorted(set(range(plan.pages)) - asked),
        served=served,
        load=(load_before, load_after),
    )


#: What the crawl log says about the broken images served (expected, not printed).
USUAL_LOG = ("Gave up retrying", "Got data loss in", "If you want to process broken")


def _db_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# ------------------------------------------------------------------------------ report

MB = 1024 * 1024


def report_one(name: str, r: Result) -> None:
    e = r.expected
    print(
        f"\n{name}: {r.plan.pages} pages, {r.image_refs} image references"
        f" ({r.plan.per_page} a page), {e.ok_urls} image URLs that are images"
    )
    refs = ", ".join(f"{k} {v}" for k, v in sorted(e.refs.items()))
    urls = ", ".join(f"{k} {v}" for k, v in sorted(e.urls.items()))
    print(f"  references by kind: {refs}")
    print(f"  distinct URLs by kind: {urls}")
    served = ", ".join(f"{k} {v}" for k, v in sorted(r.served.items()))
    print(f"  server answered: {served}")
    print(
        f"  crawl: {r.status}, pages {r.pages}, images {r.images}, hits {r.hits}"
        f" (placed {e.urls['hit']}), {r.wall:.1f} s wall, {r.crawl_seconds:.1f} s crawling,"
        f" load {r.load[0]:.2f} -> {r.load[1]:.2f}"
    )
    errors = ", ".join(f"{k} {v}" for k, v in sorted(r.errors.items())) or "none"
    broken = {k: e.urls[k] for k in ("truncated", "cut_off", "not_image", "404", "500")}
    print(f"  errors by kind: {errors}")
    print(f"  broken images served: {', '.join(f'{k} {v}' for k, v in broken.items())}")
    print(f"  crawl log: {r.log_lines} lines on stderr, {len(r.unusual_log)} other than retries")
    for line in r.unusual_log[:15]:
        print(f"    {line[:200]}")
    if r.missing_pages:
        parents = Counter(0 if m <= FANOUT else (m - 1) // FANOUT for m in r.missing_pages)
        slow = sum(1 for p in parents if slow_delay(r.plan.page_path(p), True))
        print(
            f"  pages never asked for: {len(r.missing_pages)} (e.g. {r.missing_pages[:8]}),"
            f" children of {len(parents)} pages (e.g. {sorted(parents)[:8]}), {slow} of them slow"
        )
    for label, at in (("images done", r.rss_at), ("of the wall time", r.rss_at_time)):
        points = []
        for share in (0.25, 0.5, 0.75, 1.0):
            rss = at(share)
            points.append(
                f"{share:.0%} {rss[0] / 1024:.0f}/{rss[1] / 1024:.0f}" if rss else f"{share:.0%} -"
            )
        print(f"  RSS MB (crawl/with workers) at {label}: {', '.join(points)}")


def rows(r: Result) -> list[tuple[str, float, str]]:
    running = r.crawl_seconds
    return [
        ("pages", r.pages, "{:.0f}"),
        ("images hashed and recorded", r.images, "{:.0f}"),
        ("hits found / placed", r.hits, "{:.0f}/" + str(r.expected.urls["hit"])),
        ("errors counted", sum(r.errors.values()), "{:.0f}"),
        ("crawl seconds (spider open to close)", running, "{:.1f}"),
        ("wall seconds (process)", r.wall, "{:.1f}"),
        ("pages/s (crawl)", r.pages / running, "{:.1f}"),
        ("images/s (crawl)", r.images / running, "{:.1f}"),
        ("images/s (process wall)", r.images / r.wall, "{:.1f}"),
        ("peak RSS crawl process MB", r.peak_rss / 1024, "{:.0f}"),
        ("peak RSS crawl + workers MB", r.peak_tree / 1024, "{:.0f}"),
        ("database MB (file)", r.db_bytes / MB, "{:.1f}"),
        ("database WAL MB", r.wal_bytes / MB, "{:.1f}"),
        ("database MB before the crawl", r.db_before / MB, "{:.1f}"),
        (
            "database growth kB per image",
            (r.db_bytes + r.wal_bytes - r.db_before) / 1024 / max(1, r.images),
            "{:.2f}",
        ),
    ]


def report_side_by_side(small: Result, large: Result) -> None:
    print(f"\n{'':38} {'small':>12} {'large':>12} {'large/small':>12}")
    for (label, a, fmt), (_, b, fmt_b) in zip(rows(small), rows(large), strict=True):
        ratio = f"{b / a:.2f}" if a else "-"
        print(f"{label:38} {fmt.format(a):>12} {fmt_b.format(b):>12} {ratio:>12}")


def check(r: Result) -> list[str]:
    problems = []
    if r.status != "completed":
        problems.append(f"run {r.status}")
    if r.pages < r.plan.pages:
        problems.append(f"{r.pages} pages crawled of {r.plan.pages}")
    if r.hits < r.expected.urls["hit"]:
        problems.append(f"{r.hits} hits of {r.expected.urls['hit']} placed")
    if r.images < r.expected.ok_urls:
        problems.append(f"{r.images} images of {r.expected.ok_urls}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000, help="pages of the large site")
    parser.add_argument(
        "--small-pages", type=int, default=None, help="pages of the small site (pages / 5)"
    )
    parser.add_argument("--images-per-page", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 15 and 40 pages")
    parser.add_argument("--log-level", default="WARNING", help="the crawl process's (stderr kept)")
    parser.add_argument(
        "--log-dir", type=Path, help="copy each crawl's log there (e.g. with --log-level INFO)"
    )
    args = parser.parse_args()
    if args.quick:
        args.pages, args.small_pages = 40, 15
    small_pages = args.small_pages or max(1, args.pages // 5)
    print(
        f"soak: {os.cpu_count()} cores, Python {sys.version.split()[0]},"
        f" load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )
    results = []
    for name, pages in (("small", small_pages), ("large", args.pages)):
        result = crawl(Plan.of(pages, args.images_per_page), args.log_level, args.log_dir)
        report_one(name, result)
        results.append(result)
    report_side_by_side(*results)
    problems = [
        f"{n}: {p}" for n, r in zip(("small", "large"), results, strict=True) for p in check(r)
    ]
    for problem in problems:
        print(f"PROBLEM {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
