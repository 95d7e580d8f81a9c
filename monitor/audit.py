"""The audit log: every access to a case or a hit leaves a row."""

from __future__ import annotations

from typing import Any

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
