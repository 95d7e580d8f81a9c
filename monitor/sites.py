"""The watchlist: sites to crawl and how."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.db.models import Site, SiteHealth
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
    schedule: str | None = None
    jitter: int | None = None
    group_name: str | None = None
    time_budget: int | None = None


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
    schedule: str | None = None,
    jitter: int | None = None,
    group: str | None = None,
    time_budget: int | None = None,
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
    schedule, jitter, group, time_budget = _scheduling(schedule, jitter, group, time_budget)
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
        schedule=schedule,
        jitter=jitter,
        group_name=group,
        time_budget=time_budget,
    )
    try:
        with app.db.session() as session:
            session.add(site)
            session.flush()
            audit.record(session, app.actor, "site.create", "site", site.id)
            return site.id
    except IntegrityError:
        raise InvalidInput(f"a site named {name!r} exists already (use --name)") from None


def _scheduling(
    schedule: str | None, jitter: int | None, group: str | None, time_budget: int | None
) -> tuple[str | None, int | None, str | None, int | None]:
    from monitor.schedules import parse

    if schedule is not None:
        schedule = parse(schedule)[0]
    if jitter is not None and jitter < 0:
        raise InvalidInput("jitter is a number of seconds ≥ 0")
    if time_budget is not None and time_budget < 1:
        raise InvalidInput("a time budget is a number of seconds ≥ 1")
    group = (group or "").strip() or None
    return schedule, jitter, group, time_budget


#: What ``edit_site`` may change; a value of None puts back the default (its group's, or
#: the configured one) for schedule, jitter, group and time budget.
EDITABLE = (
    "schedule", "jitter", "group", "time_budget", "max_pages", "max_depth", "crawl_delay",
)  # fmt: skip


def edit_site(app: App, ref: str | int, **changes: object) -> list[str]:
    """Change a site's settings; returns the names of those changed."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot edit {', '.join(sorted(unknown))}")
    with app.db.session() as session:
        site = find_site(session, ref)
        current = {
            "schedule": site.schedule, "jitter": site.jitter, "group": site.group_name,
            "time_budget": site.time_budget,
        }  # fmt: skip
        merged = {**current, **{k: v for k, v in changes.items() if k in current}}
        schedule, jitter, group, budget = _scheduling(**merged)  # type: ignore[arg-type]
        site.schedule, site.jitter, site.group_name, site.time_budget = (
            schedule, jitter, group, budget
        )  # fmt: skip
        for key in ("max_pages", "max_depth", "crawl_delay"):
            if key in changes:
                value = changes[key]
                if not isinstance(value, int | float) or value < (1 if key == "max_pages" else 0):
                    raise InvalidInput(f"{key.replace('_', ' ')} out of range: {value!r}")
                setattr(site, key, value)
        audit.record(session, app.actor, "site.edit", "site", site.id, changed=sorted(changes))
        return sorted(changes)


def set_enabled(app: App, ref: str | int, enabled: bool) -> SiteView:
    """Pause (False) or resume (True) a site's scheduled crawls."""
    with app.db.session() as session:
        site = find_site(session, ref)
        site.enabled = enabled
        audit.record(
            session, app.actor, "site.resume" if enabled else "site.pause", "site", site.id
        )
        return view(site)


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


@dataclass(frozen=True)
class HealthView:
    """A site's health as the scheduler last judged it (``monitor.health``)."""

    state: str  # ok | failing
    reason: str | None
    since: datetime
    checked_at: datetime | None


def health_by_site(app: App) -> dict[int, HealthView]:
    """The health of every site judged so far, by site id (a site never judged — no
    finished run yet, or no scheduler — is not in it)."""
    with app.db.session() as session:
        return {
            h.site_id: HealthView(h.state, h.reason, h.since, h.checked_at)
            for h in session.scalars(select(SiteHealth))
        }


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
        schedule=site.schedule,
        jitter=site.jitter,
        group_name=site.group_name,
        time_budget=site.time_budget,
    )
