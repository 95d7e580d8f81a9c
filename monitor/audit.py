"""The audit log: every access to a case or a hit leaves a row.

The log is append-only and chained. The database refuses to change its rows and to
delete them, except the oldest ones the housekeeping prunes (triggers, migration 0015).
Each event carries ``seq``, its place in the chain, and ``mac``, an HMAC-SHA256 (with
the audit key, kept outside the database) of the previous event's ``mac`` and of its
own content. ``verify`` recomputes the chain: an event changed, inserted or deleted in
the middle breaks it, and so does a cut of the newest events behind an anchor, the
chain's head written outside the database (``write_anchor``) by the housekeeping.

Events join the chain when their transaction commits: ``record`` keeps them on the
session, and the session's ``before_commit`` takes the chain's head (a row lock on
PostgreSQL, the write lock on SQLite), so concurrent writers are put in one order and
the head is held only while committing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from monitor.db.models import AuditEvent, utcnow

if TYPE_CHECKING:
    from monitor.app import App

GENESIS = "0" * 64
_PENDING = "audit_pending"


def record(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: int | str | None = None,
    **detail: Any,
) -> None:
    """Add an audit event to the caller's transaction (it commits with the work it records)."""
    session.info.setdefault(_PENDING, []).append(
        AuditEvent(
            at=utcnow(),
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            detail=detail,
        )
    )


def canonical(seq: int, e: AuditEvent) -> bytes:
    """What an event's MAC covers: its place in the chain and every field."""
    at = e.at.astimezone(UTC).isoformat(timespec="microseconds")
    body = [seq, at, e.actor, e.action, e.object_type, e.object_id, e.detail or {}]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def link(key: bytes, previous: str, seq: int, e: AuditEvent) -> str:
    return hmac.new(key, previous.encode("ascii") + canonical(seq, e), hashlib.sha256).hexdigest()


@event.listens_for(Session, "before_commit")
def _seal(session: Session) -> None:
    pending: list[AuditEvent] = session.info.pop(_PENDING, None) or []
    if not pending:
        return
    key = session.info.get("audit_key")
    if not key:
        raise RuntimeError("the audit key is not loaded: audit events cannot be written")
    # The transaction's other writes first (their row locks before the head's: a writer
    # that holds the head never waits for one that waits for it). Then taking the head
    # (an UPDATE) makes this transaction the only one extending the chain until it commits.
    session.flush()
    head = session.execute(
        text("UPDATE audit_chain SET seq = seq + :n WHERE id = 1 RETURNING seq, mac").bindparams(
            n=len(pending)
        )
    ).one()
    seq, previous = int(head.seq) - len(pending), head.mac
    for e in pending:
        seq += 1
        e.seq = seq
        e.mac = previous = link(key, previous, seq, e)
        session.add(e)
    session.execute(text("UPDATE audit_chain SET mac = :mac WHERE id = 1").bindparams(mac=previous))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


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


# -- checking the chain -------------------------------------------------------------------------


@dataclass
class Verification:
    checked: int = 0
    #: Events written before the chain existed (migration 0015): not covered.
    unchained: int = 0
    head_seq: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _chain_state(session: Session) -> Any:
    return session.execute(
        text("SELECT seq, mac, anchor_seq, anchor_mac FROM audit_chain WHERE id = 1")
    ).one()


