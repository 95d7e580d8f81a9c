"""Real crawls against a local HTTP server: the address guard refuses before anything is sent.

Each crawl runs in a child process (a Twisted reactor cannot be restarted) that
prints what it fetched, what failed and the crawl's statistics as JSON. The
server records every request it receives, so "refused" means "nothing reached
the server", not merely "the crawler said so".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
GUARD = "crawler.middlewares.AddressGuardMiddleware"
GUARD_PRIORITY = 75
GUARDED_RESOLVER = "crawler.middlewares.GuardedResolver"
GUARDED_HOSTNAME_RESOLVER = "crawler.middlewares.GuardedHostnameResolver"
REFUSED_PRIVATE = "monitor/refused/private_address"
REFUSED_SCHEME = "monitor/refused/unsupported_scheme"

# --- the server ----------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _RecordingServer

    def do_GET(self) -> None:
        self.server.requests.append((self.headers.get("Host", ""), self.path))
        url = urlsplit(self.path)
        if url.path == "/":
            self._send(200, b'<html><body><a href="/ok">ok</a></body></html>')
        elif url.path == "/ok":
            self._send(200, b"<html><body>ok</body></html>")
        elif url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(url.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request list is the log


class _RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.requests: list[tuple[str, str]] = []  # (Host header, path)


@dataclass
class Server:
    host: str
    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def redirect_to(self, target: str) -> str:
        return self.url(f"/redirect?to={quote(target, safe='')}")

    @property
    def paths(self) -> list[str]:
        return sorted(path for _, path in self.requests)


def _serve(host: str) -> Iterator[Server]:
    httpd = _RecordingServer(host)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(host, httpd.server_address[1], httpd.requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def other_server() -> Iterator[Server]:
    """A second loopback server at an address the allowlist test leaves refused."""
    yield from _serve("127.0.0.2")


# --- the crawl, in a child process ---------------------------------------------------

CRAWL_SCRIPT = r"""
import json, socket, sys

config = json.loads(sys.argv[1])
rebind = config.get("rebind")
if rebind:
    # DNS rebinding, simulated without a DNS server: the middleware's lookup sees a
    # public address, the resolver the connection uses sees 127.0.0.1. Patched
    # before Twisted imports these functions by name.
    real_getaddrinfo, real_gethostbyname = socket.getaddrinfo, socket.gethostbyname

    def _target(host):
        return rebind["socket_sees"] if host == rebind["name"] else host

    socket.getaddrinfo = lambda host, *a, **k: real_getaddrinfo(_target(host), *a, **k)
    socket.gethostbyname = lambda host: real_gethostbyname(_target(host))

import scrapy
from scrapy.crawler import CrawlerProcess

import crawler.middlewares as guard

if rebind:
    real_lookup = guard._system_lookup
    guard._system_lookup = lambda host: (
        [rebind["middleware_sees"]] if host == rebind["name"] else real_lookup(host)
    )


class GuardSpider(scrapy.Spider):
    name = "guard"

    def __init__(self, urls, **kwargs):
        super().__init__(**kwargs)
        self.urls = urls
        self.fetched = []
        self.failures = []

    async def start(self):
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, errback=self.failed)

    def parse(self, response):
        self.fetched.append(response.url)
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, callback=self.parse, errback=self.failed)

    def failed(self, failure):
        exc = failure.value
        self.failures.append({
            "url": failure.request.url,
            "type": type(exc).__name__,
            "reason": exc.reason if isinstance(exc, guard.RefusedAddress) else None,
            "message": str(exc),
        })


