"""Crash safety: crawls killed with SIGKILL at random moments, again and again, lose no hit
already matched, leave no half-written rows and no run stuck "running"; the next run
redoes what was lost without duplicates, and the database ends equal to that of one full
run. A full disk or a read-only moment ends the crawl with a clear error, never with a
corrupt database. On SQLite and PostgreSQL.

The crawled site is generated here (``CrashSite``): enough pages, each with a copy of a
case photo and an unrelated photo under its own URLs, with ETag/Last-Modified validators
(so that the restarted crawls go through the incremental path: conditional requests, 304
answers, reused page lists and stored hashes), served slowly enough (a crawl delay) for a
kill to land in the middle of a crawl.

``CRASH_SEED`` (environment) chooses the kill moments; the default is fixed, so a failure
can be replayed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import CASE_PHOTOS, LOOPBACK, PHOTOS, Env, make_app, make_env
from PIL import Image
from sqlalchemy import text

from monitor.cases import add_case
from monitor.hashes import hash_files
from monitor.hashing import DEFAULT_ALGORITHMS

SEED = int(os.environ.get("CRASH_SEED", "20261129"))
PAGES = 36
#: Seconds between two requests of a crawl (the site's crawl delay): a full crawl of the
#: site takes a few seconds, so that kills land in its middle.
CRAWL_DELAY = "0.02"
KILLS = 5
LAST_MODIFIED = "Wed, 01 May 2024 12:00:00 GMT"


# -- the site ---------------------------------------------------------------------------------


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _small(stem: str, width: int) -> Image.Image:
    with Image.open(PHOTOS / f"{stem}.jpg") as photo:
        photo.load()
        height = max(1, photo.height * width // photo.width)
        return photo.resize((width, height), Image.Resampling.LANCZOS)


@dataclass
class CrashSite:
    """Pages ``/p/N.html``, all linked from ``/``; page N shows a copy of a case photo
    (``/img/N/copy.jpg``) and an unrelated photo (``/img/N/other.jpg``)."""

    routes: dict[str, tuple[bytes, str]]

    @classmethod
    def build(cls, pages: int = PAGES) -> CrashSite:
        copies = [
            _jpeg(_small(stem, width), quality)
            for stem in CASE_PHOTOS
            for width, quality in ((360, 90), (300, 70))
        ]
        unrelated_stems = sorted(p.stem for p in PHOTOS.glob("*.jpg") if p.stem not in CASE_PHOTOS)
        unrelated = [_jpeg(_small(stem, 320), 85) for stem in unrelated_stems]
        html = "text/html; charset=utf-8"
        routes: dict[str, tuple[bytes, str]] = {}
        links = "".join(f'<li><a href="/p/{n}.html">page {n}</a></li>' for n in range(pages))
        routes["/"] = (f"<html><body><ul>{links}</ul></body></html>".encode(), html)
        for n in range(pages):
            routes[f"/p/{n}.html"] = (
                f'<html><body><h1>page {n}</h1><img src="/img/{n}/copy.jpg">'
                f'<img src="/img/{n}/other.jpg"><a href="/">home</a></body></html>'.encode(),
                html,
            )
            routes[f"/img/{n}/copy.jpg"] = (copies[n % len(copies)], "image/jpeg")
            routes[f"/img/{n}/other.jpg"] = (unrelated[n % len(unrelated)], "image/jpeg")
        return cls(routes)


class CrashServer:
    """Serves a CrashSite on 127.0.0.1, with validators, answering 304 when they match."""

    def __init__(self, site: CrashSite) -> None:
        routes = site.routes

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                found = routes.get(self.path.split("?", 1)[0])
                if found is None:
                    self._answer(404, b"not found", "text/plain", {})
                    return
                body, content_type = found
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
                if self.headers.get("If-None-Match") == etag:
                    self._answer(304, b"", content_type, headers)
                else:
                    self._answer(200, body, content_type, headers)

            def _answer(
                self, status: int, body: bytes, content_type: str, headers: dict[str, str]
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a killed crawl's connections are reset: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def crash_site() -> CrashSite:
    return CrashSite.build()


@pytest.fixture
def crash_server(crash_site: CrashSite) -> Iterator[CrashServer]:
    server = CrashServer(crash_site)
    yield server
    server.close()


# -- crawls as real processes, killed by process group ----------------------------------------


class Crawls:
    """``monitor crawl`` processes, each the leader of its own process group (the crawl
    process and its hashing workers are in it): killed whole, and always at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, env: Env, site: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "monitor", "crawl", site],
                env={**env.vars, **extra},
                cwd=env.tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(child)
        return child

    @staticmethod
    def kill(child: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        # The crawl process dies with it (the same process group, and PR_SET_PDEATHSIG):
        # wait until no process of the group is left, so that nothing writes any more.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(child.pid):
            time.sleep(0.02)

    def close(self) -> None:
        for child in self.started:
            self.kill(child)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group is left that is not a zombie."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@pytest.fixture
def crawls() -> Iterator[Crawls]:
    running = Crawls()
    yield running
    running.close()


# -- the database, looked at from outside -----------------------------------------------------

HitKey = tuple[str, str, str, str]  # page URL, image URL, entry algorithm, entry value


@dataclass(frozen=True)
class Snapshot:
    hits: frozenset[HitKey]
    sightings: frozenset[tuple[str, str, str]]  # page URL, image URL, sha256
    images: frozenset[str]
    page_states: frozenset[str]


def snapshot(env: Env) -> Snapshot:
    with env.app.db.engine.connect() as conn:
        hits = conn.execute(
            text(
                "SELECT s.page_url, s.image_url, e.algorithm, e.value FROM hits h "
                "JOIN sightings s ON s.id = h.sighting_id "
                "JOIN hash_entries e ON e.id = h.hash_entry_id"
            )
        ).all()
        sightings = conn.execute(
            text(
                "SELECT s.page_url, s.image_url, i.sha256 FROM sightings s "
                "JOIN images i ON i.id = s.image_id"
            )
        ).all()
        images = conn.execute(text("SELECT sha256 FROM images")).scalars().all()
        pages = conn.execute(text("SELECT url FROM page_states")).scalars().all()
    return Snapshot(
        frozenset(map(tuple, hits)),  # type: ignore[arg-type]
        frozenset(map(tuple, sightings)),  # type: ignore[arg-type]
        frozenset(images),
        frozenset(pages),
    )


def scalar(env: Env, sql: str, **params: Any) -> Any:
    with env.app.db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(env: Env, sql: str, **params: Any) -> list[Any]:
    with env.app.db.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def check_consistent(env: Env, copies: set[str], where: str, run_id: int | None = None) -> None:
    """No half-written rows: every hit has its sighting and entry, every sighting its
    image, every image its hashes; a sighting of a case copy has its hits (they are
    written in the same transaction); nothing twice; no run claims more hits than the
    table holds; no page state for a page whose images were not recorded."""
    problems: dict[str, list[Any]] = {
        "hit without sighting": rows(
            env,
            "SELECT h.id FROM hits h LEFT JOIN sightings s ON s.id = h.sighting_id "
            "WHERE s.id IS NULL",
        ),
        "hit without entry": rows(
            env,
            "SELECT h.id FROM hits h LEFT JOIN hash_entries e ON e.id = h.hash_entry_id "
            "WHERE e.id IS NULL",
        ),
        "hit of another case than its entry": rows(
            env,
            "SELECT h.id FROM hits h JOIN hash_entries e ON e.id = h.hash_entry_id "
            "WHERE e.case_id <> h.case_id",
        ),
        "sighting without image": rows(
            env,
            "SELECT s.id FROM sightings s LEFT JOIN images i ON i.id = s.image_id "
            "WHERE i.id IS NULL",
        ),
        "image without its hashes": rows(
            env,
            "SELECT i.id FROM images i WHERE (SELECT COUNT(DISTINCT x.algorithm) "
            "FROM image_hashes x WHERE x.image_id = i.id AND x.view = 'original') < :n",
            n=len(DEFAULT_ALGORITHMS),
        ),
        "sighting of a case copy without hits": [
            row
            for row in rows(
                env,
                "SELECT s.id, i.sha256 FROM sightings s JOIN images i ON i.id = s.image_id "
                "WHERE NOT EXISTS (SELECT 1 FROM hits h WHERE h.sighting_id = s.id)",
            )
            if row[1] in copies
        ],
        "duplicate sighting": rows(
            env,
            "SELECT page_url, image_url, image_id FROM sightings "
            "GROUP BY page_url, image_url, image_id HAVING COUNT(*) > 1",
        ),
        "duplicate hit": rows(
            env,
            "SELECT sighting_id, hash_entry_id FROM hits "
            "GROUP BY sighting_id, hash_entry_id HAVING COUNT(*) > 1",
        ),
        "duplicate image": rows(
            env, "SELECT sha256 FROM images GROUP BY sha256 HAVING COUNT(*) > 1"
        ),
        "duplicate page state": rows(
            env,
            "SELECT site_id, url FROM page_states GROUP BY site_id, url HAVING COUNT(*) > 1",
        ),
        # Counted after their commit: the latest run never claims hits that are not in the
        # table (those of earlier runs are the latest's now: their last_run_id).
        "run counting more hits than recorded": rows(
            env,
            "SELECT r.id, r.hits, r.new_hits, (SELECT COUNT(*) FROM hits h "
            "WHERE h.last_run_id = r.id) FROM crawl_runs r WHERE r.id = :run AND (r.hits > "
            "(SELECT COUNT(*) FROM hits h WHERE h.last_run_id = r.id) OR r.new_hits > r.hits)",
            run=run_id,
        ),
    }
    # A page's state (what the next crawl reuses on a 304) is kept only once its images
    # were recorded: a page with a state has its sightings. (Only some of them if some of
    # its images failed to download: a 304 makes the next crawl ask for them again.)
    sighted = {p for p, _i, _sha in snapshot(env).sightings}
    problems["page state before its sightings"] = [
        url
        for url, images in rows(env, "SELECT url, image_urls FROM page_states")
        if (images if isinstance(images, list) else json.loads(images)) and url not in sighted
    ]
    if env.app.db.backend == "sqlite":
        path = env.app.db.engine.url.database
        with contextlib.closing(sqlite3.connect(path)) as db:
            problems["integrity_check"] = [
                r for r in db.execute("PRAGMA integrity_check").fetchall() if r != ("ok",)
            ]
            problems["foreign_key_check"] = db.execute("PRAGMA foreign_key_check").fetchall()
    found = {name: found for name, found in problems.items() if found}
    assert not found, f"{where}: {found}"


# -- set-up -----------------------------------------------------------------------------------


def setup_site(env: Env, server: CrashServer) -> None:
    env.vars["MONITOR_ALLOWED_ADDRESSES"] = LOOPBACK
    case_id = add_case(env.app, "Crash victim", email="v@example.org")
    hash_files(env.app, case_id, [PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS])
    env.cli("site", "add", server.url + "/", "--name", "crash", "--crawl-delay", CRAWL_DELAY,
            check=True)  # fmt: skip


def full_crawl(env: Env) -> float:
    started = time.monotonic()
    result = env.cli("crawl", "crash", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return time.monotonic() - started


@pytest.fixture
def reference(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> Iterator[Callable[[CrashServer], Env]]:
    """A second, fresh installation on the same backend, for the reference run."""
    made: list[Env] = []
    extra: list[Iterator[str]] = []

    def make(server: CrashServer) -> Env:
        folder = tmp_path / "reference"
        folder.mkdir()
        if database_url.startswith("sqlite"):
            url = f"sqlite:///{folder / 'var' / 'monitor.db'}"
        else:
            from conftest import _postgres_database

            databases = _postgres_database(request.getfixturevalue("postgres_admin"))
            extra.append(databases)
            url = next(databases)
        vars_ = make_env(folder, url)
        ref = Env(folder, vars_, make_app(vars_))
        made.append(ref)
        setup_site(ref, server)
        return ref

    yield make
    for ref in made:
        ref.app.close()
    for databases in extra:
        with contextlib.suppress(StopIteration):
            next(databases)


# -- the kill test ----------------------------------------------------------------------------


def run_row(env: Env, run_id: int) -> Any:
    return rows(
        env,
        "SELECT status, finish_reason, hits, new_hits, pid FROM crawl_runs WHERE id = :id",
        id=run_id,
    )[0]


def _seconds(at: Any) -> float:
    """A timestamp column as seconds (SQLite gives text, PostgreSQL a datetime)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return float(at.timestamp()) if at.tzinfo else at.replace(tzinfo=UTC).timestamp()


RUN_HITS = "SELECT COUNT(*) FROM hits WHERE last_run_id = :r"


def latest_run(env: Env) -> int | None:
    return scalar(env, "SELECT MAX(id) FROM crawl_runs")


def wait_for(condition: Callable[[], bool], child: subprocess.Popen[bytes], limit: float) -> bool:
    """Poll until the condition holds (True) or the crawl ends or time is up (False)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and child.poll() is None:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_crawls_killed_at_random_moments_lose_nothing(
    env: Env,
    crash_server: CrashServer,
    reference: Callable[[CrashServer], Env],
    crawls: Crawls,
) -> None:
    # -- the reference: one full crawl into a fresh database --------------------------------
    ref = reference(crash_server)
    duration = full_crawl(ref)
    started, finished = rows(ref, "SELECT started_at, finished_at FROM crawl_runs")[0]
    crawling = _seconds(finished) - _seconds(started)  # from the crawl's start to its end
    print(f"reference: {duration:.1f} s, crawling {crawling:.1f} s")
    expected = snapshot(ref)
    copies = {
        sha
        for sha in expected.images
        if scalar(
            ref,
            "SELECT COUNT(*) FROM hits h JOIN sightings s ON s.id = h.sighting_id "
            "JOIN images i ON i.id = s.image_id WHERE i.sha256 = :sha",
            sha=sha,
        )
    }
    assert len({(p, i) for p, i, *_ in expected.hits}) == PAGES  # each page's copy is hit
    assert len(expected.sightings) == 2 * PAGES and len(expected.page_states) == PAGES + 1
    check_consistent(ref, copies, "reference run", 1)

    # -- the same crawl, killed again and again -------------------------------------------------
    setup_site(env, crash_server)
    rng = random.Random(SEED)
    log = env.tmp_path / "crawls.log"
    killed_mid_crawl = 0
    previous: int | None = None
    for kill in range(KILLS):
        child = crawls.start(env, "crash", log)
        # The run of this crawl (a new one: the killed run before it does not block it).
        assert wait_for(lambda p=previous: latest_run(env) != p, child, 60), log.read_text()
        run_id = latest_run(env)
        assert run_id is not None
        if previous is not None:
            status, reason, *_ = run_row(env, previous)
            assert status == "failed" and "interrupted" in (reason or ""), (status, reason)
        if kill == 0:  # at a random moment from its very start (maybe before the crawl's)
            after = rng.uniform(0.02, 0.6) * duration
            how = f"{after:.2f} s after its start"
            wait_for(lambda: False, child, after)
        elif kill % 2 == 0:  # at a random moment of its crawl, from just started to nearly done
            after = rng.uniform(0.02, 0.95) * crawling
            how = f"{after:.2f} s into its crawl"
            wait_for(lambda r=run_id: run_row(env, r)[0] != "queued", child, 60)
            wait_for(lambda: False, child, after)
        else:  # at a random point of its progress: once its k-th hit row is written
            k = rng.randint(1, len(expected.hits) - 1)
            how = f"at its hit {k}"
            wait_for(lambda r=run_id, k=k: scalar(env, RUN_HITS, r=r) >= k, child, 60)
        ended = child.poll() is not None
        Crawls.kill(child)
        status, reason, counted, _new, _pid = run_row(env, run_id)
        where = f"kill {kill + 1} ({how}, seed {SEED}, run {run_id}, {status})"
        if status in ("queued", "running"):  # killed before its end: it is not over yet
            killed_mid_crawl += 1
        else:
            assert ended and status == "completed", (where, reason, log.read_text())
        check_consistent(env, copies, where, run_id)
        recorded = snapshot(env)
        assert recorded.hits <= expected.hits, where  # nothing that should not be
        assert recorded.sightings <= expected.sightings, where
        previous = run_id
        print(f"{where}: {len(recorded.hits)} of {len(expected.hits)} hits")
    assert killed_mid_crawl >= KILLS - 1, "the kills came too late: the crawls had ended"

    # -- then one crawl to its end: the database is the reference's ------------------------
    full_crawl(env)
    last = latest_run(env)
    assert last is not None
    status, reason, counted, _new, _pid = run_row(env, last)
    assert status == "completed", reason
    check_consistent(env, copies, "after the last crawl", last)
    final = snapshot(env)
    assert final.hits - expected.hits == set() and expected.hits - final.hits == set()
    assert final == expected
    assert counted == scalar(ref, "SELECT hits FROM crawl_runs")
    runs = rows(env, "SELECT status, finish_reason FROM crawl_runs ORDER BY id")
    assert [s for s, _r in runs].count("running") == 0, runs


# -- a full disk, a read-only moment ----------------------------------------------------------

#: Loaded by every Python process of a crawl through PYTHONPATH (``sitecustomize``): on each
#: connection taken from a pool, applies what the fault file says. "full": the SQLite
#: database may not grow any more (``max_page_count`` pinned at its size: SQLITE_FULL, as
#: on a full disk); "read-only": it takes no writes (``query_only``: SQLITE_READONLY, as
#: when its file or file system becomes read-only); anything else: back to normal. Root
#: ignores file permissions, so chmod cannot make the database read-only in these tests.
FAULT_HOOK = """
import os

FAULT = os.environ.get("CRASH_TEST_FAULT")
if FAULT:
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    @event.listens_for(Pool, "checkout")
    def _fault(dbapi_connection, record, proxy):
        if type(dbapi_connection).__module__.split(".")[0] != "sqlite3":
            return
        try:
            with open(FAULT) as f:
                fault = f.read().strip()
        except FileNotFoundError:
            fault = ""
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=%d" % (fault == "read-only"))
        cursor.execute("PRAGMA max_page_count=%d" % (1 if fault == "full" else 1073741823))
        cursor.close()
"""


def expected_pairs(server: CrashServer) -> set[tuple[str, str]]:
    """(page, image) of every hit a full crawl of the site records."""
    return {(f"{server.url}/p/{n}.html", f"{server.url}/img/{n}/copy.jpg") for n in range(PAGES)}


def integrity(env: Env) -> list[Any]:
    path = env.app.db.engine.url.database
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA integrity_check").fetchall()


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_database_stops_the_crawl_cleanly(
    sqlite_env: Env, crash_server: CrashServer, crawls: Crawls, fault: str
) -> None:
    env = sqlite_env
    setup_site(env, crash_server)
    hook = env.tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FAULT_HOOK)
    switch = env.tmp_path / "fault"
    log = env.tmp_path / "crawl.log"
    child = crawls.start(
        env,
        "crash",
        log,
        PYTHONPATH=os.pathsep.join([str(hook), env.vars.get("PYTHONPATH", "")]),
        CRASH_TEST_FAULT=str(switch),
    )
    run_id = None
    assert wait_for(lambda: latest_run(env) is not None, child, 60), log.read_text()
    run_id = latest_run(env)
    assert wait_for(lambda: scalar(env, RUN_HITS, r=run_id) >= 8, child, 60), log.read_text()
    switch.write_text(fault)  # the disk is full now, or the database read-only
    before = snapshot(env)
    if fault == "read-only":  # for a moment: until the crawl has seen it
        assert wait_for(lambda: "stopping the crawl" in log.read_text(), child, 60)
        time.sleep(0.5)
        switch.write_text("")
    child.wait(timeout=120)
    output = log.read_text()

    # A clear error, in the output and in the run's finish reason.
    trouble = {
        "full": "database full (database or disk is full)",
        "read-only": "database read-only (attempt to write a readonly database)",
    }[fault]
    assert child.returncode != 0, output
    assert f"error: {trouble}" in output, output
    status, reason, counted, _new, _pid = run_row(env, run_id)
    assert status == "failed" and reason == f"error: {trouble}", (status, reason, output)
    assert "Traceback" not in output, output
    # Not corrupt; nothing committed before was lost; nothing half-written.
    assert integrity(env) == [("ok",)]
    after = snapshot(env)
    assert before.hits <= after.hits and len(after.hits) < PAGES
    assert counted <= len(after.hits)
    check_consistent(env, set(), f"after the {fault} database stopped the crawl", run_id)

    # Space, or writing, back: the next crawl records the rest.
    switch.write_text("")
    full_crawl(env)
    final = snapshot(env)
    assert {(page, image) for page, image, *_ in final.hits} == expected_pairs(crash_server)
    assert integrity(env) == [("ok",)]


@pytest.fixture
def pg_env(tmp_path: Path, postgres_admin: Any) -> Iterator[Env]:
    """An installation on PostgreSQL only."""
    from conftest import _postgres_database

    databases = _postgres_database(postgres_admin)
    vars_ = make_env(tmp_path, next(databases))
    app = make_app(vars_)
    yield Env(tmp_path, vars_, app)
    app.close()
    with contextlib.suppress(StopIteration):
        next(databases)


def test_a_read_only_moment_on_postgresql_stops_the_crawl_cleanly(
    pg_env: Env, postgres_admin: Any, crash_server: CrashServer, crawls: Crawls
) -> None:
    """The database turns read-only for a while (as after a fail-over to a standby): new
    sessions are read-only, the existing ones are cut."""
    env = pg_env
    name = env.app.db.engine.url.database
    setup_site(env, crash_server)
    log = env.tmp_path / "crawl.log"

    def sessions_anew(read_only: bool) -> None:
        setting = "SET default_transaction_read_only = on" if read_only else "RESET ALL"
        postgres_admin.execute(f'ALTER DATABASE "{name}" {setting}')
        postgres_admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )

    child = crawls.start(env, "crash", log)
    assert wait_for(lambda: latest_run(env) is not None, child, 60), log.read_text()
    run_id = latest_run(env)
    assert wait_for(lambda: scalar(env, RUN_HITS, r=run_id) >= 8, child, 60), log.read_text()
    try:
        sessions_anew(read_only=True)
        before = snapshot(env)
        assert wait_for(lambda: "stopping the crawl" in log.read_text(), child, 60), log.read_text()
        time.sleep(0.5)
    finally:
        sessions_anew(read_only=False)
    child.wait(timeout=120)
    output = log.read_text()
    assert child.returncode != 0, output
    status, reason, counted, _new, _pid = run_row(env, run_id)
    assert status == "failed", (status, reason, output)
    assert reason.startswith("error: database read-only (cannot execute "), reason
    assert reason.endswith("in a read-only transaction)"), reason
    assert f"failed: {reason}" in output, output
    assert "Traceback" not in output, output
    after = snapshot(env)
    assert before.hits <= after.hits and len(after.hits) < PAGES
    assert counted <= len(after.hits)
    check_consistent(env, set(), "after the read-only moment", run_id)

    full_crawl(env)
    final = snapshot(env)
    assert {(page, image) for page, image, *_ in final.hits} == expected_pairs(crash_server)


def test_a_run_whose_processes_are_gone_is_ended_as_interrupted(sqlite_env: Env) -> None:
    """Found when the site's next run starts, or when runs are listed; a run whose
    supervisor lives, or that another machine carries out, is left alone."""
    from monitor.db.models import CrawlRun, utcnow
    from monitor.runs import create_run, list_runs, mark_started, this_worker
    from monitor.sites import add_site

    env = sqlite_env
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = this_worker().rsplit(":", 1)[0]
    sites = [add_site(env.app, f"http://{name}.test/", name=name) for name in "abcd"]
    dead, alive, elsewhere, listed = (create_run(env.app, site, "manual") for site in sites)
    for run_id, worker in (
        (dead, f"{host}:{gone.pid}"),
        (alive, this_worker()),
        (elsewhere, f"another-host:{gone.pid}"),
        (listed, f"{host}:{gone.pid}"),
    ):
        with env.app.db.session() as session:
            run = session.get(CrawlRun, run_id)
            assert run is not None
            run.worker, run.updated_at = worker, utcnow()
        mark_started(env.app, run_id, gone.pid)
    # The next run of the dead run's site starts; the live one's site is still busy.
    again = create_run(env.app, sites[0], "manual")
    assert run_row(env, dead)[:2] == (
        "failed",
        f"interrupted: its processes are gone (supervisor {host}:{gone.pid}, crawl pid "
        f"{gone.pid}); the next run redoes what it did not record",
    )
    assert run_row(env, again)[0] == "queued"
    with pytest.raises(Exception, match="queued or running already"):
        create_run(env.app, sites[1], "manual")
    # Listing runs ends the dead ones too.
    statuses = {run.id: run.status for run in list_runs(env.app)}
    assert statuses[listed] == "failed" and statuses[alive] == statuses[elsewhere] == "running"
