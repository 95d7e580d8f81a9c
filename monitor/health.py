"""Operators' health alerts, in the spirit of Spidermon, and ``monitor status``.

After its runs, each site is either ok or failing, for one of these reasons (the first
that applies): its last ``MONITOR_HEALTH_FAILURES`` runs failed; its last completed run
fetched no page; or errors made more than ``MONITOR_HEALTH_ERROR_RATE`` of what its last
completed run fetched (pages, images and errors, at least ten). A site that starts
failing raises one operator notification (through the same outbox as victims' alerts,
to ``MONITOR_OPERATOR_EMAIL``); one more only after ``MONITOR_HEALTH_COOLDOWN`` hours
while it goes on failing; and one when it recovers. The scheduler checks after every
reaping interval; ``monitor status`` shows the state of the whole system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from monitor.app import App
from monitor.db.models import (
    CrawlRun,
    Hit,
    Notice,
    OutboxMessage,
    Site,
    SiteHealth,
    utcnow,
)
from monitor.runs import FINAL_STATUSES

MIN_FETCHED = 10  # the error rate says nothing about a run that fetched less


@dataclass(frozen=True)
class Change:
    site_id: int
    site: str
    state: str  # failing | still failing | recovered
    reason: str | None
    notified: bool


def diagnose(runs: list[CrawlRun], failures: int, error_rate: float) -> str | None:
    """Why a site is failing, from its final runs (newest first), or None."""
    final = [r for r in runs if r.status in FINAL_STATUSES and r.status != "cancelled"]
    if len(final) >= failures and all(r.status == "failed" for r in final[:failures]):
        return f"its last {failures} runs failed (last: {final[0].finish_reason})"
    completed = next((r for r in final if r.status == "completed"), None)
    if completed is None:
        return None
    if completed.pages == 0:
        return f"its last completed run (run {completed.id}) fetched no page"
    errors = sum((completed.errors or {}).values())
    fetched = completed.pages + completed.images + errors
    if fetched >= MIN_FETCHED and errors / fetched > error_rate:
        return (
            f"errors made {errors / fetched:.0%} of what run {completed.id} fetched"
            f" ({errors} of {fetched})"
        )
    return None


def check_sites(app: App, now: datetime | None = None) -> list[Change]:
    """Update every site's health; queue the operator notifications due."""
    now = now or utcnow()
    config = app.config
    cooldown = timedelta(hours=config.health_cooldown_hours)
    changes = []
    with app.db.session() as session:
        for site in session.scalars(select(Site).order_by(Site.id)):
            runs = list(
                session.scalars(
                    select(CrawlRun)
                    .where(CrawlRun.site_id == site.id, CrawlRun.status.in_(FINAL_STATUSES))
                    .order_by(CrawlRun.id.desc())
                    .limit(max(config.health_failures, 1) + 5)
                )
            )
            if not runs:
                continue
            reason = diagnose(runs, config.health_failures, config.health_error_rate)
            health = session.get(SiteHealth, site.id)
            if health is None:
                health = SiteHealth(site_id=site.id, state="ok", since=now)
                session.add(health)
            health.checked_at = now
            state = None
            if reason and health.state != "failing":
                health.state, health.since, state = "failing", now, "failing"
            elif reason and (
                health.last_alert_at is None or now - health.last_alert_at >= cooldown
            ):
                state = "still failing"
            elif not reason and health.state == "failing":
                health.state, health.since, state = "ok", now, "recovered"
            health.reason = reason[:300] if reason else None
            if state is None:
                continue
            notified = _notify(app, session, site, state, reason, health.since, now)
            if notified:
                health.last_alert_at = now
            changes.append(Change(site.id, site.name, state, reason, notified))
    return changes


