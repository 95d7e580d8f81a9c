"""Who should receive a takedown notice for a URL: recipient discovery.

In this order, each step adding what it finds:

1. the analysts' own table of per-domain overrides (``monitor recipients set``), for the
   host and each parent domain — designated agents and the forms the NGO uses go there;
2. known platforms' own channels (``monitor/data/platforms.json``, checked on the date it
   gives), for the host and each parent domain, unless an override names that domain;
3. a CDN in front of the site (its published address ranges, ``monitor/data/cdns.json``):
   its abuse form, which forwards to the real host;
4. RDAP (RFC 9083) for the abuse contact of the network the host's address is in;
5. RDAP for the domain's registrar and its abuse contact;
6. ``abuse@<domain>`` when nothing above gave an address, marked as a guess.

Search engines are separate recipients (``search_engines``): a de-listing request hides
the pages from an engine's results whoever hosts them. They come from
``monitor/data/search_engines.json`` (checked on the date it gives: forms move), each
replaced by an analyst's override of kind ``search-engine`` for the same domain, and
joined by any other such override.

What RDAP and the CDN table say is cached per host with the date it was found
(``recipient_cache``), and looked up again after ``CACHE_DAYS``. The RDAP servers are
found through the IANA bootstrap files (``MONITOR_RDAP_BOOTSTRAP``; the tests serve
their own on 127.0.0.1).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from sqlalchemy import select

from monitor import audit
from monitor.app import App
from monitor.db.models import RecipientCache, RecipientOverride, utcnow
from monitor.errors import InvalidInput, NotFound
from monitor.netguard import AddressRefused, IPNetwork, check_resolved, check_url

CACHE_DAYS = 30
RDAP_TIMEOUT = 10.0
RDAP_MAX_BYTES = 1024 * 1024
KINDS = ("platform", "host", "cdn", "registrar", "agent", "search-engine", "other")
CDNS = Path(__file__).resolve().parent / "data" / "cdns.json"
SEARCH_ENGINES = Path(__file__).resolve().parent / "data" / "search_engines.json"
PLATFORMS = Path(__file__).resolve().parent / "data" / "platforms.json"


@dataclass(frozen=True)
class Recipient:
    kind: str  # platform | host | cdn | registrar | agent | other
    name: str
    email: str | None
    form_url: str | None
    source: str  # override | known-platform | cdn | rdap-ip | rdap-domain | guess | bundled
    guess: bool = False
    found_at: str = ""  # ISO date the information was found
    domain: str = ""  # a search engine's domain (its notices are filed under it)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Fetch = Callable[[str], Any]  # URL -> parsed JSON
Resolve = Callable[[str], list[str]]  # host -> addresses


# -- the analysts' overrides ------------------------------------------------------------------


def set_override(
    app: App,
    domain: str,
    *,
    kind: str,
    name: str,
    email: str | None = None,
    form_url: str | None = None,
) -> None:
    domain = _domain(domain)
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    if not email and not form_url:
        raise InvalidInput("give an --email or a --form URL (or both)")
    if email is not None and "@" not in email:
        raise InvalidInput(f"not an email address: {email!r}")
    if form_url is not None and urlsplit(form_url).scheme not in ("http", "https"):
        raise InvalidInput(f"not a web address: {form_url!r}")
    with app.db.session() as session:
        row = session.scalar(select(RecipientOverride).where(RecipientOverride.domain == domain))
        if row is None:
            row = RecipientOverride(domain=domain)
            session.add(row)
        row.kind, row.name, row.email, row.form_url = kind, name, email, form_url
        row.updated_at = utcnow()
        audit.record(session, app.actor, "recipients.set", "domain", domain)


def remove_override(app: App, domain: str) -> None:
    domain = _domain(domain)
    with app.db.session() as session:
        row = session.scalar(select(RecipientOverride).where(RecipientOverride.domain == domain))
        if row is None:
            raise NotFound(f"no override for {domain}")
        session.delete(row)
        audit.record(session, app.actor, "recipients.remove", "domain", domain)


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if "://" in value:
        value = urlsplit(value).hostname or ""
    if not value or " " in value or "/" in value:
        raise InvalidInput(f"not a domain name: {value!r}")
    return value


# -- search engines ------------------------------------------------------------------------------


def search_engines(app: App, *, gdpr: bool = False) -> list[Recipient]:
    """The search engines a de-listing request goes to: the bundled table, where an
    analyst's ``search-engine`` override for the same domain replaces an entry, plus the
    other such overrides. ``gdpr``: the engine's GDPR Art. 17 form rather than its
    worldwide form for intimate images (when the table has one)."""
    table = json.loads(SEARCH_ENGINES.read_text(encoding="utf-8"))
    engines = {
        e["domain"]: Recipient(
            "search-engine",
            e["name"],
            e.get("email"),
            (e.get("gdpr_form") if gdpr else None) or e.get("form"),
            "bundled",
            found_at=table["checked"],
            domain=e["domain"],
        )
        for e in table["engines"]
    }
    with app.db.session() as session:
        for row in session.scalars(
            select(RecipientOverride).where(RecipientOverride.kind == "search-engine")
        ):
            engines[row.domain] = Recipient(
                "search-engine",
                row.name,
                row.email,
                row.form_url,
                "override",
                found_at=row.updated_at.date().isoformat(),
                domain=row.domain,
            )
    return [engines[d] for d in sorted(engines)]


# -- discovery ----------------------------------------------------------------------------------


def find_recipients(
    app: App,
    url: str,
    *,
    now: datetime | None = None,
    fetch: Fetch | None = None,
    resolve: Resolve | None = None,
) -> list[Recipient]:
    """The recipients for a notice about ``url``, most direct first."""
    now = now or utcnow()
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        raise InvalidInput(f"not a web address: {url!r}")
    found: list[Recipient] = []
    with app.db.session() as session:
        literal = _is_ip(host)
        parents = (
            [] if literal else [".".join(host.split(".")[i:]) for i in range(1, host.count("."))]
        )
        candidates = [host, *parents]
        overrides = {
            row.domain: row
            for row in session.scalars(
                select(RecipientOverride).where(
                    RecipientOverride.domain.in_(candidates),
                    RecipientOverride.kind != "search-engine",
                )
            )
        }
        for domain in candidates:  # the most specific first
            row = overrides.get(domain)
            if row is not None:
                found.append(
                    Recipient(
                        row.kind,
                        row.name,
                        row.email,
                        row.form_url,
                        "override",
                        found_at=row.updated_at.date().isoformat(),
                    )
                )
        known = _known_platforms()
        for domain in candidates:
            platform = known.get(domain)
            if platform is not None and domain not in overrides:
                found.append(
                    Recipient(
                        "platform",
                        platform["name"],
                        platform.get("email"),
                        platform.get("form"),
                        "known-platform",
                        found_at=platform["checked"],
                    )
                )
        cached = session.scalar(select(RecipientCache).where(RecipientCache.host == host))
        if cached is not None and now - cached.found_at < timedelta(days=CACHE_DAYS):
            discovered = [Recipient(**r) for r in cached.recipients]
        else:
            discovered = _discover(app, host, now, fetch or _fetch_json, resolve or _resolve)
            if cached is None:
                cached = RecipientCache(host=host)
                session.add(cached)
            cached.recipients = [r.to_json() for r in discovered]
            cached.found_at = now
        found.extend(discovered)
        if not literal and not any(r.email for r in found):
            found.append(
                Recipient(
                    "host",
                    f"abuse desk of {_registered(host)} (not confirmed)",
                    f"abuse@{_registered(host)}",
                    None,
                    "guess",
                    guess=True,
                    found_at=now.date().isoformat(),
                )
            )
        audit.record(session, app.actor, "recipients.find", "domain", host)
    return found


def _discover(
    app: App, host: str, now: datetime, fetch: Fetch, resolve: Resolve
) -> list[Recipient]:
    date = now.date().isoformat()
    found: list[Recipient] = []
    try:
        addresses = [ipaddress.ip_address(a) for a in resolve(host)]
    except (OSError, ValueError):
        addresses = []
    bootstrap = app.config.rdap_bootstrap
    for address in addresses[:1]:
        cdn = _cdn(address)
        if cdn is not None:
            found.append(
                Recipient(
                    "cdn", cdn["name"], cdn.get("email"), cdn.get("form"), "cdn", found_at=date
                )
            )
        server = _rdap_server(fetch, bootstrap, "ipv4" if address.version == 4 else "ipv6", address)
        if server:
            data = _safe_fetch(fetch, urljoin(server, f"ip/{address}"))
            abuse = _abuse_contact(data) if data else None
            if abuse is not None:
                name = data.get("name") or data.get("handle") or str(address)
                found.append(
                    Recipient(
                        "host",
                        f"{abuse[0] or name} (network {name})",
                        abuse[1],
                        None,
                        "rdap-ip",
                        found_at=date,
                    )
                )
    if _is_ip(host):
        return found
    domain = _registered(host)
    server = _rdap_server(fetch, bootstrap, "dns", domain)
    if server:
        data = _safe_fetch(fetch, urljoin(server, f"domain/{domain}"))
        registrar = _registrar(data) if data else None
        if registrar is not None:
            found.append(
                Recipient(
                    "registrar", registrar[0], registrar[1], None, "rdap-domain", found_at=date
                )
            )
    return found


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _registered(host: str) -> str:
    """The domain a notice is about: the host's last two labels (no public-suffix list:
    ``example.co.uk`` gives ``co.uk``, so a guess from it is marked as such)."""
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else host


@functools.cache
def _known_platforms() -> dict[str, dict[str, Any]]:
    """The known platforms' table, read once: domain -> its entry (with the date checked)."""
    table = json.loads(PLATFORMS.read_text(encoding="utf-8"))
    return {
        domain: {**entry, "checked": table["checked"]}
        for entry in table["platforms"]
        for domain in entry["domains"]
    }


