"""Shared fixtures: databases on SQLite and PostgreSQL, the app, the CLI in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.app import App, bootstrap
from monitor.config import Config
from monitor.db import Database, upgrade
from monitor.hashing import HashValue, ImageHashes
from monitor.matching import Match
from monitor.recording import Observation
from monitor.samplesite import SampleSite, SiteServer, build_sample_site

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"
CASE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
POSTGRES_URL = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[psycopg.Connection]:
    try:
        connection = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # a missing server is a failure, not a skip
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
    yield connection
    connection.close()


def _postgres_database(admin: psycopg.Connection) -> Iterator[str]:
    name = f"monitor_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'monitor.db'}"
    else:
        yield from _postgres_database(request.getfixturevalue("postgres_admin"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'monitor.db'}"


def make_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    home = tmp_path / "home"  # so that anything written "to the home folder" is seen by the tests
    home.mkdir(exist_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp_path / "tmp"),
        MONITOR_VAR_DIR=str(tmp_path / "var"),
        MONITOR_DATABASE_URL=database_url,
        MONITOR_DOWNLOAD_TIMEOUT="4",
        MONITOR_DNS_TIMEOUT="4",
        MONITOR_ACTOR="pytest",
        # One hashing worker a crawl (the default is one a core): the tests' crawls are
        # small, and each worker costs a process start.
        MONITOR_HASH_WORKERS="1",
    )
    return env


def make_app(env: dict[str, str]) -> App:
    config = Config.from_env(env)
    database = Database(config.database_url)
    upgrade(database)
    database.dispose()
    return bootstrap(config)


@dataclass
class Env:
    """A configured installation: environment, app, and the CLI as a separate process."""

    tmp_path: Path
    vars: dict[str, str]
    app: App

    def cli(
        self, *args: str, check: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "monitor", *args],
            env=self.vars,
            cwd=self.tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"monitor {' '.join(args)} failed: {result.stderr}")
        return result

    def reconfigure(self, **settings: str) -> Env:
        """Set MONITOR_* variables, for the CLI and for a new ``app`` made from them."""
        self.vars.update(settings)
        self.app.close()
        self.app = bootstrap(Config.from_env(self.vars))
        return self


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> Iterator[Env]:
    """An installation on each backend."""
    vars_ = make_env(tmp_path, database_url)
    app = make_app(vars_)
    yield Env(tmp_path, vars_, app)
    app.close()


@pytest.fixture
def sqlite_env(tmp_path: Path, sqlite_url: str) -> Iterator[Env]:
    """An installation on SQLite only (for tests where the backend does not matter)."""
    vars_ = make_env(tmp_path, sqlite_url)
    app = make_app(vars_)
    yield Env(tmp_path, vars_, app)
    app.close()


# -- the sample site, served on 127.0.0.1 ---------------------------------------------------

#: MONITOR_ALLOWED_ADDRESSES for crawls of servers on the loopback interface.
LOOPBACK = "127.0.0.1/32,::1/128"


@pytest.fixture(scope="module")
def sample() -> SampleSite:
    return build_sample_site(PHOTOS)


@pytest.fixture
def server(sample: SampleSite) -> Iterator[SiteServer]:
    with SiteServer(sample) as running:
        yield running


def observation(sha: str, image_url: str, *matches: Match) -> Observation:
    """A crawled image (a tiny JPEG's worth of metadata, one pHash) and what it matched."""
    return Observation(
        image_url=image_url,
        final_url=None,
        content_type="image/jpeg",
        etag=None,
        last_modified=None,
        hashes=ImageHashes(
            sha256=sha,
            size=10,
            width=4,
            height=4,
            format="JPEG",
            hashes=(HashValue("phash", "c2924c5532bddfc8"),),
        ),
        matches=matches,
    )


class LocalServer:
    """An HTTP server on ``host`` (127.0.0.1 unless told) whose answers a test decides:
    ``answer(path)`` gives (status, body, headers). Every path asked for is kept in
    ``requests``, and with the Host header it came with in ``seen``."""

    def __init__(
        self,
        answer: Callable[[str], tuple[int, bytes, dict[str, str]]],
        host: str = "127.0.0.1",
    ) -> None:
        self.requests: list[str] = []
        self.seen: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                owner.seen.append((self.headers.get("Host", ""), self.path))
                status, body, headers = answer(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def clear(self) -> None:
        self.requests.clear()
        self.seen.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def web(env: Env) -> Iterator[Any]:
    """The web app in-process on each backend, not signed in (``web.sign_in("analyst")``)."""
    from websupport import Web

    client = Web(env.app)
    yield client
    client.client.close()


@pytest.fixture
def sqlite_web(sqlite_env: Env) -> Iterator[Any]:
    """The web app in-process on SQLite only."""
    from websupport import Web

    client = Web(sqlite_env.app)
    yield client
    client.client.close()


# --------------------------------------------------------------------------- Chromium

#: Debian's chromium, driven by Playwright through its executable path (nothing downloaded).
CHROMIUM = os.environ.get("MONITOR_TEST_CHROMIUM", "/usr/bin/chromium")
#: Chromium's own calls home are switched off; anything else not on loopback fails the test.
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-features=Translate,OptimizationHints,MediaRouter",
]  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium for the module's tests (Playwright's browser object)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()