def _notify(
    app: App,
    session: Any,
    site: Site,
    state: str,
    reason: str | None,
    since: datetime,
    now: datetime,
) -> bool:
    to = app.config.operator_email
    if not to:
        return False
    what = {"failing": "is failing", "still failing": "is still failing", "recovered": "recovered"}
    subject = f"[monitor] site {site.name} {what[state]}"
    lines = [
        f"Site {site.name} (id {site.id}, {site.start_urls[0]}) {what[state]}.",
        "",
        f"Why: {reason}." if reason else "Its last run went well.",
        f"Since: {since:%Y-%m-%d %H:%M} UTC.",
        "",
        f"Its runs: monitor runs list --site {site.id}",
        "Everything at a glance: monitor status",
    ]
    if state != "recovered":
        lines.append(
            f"You will hear again when it recovers, or in {app.config.health_cooldown_hours:g} h"
            " if it is still failing."
        )
    session.add(
        OutboxMessage(
            case_id=None,
            kind="operator",
            recipient_enc=app.cipher.encrypt(to),
            subject=subject[:200],
            body_enc=app.cipher.encrypt("\n".join(lines) + "\n"),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


# -- monitor status -------------------------------------------------------------------------------


def status(app: App, now: datetime | None = None) -> dict[str, Any]:
    """The state of the system at a glance (no victim's data in it)."""
    from monitor.scheduler import LOCK, lock_state, scheduler_alive

    now = now or utcnow()
    lock = lock_state(app)
    alive = scheduler_alive(app, now)
    with app.db.session() as session:
        active = session.execute(
            select(CrawlRun, Site.name)
            .join(Site, Site.id == CrawlRun.site_id)
            .where(CrawlRun.status.in_(("queued", "running")))
            .order_by(CrawlRun.id)
        ).all()
        failing = session.execute(
            select(SiteHealth, Site.name)
            .join(Site, Site.id == SiteHealth.site_id)
            .where(SiteHealth.state == "failing")
            .order_by(Site.id)
        ).all()

        def count(query: Any) -> int:
            return int(session.scalar(query) or 0)

        outbox = {
            (kind, state): n
            for kind, state, n in session.execute(
                select(OutboxMessage.kind, OutboxMessage.status, func.count())
                .where(OutboxMessage.status.in_(("pending", "failed")))
                .group_by(OutboxMessage.kind, OutboxMessage.status)
            )
        }
        return {
            "scheduler": {
                "lock": LOCK,
                "alive": alive,
                "holder": lock[0] if lock else None,
                "heartbeat": lock[1].isoformat() if lock else None,
                "executor": "celery" if app.config.broker_url else "local",
            },
            "runs": {
                "running": [
                    {
                        "id": r.id,
                        "site": name,
                        "pages": r.pages,
                        "images": r.images,
                        "hits": r.hits,
                        "worker": r.worker,
                        "started_at": r.started_at.isoformat() if r.started_at else None,
                    }
                    for r, name in active
                    if r.status == "running"
                ],  # fmt: skip
                "queued": sum(1 for r, _ in active if r.status == "queued"),
            },
            "sites": {
                "watched": count(select(func.count()).select_from(Site)),
                "paused": count(select(func.count()).where(Site.enabled.is_(False))),
                "failing": [
                    {"site": name, "reason": h.reason, "since": h.since.isoformat()}
                    for h, name in failing
                ],
            },
            "review": {"hits_waiting": count(select(func.count()).where(Hit.status == "new"))},
            "alerts": {
                "pending": outbox.get(("alert", "pending"), 0),
                "failed": outbox.get(("alert", "failed"), 0),
                "operator_pending": outbox.get(("operator", "pending"), 0),
                "mail_configured": bool(app.config.smtp_url and app.config.mail_from),
            },
            "notices": {
                "drafts": count(select(func.count()).where(Notice.status == "draft")),
                "awaiting_removal": count(
                    select(func.count()).where(Notice.status.in_(("sent", "acknowledged")))
                ),
                "escalated": count(select(func.count()).where(Notice.status == "escalated")),
            },
        }
