"""Crawl runs: their life cycle, statistics and live progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.db.models import CrawlRun, Site, utcnow
from monitor.errors import NotFound

#: A run ends in one of these; "completed" means the crawl went through its work
#: (including stopping at the page limit), which is what the CLI's exit code reports.
FINAL_STATUSES = ("completed", "failed", "cancelled")
COMPLETED_REASONS = ("finished", "closespider_pagecount", "page_limit")


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


def create_run(app: App, site_id: int) -> int:
    with app.db.session() as session:
        run = CrawlRun(site_id=site_id, status="queued", errors={})
        session.add(run)
        session.flush()
        audit.record(session, app.actor, "run.create", "run", run.id, site_id=site_id)
        return run.id


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
        run = _run(session, run_id)
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
        )
