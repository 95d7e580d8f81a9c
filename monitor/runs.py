"""Crawl runs: their life cycle, statistics and live progress."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.db.models import CrawlRun, Site, utcnow
from monitor.errors import InvalidInput, NotFound

#: A run ends in one of these; "completed" means the crawl went through its work
#: (including stopping at its page or time budget), which is what the CLI's exit code reports.
FINAL_STATUSES = ("completed", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")
COMPLETED_REASONS = ("finished", "closespider_pagecount", "page_limit", "closespider_timeout")
TRIGGERS = ("schedule", "manual", "retry")
#: What ``list_runs`` filters on: a status, or "active" (queued or running).
STATUS_FILTERS = ("active", *ACTIVE_STATUSES, *FINAL_STATUSES)
#: The finish reason of a run whose processes were found gone (killed, or the machine
#: restarted) before it could record its end.
INTERRUPTED = "interrupted"

logger = logging.getLogger(__name__)


class RunActive(InvalidInput):
    """The site has a run queued or running already (one at a time, by the database)."""

    def __init__(self, site_id: int, run_id: int | None) -> None:
        self.site_id, self.run_id = site_id, run_id
        which = f"run {run_id}" if run_id else "a run"
        super().__init__(f"site {site_id} has {which} queued or running already")


def this_worker() -> str:
    """How a supervising process names itself in a run's row: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunStats:
    pages: int = 0
    images: int = 0
    bytes: int = 0
    hits: int = 0
    new_hits: int = 0
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunView:
    id: int
    site_id: int
    site_name: str
    status: str
    finish_reason: str | None
    started_at: datetime | None
    finished_at: datetime | None
    stats: RunStats
    trigger: str = "manual"
    worker: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    cancel_requested: bool = False

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def duration(self, now: datetime | None = None) -> float | None:
        """Seconds from its start to its end (or to now while it runs)."""
        if self.started_at is None:
            return None
        end = self.finished_at or (now or utcnow())
        return max(0.0, (end - self.started_at).total_seconds())

    def to_json(self) -> dict[str, Any]:
        """The run as JSON (dates ISO 8601), for the API."""

        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        duration = self.duration()
        return {
            "id": self.id,
            "site_id": self.site_id,
            "site": self.site_name,
            "trigger": self.trigger,
            "status": self.status,
            "active": self.active,
            "finish_reason": self.finish_reason,
            "worker": self.worker,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "updated_at": iso(self.updated_at),
            "duration_seconds": round(duration, 1) if duration is not None else None,
            "pages": self.stats.pages,
            "images": self.stats.images,
            "bytes": self.stats.bytes,
            "hits": self.stats.hits,
            "new_hits": self.stats.new_hits,
            "errors": dict(self.stats.errors),
            "errors_total": sum(self.stats.errors.values()),
            "cancel_requested": self.cancel_requested,
        }


def create_run(
    app: App, site_id: int, trigger: str = "manual", *, worker: str | None = None
) -> int:
    """A queued run for the site; RunActive if it has one queued or running (a run whose
    processes are gone from this machine does not count: it is ended as interrupted).

    ``worker``: the supervisor that will carry it out (``this_worker()``), named at once,
    so that the run is known to be dead should that process be killed before it starts
    the crawl; only that supervisor may claim it."""
    if trigger not in TRIGGERS:
        raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}")
    for attempt in (1, 2):
        try:
            with app.db.session() as session:
                run = CrawlRun(
                    site_id=site_id, status="queued", errors={}, trigger=trigger, worker=worker
                )
                session.add(run)
                session.flush()
                audit.record(
                    session,
                    app.actor,
                    "run.create",
                    "run",
                    run.id,
                    site_id=site_id,
                    trigger=trigger,
                )
                return run.id
        except IntegrityError:
            if attempt == 1 and reap_dead_runs(app, site_id=site_id):
                continue  # the active run was a dead one: try again
            break
    with app.db.session() as session:
        active = session.scalar(
            select(CrawlRun.id).where(
                CrawlRun.site_id == site_id, CrawlRun.status.in_(ACTIVE_STATUSES)
            )
        )
    raise RunActive(site_id, active) from None