@functools.cache
def _cdn_networks() -> tuple[tuple[dict[str, Any], tuple[IPNetwork, ...]], ...]:
    """The CDN table, read once: each CDN with its parsed networks."""
    cdns = json.loads(CDNS.read_text(encoding="utf-8"))["cdns"]
    return tuple((cdn, tuple(ipaddress.ip_network(n) for n in cdn["networks"])) for cdn in cdns)


def _cdn(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, Any] | None:
    for cdn, networks in _cdn_networks():
        if any(address.version == n.version and address in n for n in networks):
            return cdn
    return None


def _rdap_server(fetch: Fetch, bootstrap: str, registry: str, key: Any) -> str | None:
    """The RDAP base URL for a domain (``dns``) or an address (``ipv4``/``ipv6``), from the
    IANA bootstrap file (RFC 9224)."""
    data = _safe_fetch(fetch, urljoin(bootstrap, f"{registry}.json"))
    if not data:
        return None
    best: tuple[int, str] | None = None
    for entries, urls in data.get("services", []):
        if not urls:
            continue
        for entry in entries:
            if registry == "dns":
                if key == entry or key.endswith("." + entry):
                    length = entry.count(".") + 1
                else:
                    continue
            else:
                network = ipaddress.ip_network(entry, strict=False)
                if key.version != network.version or key not in network:
                    continue
                length = network.prefixlen
            if best is None or length > best[0]:
                best = (length, urls[0] if urls[0].endswith("/") else urls[0] + "/")
    return best[1] if best else None


