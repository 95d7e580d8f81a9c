"""The audit log: every access to a case or a hit leaves a row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.db.models import AuditEvent


def record(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: int | str | None = None,
    **detail: Any,
) -> None:
    """Add an audit event to the caller's transaction (it commits with the work it records)."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            detail=detail,
        )
    )


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]
    total: int


def search(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    """Audit events, newest first: ``actor`` matches part of the name, ``action`` is a
    prefix ("hits." for every decision on hits), the others are exact."""
    query = select(AuditEvent)
    if actor:
        query = query.where(AuditEvent.actor.contains(actor, autoescape=True))
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    events = session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).all()
    return Page(list(events), int(total))