def claim_run(app: App, run_id: int, worker: str | None = None) -> bool:
    """Take a queued run for this supervisor; False if another took it or it ended. A run
    created for this supervisor (``create_run(..., worker=)``) is its own already."""
    worker = worker or this_worker()
    with app.db.session() as session:
        taken = session.execute(
            update(CrawlRun)
            .where(
                CrawlRun.id == run_id,
                CrawlRun.status == "queued",
                CrawlRun.worker.is_(None) | (CrawlRun.worker == worker),
            )
            .values(worker=worker, updated_at=utcnow())
        )
        return taken.rowcount == 1


def request_cancel(app: App, run_id: int) -> str:
    """Cancel a run: a queued one at once, a running one by its supervisor (SIGINT, then
    SIGKILL after the grace period). Returns what was done."""
    with app.db.session() as session:
        run = _run(session, run_id)
        if run.status in FINAL_STATUSES:
            raise InvalidInput(f"run {run_id} is {run.status} already")
        audit.record(session, app.actor, "run.cancel", "run", run_id)
        if run.status == "queued" and run.worker is None:
            run.status, run.finish_reason = "cancelled", "cancelled"
            run.finished_at = run.updated_at = utcnow()
            return "cancelled"
        run.cancel_requested = True
        return "cancelling"


def mark_cancel_requested(app: App, run_id: int) -> None:
    """The supervisor is about to stop the crawl (cancel or shutdown): said first, so
    that the crawl's end is recorded as cancelled whenever it comes."""
    with app.db.session() as session:
        _run(session, run_id).cancel_requested = True


def cancel_requested(app: App, run_id: int) -> bool:
    with app.db.session() as session:
        return bool(session.scalar(select(CrawlRun.cancel_requested).where(CrawlRun.id == run_id)))


def reap_lost_runs(app: App, stale: timedelta, now: datetime | None = None) -> list[int]:
    """Runs whose supervisor stopped reporting (a worker or machine died): failed, so the
    site may run again. The hits they recorded stay."""
    now = now or utcnow()
    with app.db.session() as session:
        lost = session.scalars(
            select(CrawlRun).where(
                CrawlRun.status == "running",
                CrawlRun.updated_at < now - stale,
            )
        ).all()
        lost += session.scalars(  # claimed but never started
            select(CrawlRun).where(
                CrawlRun.status == "queued",
                CrawlRun.worker.is_not(None),
                CrawlRun.updated_at < now - stale,
            )
        ).all()
        for run in lost:
            run.status = "failed"
            run.finish_reason = (
                f"lost: no news from {run.worker or '?'} for {stale.total_seconds():g} s"
            )
            run.finished_at = run.updated_at = now
            run.pid = None
        return [r.id for r in lost]


def reap_dead_runs(app: App, *, site_id: int | None = None) -> list[int]:
    """Runs still queued or running whose processes are gone from this machine — killed
    (SIGKILL, out of memory) or lost in a restart before they could record their end —
    ended as failed, reason "interrupted". The hits they recorded stay: each page is
    committed as it is recorded, and the next run of the site redoes the rest.

    A run is dead when its supervisor (``worker``, host:pid, on this host) is gone and so
    is its crawl process (``pid``), if it has one. A process that is a zombie, or that
    started after the run did (its pid reused), is gone. Runs of other machines are left
    to ``reap_lost_runs`` (no progress for a while)."""
    host = socket.gethostname()
    now = utcnow()
    with app.db.session() as session:
        query = select(CrawlRun).where(
            CrawlRun.status.in_(ACTIVE_STATUSES), CrawlRun.worker.like(f"{host}:%")
        )
        if site_id is not None:
            query = query.where(CrawlRun.site_id == site_id)
        dead = []
        for run in session.scalars(query):
            try:
                supervisor = int((run.worker or "").rsplit(":", 1)[1])
            except (IndexError, ValueError):
                continue
            # Both processes existed before this moment: the claim, or the crawl's start.
            since = run.started_at or run.updated_at or run.created_at
            if _alive(supervisor, since) or (run.pid is not None and _alive(run.pid, since)):
                continue
            run.status = "failed"
            run.finish_reason = (
                f"{INTERRUPTED}: its processes are gone (supervisor {run.worker}"
                + (f", crawl pid {run.pid}" if run.pid is not None else "")
                + "); the next run redoes what it did not record"
            )[:200]
            run.finished_at = run.updated_at = now
            run.pid = None
            dead.append(run.id)
    if dead:
        logger.warning("runs interrupted (their processes are gone): %s", dead)
    return dead


