"""The watchlist: sites to crawl and how."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.db.models import Site
from monitor.errors import InvalidInput, NotFound
from monitor.netguard import AddressRefused, check_url, parse_networks


@dataclass(frozen=True)
class SiteView:
    id: int
    name: str
    start_urls: list[str]
    allowed_domains: list[str]
    max_pages: int
    max_depth: int
    obey_robots: bool
    crawl_delay: float
    allow_private: bool
    enabled: bool


def _host(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {url!r}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(f"not an http(s) URL: {url!r}")
    return host


def _domain(value: str) -> str:
    domain = value.strip().lower().rstrip(".")
    if not domain or "/" in domain or " " in domain or ":" in domain.strip("[]"):
        raise InvalidInput(f"not a domain name: {value!r}")
    return domain


def add_site(
    app: App,
    url: str,
    *,
    name: str | None = None,
    allow_domains: tuple[str, ...] = (),
    max_pages: int = 1000,
    max_depth: int = 5,
    obey_robots: bool = True,
    crawl_delay: float = 1.0,
    allow_private: bool = False,
) -> int:
    url = url.strip()
    host = _host(url)
    try:
        check_url(
            url, allow_private=allow_private, allowed=parse_networks(app.config.allowed_addresses)
        )
    except AddressRefused as exc:
        raise InvalidInput(f"{exc} (use --allow-private to crawl it anyway)") from exc
    if max_pages < 1 or max_depth < 0 or crawl_delay < 0:
        raise InvalidInput("max pages must be ≥ 1, max depth and crawl delay ≥ 0")
    domains = [host.lower()] + [d for d in map(_domain, allow_domains) if d != host.lower()]
    name = (name or host).strip()
    if not name or name.isdigit():
        raise InvalidInput("a site name must not be empty or a number (numbers are ids)")
    site = Site(
        name=name,
        start_urls=[url],
        allowed_domains=domains,
        max_pages=max_pages,
        max_depth=max_depth,
        obey_robots=obey_robots,
        crawl_delay=crawl_delay,
        allow_private=allow_private,
        enabled=True,
    )
    try:
        with app.db.session() as session:
            session.add(site)
            session.flush()
            audit.record(session, app.actor, "site.create", "site", site.id)
            return site.id
    except IntegrityError:
        raise InvalidInput(f"a site named {name!r} exists already (use --name)") from None


def find_site(session: Session, ref: str | int) -> Site:
    """A site by id or by name."""
    ref = str(ref).strip()
    site = session.get(Site, int(ref)) if ref.isdigit() else None
    if site is None:
        site = session.scalar(select(Site).where(Site.name == ref))
    if site is None:
        raise NotFound(f"no site with id or name {ref!r}")
    return site


def get_site(app: App, ref: str | int) -> SiteView:
    with app.db.session() as session:
        return view(find_site(session, ref))


def list_sites(app: App) -> list[SiteView]:
    with app.db.session() as session:
        return [view(s) for s in session.scalars(select(Site).order_by(Site.id))]


def view(site: Site) -> SiteView:
    return SiteView(
        id=site.id,
        name=site.name,
        start_urls=list(site.start_urls),
        allowed_domains=list(site.allowed_domains),
        max_pages=site.max_pages,
        max_depth=site.max_depth,
        obey_robots=site.obey_robots,
        crawl_delay=site.crawl_delay,
        allow_private=site.allow_private,
        enabled=site.enabled,
    )
