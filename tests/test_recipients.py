"""Recipient discovery for takedown notices: the analysts' overrides, a CDN in front of the
site, RDAP (a local RDAP server on 127.0.0.1 serving RFC 9083 JSON and the IANA bootstrap
files), and the abuse@ guess; cached with the date found. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from conftest import Env, LocalServer

from monitor.db.models import utcnow
from monitor.recipients import CACHE_DAYS, find_recipients, set_override


def _entity(roles: list[str], name: str, email: str | None, **extra: object) -> dict:  # type: ignore[type-arg]
    card: list[list[object]] = [["version", {}, "text", "4.0"], ["fn", {}, "text", name]]
    if email:
        card.append(["email", {}, "text", email])
    return {"objectClassName": "entity", "roles": roles, "vcardArray": ["vcard", card], **extra}


class Rdap:
    """IANA-style bootstrap files and an RDAP server, both on 127.0.0.1."""

    def __init__(self) -> None:
        def serve(path: str) -> tuple[int, bytes, dict[str, str]]:
            body = self.answer(path)
            if body is None:
                return 404, b"", {}
            return 200, json.dumps(body).encode(), {"Content-Type": "application/rdap+json"}

        self.local = LocalServer(serve)
        self.requests = self.local.requests
        self.base = f"http://127.0.0.1:{self.local.port}/"

    def answer(self, path: str) -> dict | None:  # type: ignore[type-arg]
        rdap = self.base + "rdap/"
        if path == "/bootstrap/dns.json":
            return {"version": "1.0", "services": [[["test", "localhost"], [rdap]]]}
        if path == "/bootstrap/ipv4.json":
            return {"version": "1.0", "services": [[["127.0.0.0/8", "104.16.0.0/12"], [rdap]]]}
        if path == "/bootstrap/ipv6.json":
            return {"version": "1.0", "services": []}
        if path.startswith("/rdap/ip/"):
            return {
                "objectClassName": "ip network",
                "handle": "NET-TEST-1",
                "name": "EXAMPLE-HOSTING",
                "entities": [
                    _entity(
                        ["registrant"],
                        "Example Hosting Ltd",
                        None,
                        entities=[_entity(["abuse"], "Abuse desk", "abuse@hosting.example")],
                    )
                ],
            }
        if path.startswith("/rdap/domain/bad.test") or path.startswith("/rdap/domain/localhost"):
            return {
                "objectClassName": "domain",
                "ldhName": path.rsplit("/", 1)[1],
                "entities": [
                    _entity(
                        ["registrar"],
                        "Example Registrar Inc.",
                        None,
                        entities=[_entity(["abuse"], "", "abuse@registrar.example")],
                    )
                ],
            }
        return None

    def close(self) -> None:
        self.local.close()


@pytest.fixture
def rdap() -> Iterator[Rdap]:
    server = Rdap()
    yield server
    server.close()


def use(env: Env, rdap: Rdap) -> Env:
    return env.reconfigure(MONITOR_RDAP_BOOTSTRAP=rdap.base + "bootstrap/")


def test_discovery_in_order_and_cached(env: Env, rdap: Rdap) -> None:
    env = use(env, rdap)
    resolve = {"img.bad.test": ["127.0.0.9"], "cdn.test": ["104.16.1.1"], "www.nowhere.test": []}
    found = find_recipients(env.app, "http://img.bad.test/p/1.jpg", resolve=resolve.__getitem__)
    assert [(r.kind, r.source, r.email) for r in found] == [
        ("host", "rdap-ip", "abuse@hosting.example"),
        ("registrar", "rdap-domain", "abuse@registrar.example"),
    ]
    assert "EXAMPLE-HOSTING" in found[0].name and found[1].name == "Example Registrar Inc."
    assert all(r.found_at == utcnow().date().isoformat() and not r.guess for r in found)

    # Cached: the same host again asks nothing; after CACHE_DAYS it asks again.
    asked = len(rdap.requests)
    assert (
        find_recipients(env.app, "http://img.bad.test/other.jpg", resolve=resolve.__getitem__)
        == found
    )
    assert len(rdap.requests) == asked
    later = utcnow() + timedelta(days=CACHE_DAYS + 1)
    find_recipients(env.app, "http://img.bad.test/x.jpg", now=later, resolve=resolve.__getitem__)
    assert len(rdap.requests) > asked

    # An override for the parent domain comes first; the discovered ones follow.
    set_override(
        env.app,
        "bad.test",
        kind="platform",
        name="Bad Test's form",
        form_url="https://bad.test/report",
    )
    first = find_recipients(env.app, "http://img.bad.test/p/1.jpg", resolve=resolve.__getitem__)[0]
    assert (first.kind, first.source, first.form_url) == (
        "platform",
        "override",
        "https://bad.test/report",
    )

    # Behind a CDN: its abuse form first (it forwards to the real host).
    behind = find_recipients(env.app, "http://cdn.test/a.jpg", resolve=resolve.__getitem__)
    assert (behind[0].kind, behind[0].name, behind[0].form_url) == (
        "cdn",
        "Cloudflare",
        "https://abuse.cloudflare.com/",
    )

    # Nothing found: abuse@ the domain, marked as a guess.
    nothing = find_recipients(env.app, "http://www.nowhere.test/", resolve=resolve.__getitem__)
    assert [(r.email, r.guess, r.source) for r in nothing] == [
        ("abuse@nowhere.test", True, "guess")
    ]


def test_known_platforms_after_overrides_before_discovery(env: Env) -> None:
    env.reconfigure(MONITOR_RDAP_BOOTSTRAP="http://127.0.0.1:9/")  # nothing listens there
    no_dns = {"www.facebook.com": [], "cdn.pornhub.com": []}.__getitem__
    found = find_recipients(env.app, "https://www.facebook.com/photo/1", resolve=no_dns)
    assert (found[0].kind, found[0].source, found[0].found_at) == (
        "platform",
        "known-platform",
        "2026-11-28",
    )
    assert found[0].form_url == "https://www.facebook.com/help/contact/567360146613371"
    # An analyst's override for the domain takes its place.
    set_override(env.app, "pornhub.com", kind="platform", name="Trusted flagger channel",
                 email="tf@pornhub.example")  # fmt: skip
    found = find_recipients(env.app, "https://cdn.pornhub.com/v.jpg", resolve=no_dns)
    assert [(r.source, r.email) for r in found] == [("override", "tf@pornhub.example")]


def test_rdap_failures_are_not_fatal(env: Env) -> None:
    env.reconfigure(MONITOR_RDAP_BOOTSTRAP="http://127.0.0.1:9/")  # nothing listens there
    found = find_recipients(env.app, "http://a.example.test/x", resolve=lambda host: ["127.0.0.5"])
    assert [(r.email, r.guess) for r in found] == [("abuse@example.test", True)]


def test_recipients_from_the_cli(sqlite_env: Env, rdap: Rdap) -> None:
    env = use(sqlite_env, rdap)
    found = json.loads(
        env.cli("recipients", "find", "http://localhost/x.jpg", "--json", check=True).stdout
    )
    assert ("host", "abuse@hosting.example") in [(r["kind"], r["email"]) for r in found]
    assert ("registrar", "abuse@registrar.example") in [(r["kind"], r["email"]) for r in found]
    env.cli(
        "recipients",
        "set",
        "localhost",
        "--kind",
        "agent",
        "--name",
        "DMCA agent",
        "--email",
        "agent@example.org",
        check=True,
    )
    table = env.cli("recipients", "find", "http://localhost/x.jpg", check=True).stdout
    assert table.index("agent@example.org") < table.index("abuse@hosting.example")
    bad = env.cli("recipients", "set", "localhost", "--kind", "agent", "--name", "x")
    assert bad.returncode != 0 and "--email or a --form" in bad.stderr
    assert env.cli("recipients", "remove", "localhost").returncode == 0
    assert "no override for localhost" in env.cli("recipients", "remove", "localhost").stderr


def test_rdap_lookups_follow_no_redirect_into_private_addresses() -> None:
    """An RDAP server (or someone in the middle) cannot send the lookup into the NGO's
    own network: a redirect to a private address is refused before it is followed."""
    import urllib.request

    from monitor.recipients import _fetch_json

    inside = LocalServer(lambda path: (200, b'{"secret": true}', {}))
    rdap = LocalServer(
        lambda path: (302, b"", {"Location": f"http://127.0.0.1:{inside.port}/admin"})
    )
    try:
        with pytest.raises(ValueError, match="RDAP redirect refused"):
            _fetch_json(f"http://127.0.0.1:{rdap.port}/domain/example.org")
        assert rdap.requests == ["/domain/example.org"] and inside.requests == []
        # The control: a plain fetch would have followed it.
        with urllib.request.urlopen(f"http://127.0.0.1:{rdap.port}/domain/x", timeout=5) as r:
            assert json.loads(r.read()) == {"secret": True}
        assert inside.requests == ["/admin"]
    finally:
        rdap.close()
        inside.close()