def _reap_quietly(app: App) -> None:
    """reap_dead_runs before showing runs; a database that cannot be written (read-only,
    full) must not stop anyone from looking."""
    try:
        reap_dead_runs(app)
    except SQLAlchemyError as exc:
        logger.warning("dead runs not reaped: %s", exc)


def _alive(pid: int, since: datetime | None) -> bool:
    """Whether process ``pid`` runs and is the one that existed at ``since``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, another user's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self/stat").exists()  # gone meanwhile; or no /proc here
    except OSError:
        return True
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie: dead, not yet waited for
        return False
    started = _started_at(int(fields[19]))
    if since is not None and started is not None:
        # Another process with the pid of a dead one starts after that one's run did.
        return started <= since.timestamp() + 2.0
    return True


def _started_at(ticks: int) -> float | None:
    """A process's start (the 22nd field of /proc/PID/stat) as a Unix time."""
    try:
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _run(session: Session, run_id: int) -> CrawlRun:
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise NotFound(f"no crawl run with id {run_id}")
    return run


def mark_started(app: App, run_id: int, pid: int) -> None:
    with app.db.session() as session:
        run = _run(session, run_id)
        run.status, run.pid = "running", pid
        run.started_at = run.updated_at = utcnow()
        run.worker = run.worker or this_worker()


def _apply(run: CrawlRun, stats: RunStats) -> None:
    run.pages, run.images, run.bytes = stats.pages, stats.images, stats.bytes
    run.hits, run.new_hits, run.errors = stats.hits, stats.new_hits, dict(stats.errors)
    run.updated_at = utcnow()


def update_progress(app: App, run_id: int, stats: RunStats) -> None:
    with app.db.session() as session:
        _apply(_run(session, run_id), stats)


def finish_run(app: App, run_id: int, reason: str, stats: RunStats | None = None) -> str:
    """Record the end of a run; returns its final status."""
    status = (
        "completed"
        if reason in COMPLETED_REASONS
        else ("cancelled" if reason in ("shutdown", "cancelled") else "failed")
    )
    with app.db.session() as session:
        run = _run(session, run_id)
        if stats is not None:
            _apply(run, stats)
        run.status, run.finish_reason = status, reason
        run.finished_at = run.updated_at = utcnow()
        run.pid = None
    return status


def get_run(app: App, run_id: int) -> RunView:
    with app.db.session() as session:
        return _view(session, _run(session, run_id))


def list_runs(
    app: App, *, site_id: int | None = None, status: str | None = None, limit: int = 20
) -> list[RunView]:
    """The newest runs first."""
    if status is not None and status not in STATUS_FILTERS:
        raise InvalidInput(f"a run status is one of {', '.join(STATUS_FILTERS)}, not {status!r}")
    _reap_quietly(app)
    with app.db.session() as session:
        query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
        if site_id is not None:
            query = query.where(CrawlRun.site_id == site_id)
        if status == "active":
            query = query.where(CrawlRun.status.in_(ACTIVE_STATUSES))
        elif status is not None:
            query = query.where(CrawlRun.status == status)
        return [_view(session, run) for run in session.scalars(query)]


def latest_runs(app: App) -> dict[int, RunView]:
    """Each site's newest run, by site id (sites never run are not in it)."""
    _reap_quietly(app)
    with app.db.session() as session:
        newest = select(func.max(CrawlRun.id)).group_by(CrawlRun.site_id).scalar_subquery()
        found = session.scalars(select(CrawlRun).where(CrawlRun.id.in_(newest)))
        return {run.site_id: _view(session, run) for run in found}


def _view(session: Session, run: CrawlRun) -> RunView:
    site_name = session.scalar(select(Site.name).where(Site.id == run.site_id)) or "?"
    return RunView(
        id=run.id,
        site_id=run.site_id,
        site_name=site_name,
        status=run.status,
        finish_reason=run.finish_reason,
        started_at=run.started_at,
        finished_at=run.finished_at,
        stats=RunStats(
            run.pages, run.images, run.bytes, run.hits, run.new_hits, dict(run.errors or {})
        ),
        trigger=run.trigger,
        worker=run.worker,
        created_at=run.created_at,
        updated_at=run.updated_at,
        cancel_requested=run.cancel_requested,
    )