process = CrawlerProcess(config["settings"])
crawler = process.create_crawler(GuardSpider)
process.crawl(crawler, urls=config["urls"])
process.start()
result = {
    "stats": crawler.stats.get_stats(),
    "fetched": crawler.spider.fetched,
    "failures": crawler.spider.failures,
}
print("RESULT " + json.dumps(result, default=str))
"""


@dataclass
class CrawlResult:
    stats: dict[str, Any]
    fetched: list[str]
    failures: list[dict[str, Any]]
    log: str

    def refused(self, key: str = REFUSED_PRIVATE) -> int:
        return int(self.stats.get(key, 0))

    def failed(self, url: str) -> dict[str, Any]:
        matches = [f for f in self.failures if f["url"] == url]
        assert len(matches) == 1, (url, self.failures, self.log)
        return matches[0]


def crawl_settings(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "TWISTED_DNS_RESOLVER": GUARDED_RESOLVER,
        "DOWNLOADER_MIDDLEWARES": {GUARD: GUARD_PRIORITY},
        "MONITOR_ALLOW_PRIVATE": False,
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,  # an HTTP control server, on by default in 2.19
        "HTTPPROXY_ENABLED": False,  # a proxy from the environment would hide the guard
        "DOWNLOAD_DELAY": 0,
        "DNS_TIMEOUT": 10,
        "DOWNLOAD_TIMEOUT": 20,
        "LOG_LEVEL": "INFO",
    }
    settings.update(overrides)
    return settings


def run_crawl(
    tmp_path: Path, urls: list[str], settings: dict[str, Any], rebind: dict[str, str] | None = None
) -> CrawlResult:
    script = tmp_path / "guard_crawl.py"
    script.write_text(CRAWL_SCRIPT)
    config = {"settings": settings, "urls": urls, "rebind": rebind}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().endswith("_PROXY") and not key.startswith("SCRAPY_")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(config)],
        check=False,  # a failed crawl is reported with its output below
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"crawl failed:\n{proc.stdout}\n{proc.stderr}"
    data = json.loads(lines[-1].removeprefix("RESULT "))
    return CrawlResult(data["stats"], data["fetched"], data["failures"], proc.stderr)


# --- the tests -----------------------------------------------------------------------


def test_private_addresses_refused_by_default(tmp_path: Path, server: Server) -> None:
    secret = tmp_path / "secret.html"
    secret.write_text(f'<a href="{server.url("/ok")}">ok</a>')
    private = [
        server.url("/"),
        server.url("/", host="localhost"),
        server.url("/", host="2130706433"),  # 127.0.0.1 as one number
        server.url("/", host="[::ffff:127.0.0.1]"),
        server.redirect_to(server.url("/ok")),
    ]
    other_schemes = [secret.as_uri(), "data:text/plain;base64,aW5saW5l"]

    result = run_crawl(tmp_path, private + other_schemes, crawl_settings())

    assert server.requests == [], result.log
    assert result.fetched == []
    assert result.refused(REFUSED_PRIVATE) == len(private)
    assert result.refused(REFUSED_SCHEME) == len(other_schemes)
    assert "downloader/request_count" not in result.stats
    for url in private:
        failure = result.failed(url)
        assert failure["type"] == "RefusedAddress"
        assert failure["reason"] == "private_address"
        assert failure["message"].startswith("refused private address ")
        assert "127.0.0.1" in failure["message"] or "::1" in failure["message"]  # localhost
    for url in other_schemes:
        assert result.failed(url)["reason"] == "unsupported_scheme"
    # One INFO line per refusal, naming the host, never the path.
    refusals = [line for line in result.log.splitlines() if "Refused request" in line]
    assert len(refusals) == len(private) + len(other_schemes)
    assert not any("/redirect" in line or "secret" in line for line in refusals)


def test_private_addresses_fetched_when_allowed(tmp_path: Path, server: Server) -> None:
    urls = [
        server.url("/"),
        server.redirect_to(server.url("/ok?via=ip")),
        server.redirect_to(server.url("/ok?via=name", host="localhost")),
        "file:///etc/hostname",  # schemes stay refused with private addresses allowed
    ]

    result = run_crawl(tmp_path, urls, crawl_settings(MONITOR_ALLOW_PRIVATE=True))

    here, named = f"127.0.0.1:{server.port}", f"localhost:{server.port}"
    assert (here, "/") in server.requests
    assert (here, "/ok") in server.requests  # the link on "/" was followed
    assert (here, "/ok?via=ip") in server.requests
    assert (named, "/ok?via=name") in server.requests
    assert sorted(result.fetched) == sorted(
        [
            server.url("/"),
            server.url("/ok"),
            server.url("/ok?via=ip"),
            server.url("/ok?via=name", host="localhost"),
        ]
    ), result.log
    assert result.refused(REFUSED_PRIVATE) == 0
    assert result.refused(REFUSED_SCHEME) == 1
    assert result.failed("file:///etc/hostname")["reason"] == "unsupported_scheme"


def test_redirect_from_allowed_into_refused_address(
    tmp_path: Path, server: Server, other_server: Server
) -> None:
    # Only 127.0.0.1 is allowlisted: the first hop is fetched, the redirect to
    # 127.0.0.2 (a loopback address like any private one) must not be.
    into_refused = server.redirect_to(other_server.url("/ok"))
    settings = crawl_settings(MONITOR_ALLOWED_ADDRESSES=["127.0.0.1/32"])

    result = run_crawl(tmp_path, [server.url("/"), into_refused], settings)

    assert other_server.requests == [], result.log
    assert server.paths == sorted(["/", "/ok", into_refused.removeprefix(server.url(""))])
    assert result.refused() == 1
    failure = result.failed(other_server.url("/ok"))  # the errback gets the redirected request
    assert failure["reason"] == "private_address"
    assert "127.0.0.2" in failure["message"]
    # The refusal is the guard's doing: the other server answers anyone else.
    with urllib.request.urlopen(other_server.url("/ok"), timeout=10) as response:
        assert response.status == 200
    assert other_server.requests == [(f"127.0.0.2:{other_server.port}", "/ok")]


@pytest.mark.parametrize(
    ("resolver", "refused"),
    [
        (GUARDED_RESOLVER, True),
        (GUARDED_HOSTNAME_RESOLVER, True),
        # Control: Scrapy's own resolver lets the rebinding through, which shows
        # the simulation reaches the server when nothing stops it.
        ("scrapy.resolver.CachingThreadedResolver", False),
    ],
)
def test_resolver_refuses_dns_rebinding(
    tmp_path: Path, server: Server, resolver: str, refused: bool
) -> None:
    url = server.url("/ok", host="rebind.test")
    rebind = {"name": "rebind.test", "middleware_sees": "93.184.216.34", "socket_sees": "127.0.0.1"}

    result = run_crawl(tmp_path, [url], crawl_settings(TWISTED_DNS_RESOLVER=resolver), rebind)

    if not refused:
        assert server.requests == [(f"rebind.test:{server.port}", "/ok")], result.log
        assert result.fetched == [url]
        return
    assert server.requests == [], result.log
    assert result.fetched == []
    assert result.refused() == 1
    failure = result.failed(url)
    assert failure["type"] == "RefusedAddress"
    assert failure["reason"] == "private_address"
    assert "refused private address 127.0.0.1 for host 'rebind.test'" in failure["message"]


@pytest.mark.parametrize(
    ("setting", "resolver"),
    [
        ("TWISTED_DNS_RESOLVER", GUARDED_RESOLVER),
        ("TWISTED_DNS_RESOLVER", GUARDED_HOSTNAME_RESOLVER),
        ("DNS_RESOLVER", GUARDED_RESOLVER),  # deprecated in 2.19, still honoured
    ],
)
def test_resolver_alone_refuses_private_addresses(
    tmp_path: Path, server: Server, setting: str, resolver: str
) -> None:
    # Without the middleware, the resolver is the last line: the HTTP/1.1 handler
    # sends IP literals through it too.
    settings = crawl_settings(DOWNLOADER_MIDDLEWARES={}, RETRY_ENABLED=False)
    settings.pop("TWISTED_DNS_RESOLVER")
    settings[setting] = resolver
    urls = [server.url("/"), server.url("/", host="localhost")]

    result = run_crawl(tmp_path, urls, settings)

    assert server.requests == [], result.log
    assert result.fetched == []
    # What Scrapy 2.19's HTTP handler makes of the resolver's DNSLookupError.
    assert {f["type"] for f in result.failures} == {"CannotResolveHostError"}
    assert len(result.failures) == 2
    assert result.log.count("Refused connection (private_address)") >= 2


def test_guard_without_asyncio_reactor(tmp_path: Path, server: Server) -> None:
    # The middleware resolves in a thread through Twisted, not asyncio, here.
    settings = crawl_settings(
        TWISTED_REACTOR="twisted.internet.selectreactor.SelectReactor",
        MONITOR_ALLOWED_ADDRESSES=["127.0.0.1/32", "::1/128"],  # localhost may be both
    )
    named = server.url("/ok", host="localhost")  # resolves to the allowlisted address
    refused = server.url("/", host="127.0.0.2")

    result = run_crawl(tmp_path, [named, refused], settings)

    assert "SelectReactor" in result.log
    assert server.requests == [(f"localhost:{server.port}", "/ok")], result.log
    assert result.fetched == [named]
    assert result.refused() == 1
    assert result.failed(refused)["reason"] == "private_address"
