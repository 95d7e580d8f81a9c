"""Crawl runs: their life cycle, statistics and live progress."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
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


def create_run(app: App, site_id: int, trigger: str = "manual") -> int:
    """A queued run for the site; RunActive if it has one queued or running."""
    if trigger not in TRIGGERS:
        raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}")
    try:
        with app.db.session() as session:
            run = CrawlRun(site_id=site_id, status="queued", errors={}, trigger=trigger)
            session.add(run)
            session.flush()
            audit.record(
                session, app.actor, "run.create", "run", run.id, site_id=site_id, trigger=trigger
            )
            return run.id
    except IntegrityError:
        with app.db.session() as session:
            active = session.scalar(
                select(CrawlRun.id).where(
                    CrawlRun.site_id == site_id, CrawlRun.status.in_(ACTIVE_STATUSES)
                )
            )
        raise RunActive(site_id, active) from None


def claim_run(app: App, run_id: int, worker: str | None = None) -> bool:
    """Take a queued run for this supervisor; False if another took it or it ended."""
    with app.db.session() as session:
        taken = session.execute(
            update(CrawlRun)
            .where(CrawlRun.id == run_id, CrawlRun.status == "queued", CrawlRun.worker.is_(None))
            .values(worker=worker or this_worker(), updated_at=utcnow())
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
    with app.db.session() as session:
        query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
        if site_id is not None:
            query = query.where(CrawlRun.site_id == site_id)
        if status == "active":
            query = query.where(CrawlRun.status.in_(ACTIVE_STATUSES))
        elif status is not None:
            query = query.where(CrawlRun.status == status)
        return [_view(session, run) for run in session.scalars(query)]


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
