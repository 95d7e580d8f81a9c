"""Retention: evidence and logs are kept for the configured periods, then deleted.

Run by the scheduler's housekeeping once a day (``retention``) and by ``monitor retention
run``. Three periods (0: kept forever):

- ``MONITOR_RETAIN_EVIDENCE_DAYS``: rejected hits, and sightings no hit refers to, not
  seen for that long; then images no sighting or rejection refers to. Confirmed and
  waiting hits stay (their case decides: withdrawing it deletes them), and so do hits a
  takedown notice covers.
- ``MONITOR_RETAIN_LOG_DAYS``: finished crawl runs (each site's last one stays), the
  delivery log, the text and recipient of sent or failed emails (the row stays, so
  that no hit is announced twice), expired web sessions, failed logins.
- ``MONITOR_RETAIN_AUDIT_DAYS``: audit events, the oldest first (``audit.prune``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select, update

from monitor import audit
from monitor.app import App
from monitor.db.models import (
    CrawlRun,
    Delivery,
    Hit,
    Image,
    LoginFailure,
    NoticeHit,
    OutboxMessage,
    Rejection,
    Sighting,
    WebSession,
    utcnow,
)
from monitor.runs import FINAL_STATUSES as FINISHED


def _cutoff(now: datetime, days: int) -> datetime | None:
    return None if days <= 0 else now - timedelta(days=days)


def enforce(app: App, now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than the retention periods; returns the counts by kind."""
    now = now or utcnow()
    config = app.config
    counts: dict[str, int] = {}
    evidence = _cutoff(now, config.retain_evidence_days)
    logs = _cutoff(now, config.retain_log_days)
    audit_before = _cutoff(now, config.retain_audit_days)
    with app.db.session() as session:
        if evidence is not None:
            counts["hits"] = session.execute(
                delete(Hit).where(
                    Hit.status == "rejected",
                    Hit.last_seen < evidence,
                    ~exists().where(NoticeHit.hit_id == Hit.id),
                )
            ).rowcount
            counts["sightings"] = session.execute(
                delete(Sighting).where(
                    Sighting.last_seen < evidence,
                    ~exists().where(Hit.sighting_id == Sighting.id),
                )
            ).rowcount
            counts["images"] = session.execute(
                delete(Image).where(
                    Image.first_seen < evidence,
                    ~exists().where(Sighting.image_id == Image.id),
                    ~exists().where(Rejection.image_id == Image.id),
                )
            ).rowcount
        if logs is not None:
            latest = (
                select(CrawlRun.site_id, func.max(CrawlRun.id).label("id"))
                .where(CrawlRun.status.in_(FINISHED))
                .group_by(CrawlRun.site_id)
                .subquery()
            )
            counts["runs"] = session.execute(
                delete(CrawlRun).where(
                    CrawlRun.status.in_(FINISHED),
                    CrawlRun.finished_at < logs,
                    CrawlRun.id.not_in(select(latest.c.id)),
                )
            ).rowcount
            counts["deliveries"] = session.execute(
                delete(Delivery).where(Delivery.at < logs)
            ).rowcount
            blank = app.cipher.encrypt("")
            counts["emails"] = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.status.in_(("sent", "failed")),
                    OutboxMessage.created_at < logs,
                    OutboxMessage.subject != "",
                )
                .values(recipient_enc=blank, body_enc=blank, subject="")
            ).rowcount
            counts["login_failures"] = session.execute(
                delete(LoginFailure).where(LoginFailure.at < logs)
            ).rowcount
        counts["web_sessions"] = session.execute(
            delete(WebSession).where(WebSession.expires_at < now)
        ).rowcount
        if audit_before is not None:
            counts["audit_events"] = audit.prune(session, audit_before)
        counts = {k: int(v or 0) for k, v in counts.items()}
        audit.record(session, app.actor, "retention.enforce", "retention", None, **counts)
    return counts
