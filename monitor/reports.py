"""Figures for the dashboard and the board: hits per week, notices by status, time to
removal per recipient kind. Counts only, nothing about any one victim."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from monitor import audit
from monitor.app import App
from monitor.db.models import Hit, Notice, utcnow
from monitor.tracking import removal_stats

#: Notices still waiting for the content to go.
OPEN_NOTICE_STATUSES = ("draft", "sent", "acknowledged", "escalated", "reappeared")


def week_start(at: datetime) -> datetime:
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def dashboard(app: App, weeks: int = 12, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    first = week_start(now) - timedelta(weeks=weeks - 1)
    with app.db.session() as session:
        seen = session.execute(
            select(Hit.first_seen, Hit.status).where(Hit.first_seen >= first)
        ).all()
        by_status = dict(
            session.execute(select(Notice.status, func.count()).group_by(Notice.status)).all()
        )
        waiting = int(session.scalar(select(func.count()).where(Hit.status == "new")) or 0)
        audit.record(session, app.actor, "dashboard.view", "report", None)
    per_week: dict[datetime, dict[str, int]] = {
        first + timedelta(weeks=i): {"new": 0, "confirmed": 0, "rejected": 0} for i in range(weeks)
    }
    for at, status in seen:
        bucket = per_week.get(week_start(at))
        if bucket is not None:
            bucket[status] = bucket.get(status, 0) + 1
    removal = removal_stats(app)
    return {
        "hits_per_week": [
            {"week": week.date().isoformat(), **counts, "total": sum(counts.values())}
            for week, counts in per_week.items()
        ],
        "notices": {s: int(by_status.get(s, 0)) for s in (*OPEN_NOTICE_STATUSES, "removed")},
        "open_notices": sum(int(by_status.get(s, 0)) for s in OPEN_NOTICE_STATUSES),
        "hits_waiting": waiting,
        "removal_by_kind": removal["recipient kind"],
    }