def _vcard(entity: dict[str, Any]) -> tuple[str | None, str | None]:
    """(name, email) of an RDAP entity's jCard."""
    name = email = None
    card = entity.get("vcardArray")
    if isinstance(card, list) and len(card) == 2:
        for prop in card[1]:
            if prop[0] == "fn":
                name = prop[3]
            elif prop[0] == "email":
                email = prop[3]
    return name, email


def _entities(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for entity in data.get("entities", []) or []:
        out.append(entity)
        out.extend(_entities(entity))
    return out


def _abuse_contact(data: dict[str, Any]) -> tuple[str | None, str] | None:
    for entity in _entities(data):
        if "abuse" in (entity.get("roles") or []):
            name, email = _vcard(entity)
            if email:
                return name, email
    return None


def _registrar(data: dict[str, Any]) -> tuple[str, str | None] | None:
    for entity in data.get("entities", []) or []:
        if "registrar" in (entity.get("roles") or []):
            name, email = _vcard(entity)
            abuse = _abuse_contact(entity)
            return name or entity.get("handle") or "registrar", (abuse[1] if abuse else email)
    return None


def _safe_fetch(fetch: Fetch, url: str) -> dict[str, Any] | None:
    try:
        data = fetch(url)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class _PublicRedirects(HTTPRedirectHandler):
    """Follows a redirect only to a public address: an RDAP server (or someone in the
    middle) cannot send this fetch into the NGO's own network. AddressRefused is a
    ValueError: the lookup fails like any bad answer."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        try:
            check_url(newurl, allow_private=False)
            host = urlsplit(newurl).hostname or ""
            check_resolved(host, _resolve(host), allow_private=False)
        except AddressRefused as exc:
            raise ValueError(f"RDAP redirect refused: {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = build_opener(_PublicRedirects)


def _fetch_json(url: str) -> Any:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("RDAP over http(s) only")
    request = Request(url, headers={"Accept": "application/rdap+json, application/json"})
    with _OPENER.open(request, timeout=RDAP_TIMEOUT) as response:
        body = response.read(RDAP_MAX_BYTES + 1)
    if len(body) > RDAP_MAX_BYTES:
        raise ValueError("RDAP answer too large")
    return json.loads(body)


def _resolve(host: str) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})