def verify(session: Session, key: bytes, anchors: Path | None = None) -> Verification:
    """Recompute the chain from the last pruned event to the head; compare with the
    anchors written outside the database, when given."""
    result = Verification()
    state = _chain_state(session)
    result.head_seq = int(state.seq)
    result.unchained = int(
        session.scalar(select(func.count()).where(AuditEvent.seq.is_(None))) or 0
    )
    outside = [
        (seq, mac)
        for seq, mac in (read_anchors(anchors) if anchors is not None else ())
        if seq >= int(state.anchor_seq)  # older ones were pruned since
    ]
    wanted = {seq for seq, _ in outside}  # the macs to keep: those the anchors name
    expected_seq, previous = int(state.anchor_seq), state.anchor_mac
    macs: dict[int, str] = {expected_seq: previous}
    rows = session.execute(
        select(AuditEvent).where(AuditEvent.seq.is_not(None)).order_by(AuditEvent.seq)
    ).scalars()
    for e in rows.yield_per(1000):
        expected_seq += 1
        if e.seq != expected_seq:
            result.problems.append(
                f"events {expected_seq}..{e.seq - 1} are missing from the chain"
                if e.seq > expected_seq
                else f"event {e.seq} appears twice or out of order"
            )
            expected_seq = e.seq
            previous = e.mac or ""
            continue
        mac = link(key, previous, e.seq, e)
        if not hmac.compare_digest(mac, e.mac or ""):
            result.problems.append(f"event {e.seq} (id {e.id}, {e.action}) was altered")
        previous = e.mac or ""
        if e.seq in wanted:
            macs[e.seq] = previous
        result.checked += 1
        session.expunge(e)
    if expected_seq != result.head_seq:
        result.problems.append(
            f"the chain ends at event {expected_seq}, its head says {result.head_seq}"
        )
    elif not hmac.compare_digest(previous, state.mac):
        result.problems.append("the chain's head does not match its last event")
    for seq, mac in outside:
        if seq > result.head_seq:
            result.problems.append(
                f"the anchor written at event {seq} is past the chain's end "
                f"({result.head_seq}): newest events were deleted"
            )
        elif seq in macs and not hmac.compare_digest(macs[seq], mac):
            result.problems.append(f"event {seq} differs from the anchor written then")
    return result


def write_anchor(session: Session, anchors: Path) -> tuple[int, str]:
    """Append the chain's head to a file outside the database (one line per call, when
    the head has moved)."""
    state = _chain_state(session)
    seq, mac = int(state.seq), str(state.mac)
    existing = list(read_anchors(anchors))
    if existing and existing[-1][0] == seq:
        return seq, mac
    anchors.parent.mkdir(parents=True, exist_ok=True)
    with open(anchors, "a", encoding="ascii") as handle:
        handle.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {seq} {mac}\n")
    return seq, mac


def read_anchors(anchors: Path) -> Iterator[tuple[int, str]]:
    if not anchors.exists():
        return
    for line in anchors.read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            yield int(parts[1]), parts[2]


def prune(session: Session, before: datetime) -> int:
    """Delete the chained events older than ``before``, oldest first, and move the chain's
    start (its anchor) to the last one deleted, so that what remains still verifies.
    Only a prefix of the chain can go: the database refuses any other deletion."""
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.mac)
        .where(AuditEvent.seq.is_not(None), AuditEvent.at < before)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    if last is None:
        return 0
    # Take the head first: no writer extends the chain while its start moves.
    session.execute(text("UPDATE audit_chain SET seq = seq WHERE id = 1"))
    state = _chain_state(session)
    if last.seq <= int(state.anchor_seq):
        return 0
    session.execute(
        text(
            "UPDATE audit_chain SET prune_upto = :seq, anchor_seq = :seq, anchor_mac = :mac"
            " WHERE id = 1"
        ).bindparams(seq=last.seq, mac=last.mac)
    )
    deleted = session.execute(
        text("DELETE FROM audit_events WHERE seq IS NOT NULL AND seq <= :seq").bindparams(
            seq=last.seq
        )
    ).rowcount
    return int(deleted or 0)


# -- for the CLI and the housekeeping -----------------------------------------------------------


def anchors_path(app: App) -> Path:
    """The file of anchors: beside the key file, outside the database."""
    return app.config.key_file.parent / "audit-anchors"


def verify_log(app: App) -> Verification:
    if not app.db.audit_key:
        raise RuntimeError("the audit key is not loaded")
    with app.db.session() as session:
        return verify(session, app.db.audit_key, anchors_path(app))


def anchor(app: App) -> tuple[int, str]:
    with app.db.session() as session:
        return write_anchor(session, anchors_path(app))
