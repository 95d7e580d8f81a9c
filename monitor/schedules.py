"""Crawl schedules: "every 6h" or a crontab line, with jitter; site → group → default.

A site's own schedule wins; else its group's (``monitor group set``); else
``MONITOR_SCHEDULE``. The same for the jitter (seconds of random delay added to each
start, so that a thousand sites on "every 1d" do not all start at midnight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from monitor import audit
from monitor.app import App
from monitor.db.models import Site, SiteGroup, apscheduler_jobs
from monitor.errors import InvalidInput, NotFound

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EVERY = re.compile(r"^every\s+(\d+(?:\.\d+)?)\s*([smhdw])$")
#: The shortest interval a schedule may have (tests use seconds; production hours).
MIN_SECONDS = 1


@dataclass(frozen=True)
class Schedule:
    text: str  # as written, normalised: "every 6h" or "0 3 * * *"
    seconds: float | None  # an interval; None: a crontab line
    jitter: int
    source: str  # site | group | default

    def trigger(self) -> BaseTrigger:
        if self.seconds is not None:
            return IntervalTrigger(seconds=self.seconds, jitter=self.jitter or None)
        trigger = CronTrigger.from_crontab(self.text, timezone="UTC")
        trigger.jitter = self.jitter or None
        return trigger


def parse(text: str) -> tuple[str, float | None]:
    """The normalised text and, for an interval, its seconds; InvalidInput if neither
    "every N(s|m|h|d|w)" nor a five-field crontab line."""
    value = " ".join(text.strip().lower().split())
    match = _EVERY.match(value)
    if match:
        seconds = float(match[1]) * _UNITS[match[2]]
        if seconds < MIN_SECONDS:
            raise InvalidInput(f"a schedule must be at least {MIN_SECONDS} s apart: {text!r}")
        return value, seconds
    if len(value.split()) == 5:
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise InvalidInput(f"not a crontab line: {text!r} ({exc})") from exc
        return value, None
    raise InvalidInput(
        f"a schedule is 'every N' with a unit s, m, h, d or w (e.g. 'every 6h'), or a crontab"
        f" line (e.g. '0 3 * * *'), not {text!r}"
    )


def effective(
    site: Site, group: SiteGroup | None, default_schedule: str, default_jitter: int
) -> Schedule:
    """The site's schedule and jitter, each the site's own, else its group's, else the
    default."""
    group_schedule = group.schedule if group else None
    group_jitter = group.jitter if group else None
    text, source = (
        (site.schedule, "site")
        if site.schedule
        else (group_schedule, "group")
        if group_schedule
        else (default_schedule, "default")
    )
    jitter = next(j for j in (site.jitter, group_jitter, default_jitter) if j is not None)
    normal, seconds = parse(text)
    return Schedule(normal, seconds, jitter, source)


def site_schedule(app: App, site_id: int) -> Schedule:
    """The schedule a site is crawled on (its own, its group's or the default)."""
    with app.db.session() as session:
        site = session.get(Site, site_id)
        if site is None:
            raise NotFound(f"no site with id {site_id}")
        group = session.get(SiteGroup, site.group_name) if site.group_name else None
        return effective(site, group, app.config.schedule, app.config.schedule_jitter)


def next_starts(app: App) -> dict[int, datetime]:
    """When the scheduler will next start each enabled site's crawl, by site id, as its
    job store says (empty until a scheduler has run; jitter comes on top)."""
    with app.db.session() as session:
        rows = session.execute(
            select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time).where(
                apscheduler_jobs.c.id.like("site:%")
            )
        )
        found = {}
        for job_id, at in rows:
            number = job_id.split(":", 1)[1]
            if at is not None and number.isdigit():
                found[int(number)] = datetime.fromtimestamp(at, UTC)
        return found


def set_group(app: App, name: str, schedule: str | None, jitter: int | None) -> None:
    name = name.strip()
    if not name:
        raise InvalidInput("a group needs a name")
    if schedule is not None:
        schedule = parse(schedule)[0]
    if jitter is not None and jitter < 0:
        raise InvalidInput("jitter is a number of seconds ≥ 0")
    with app.db.session() as session:
        group = session.get(SiteGroup, name) or SiteGroup(name=name)
        group.schedule, group.jitter = schedule, jitter
        session.add(group)
        audit.record(session, app.actor, "group.set", "group", None, group=name)


def list_groups(app: App) -> list[tuple[str, str | None, int | None, int]]:
    """(name, schedule, jitter, number of sites) of each group, with groups only named by
    sites too."""
    with app.db.session() as session:
        groups = {g.name: g for g in session.scalars(select(SiteGroup))}
        counts: dict[str, int] = {}
        for name in session.scalars(select(Site.group_name).where(Site.group_name.is_not(None))):
            counts[name] = counts.get(name, 0) + 1
        return [
            (
                name,
                groups[name].schedule if name in groups else None,
                groups[name].jitter if name in groups else None,
                counts.get(name, 0),
            )
            for name in sorted(set(groups) | set(counts))
        ]


def remove_group(app: App, name: str) -> None:
    with app.db.session() as session:
        group = session.get(SiteGroup, name)
        if group is None:
            raise NotFound(f"no group {name!r} with a schedule")
        session.delete(group)
        audit.record(session, app.actor, "group.remove", "group", None, group=name)
