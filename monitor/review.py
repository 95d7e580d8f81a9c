"""Review: an analyst confirms or rejects hits. The CLI (and later the web app) call these.

Confirming says "this is her image": only confirmed hits lead to alerts and
takedown notices. Rejecting says "this is not": the hit stays, marked rejected,
and the image (by its bytes, wherever it is found again) never raises a hit for
the reference image it was mistaken for. Every decision records who and when,
and is audit-logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.db.models import HashEntry, Hit, Rejection, Sighting, utcnow
from monitor.errors import InvalidInput, NotFound

MAX_REASON = 2000


@dataclass(frozen=True)
class Decision:
    hit_ids: tuple[int, ...]  # the hits named, whose status changed
    unchanged: tuple[int, ...]  # named hits that already had this status
    also: tuple[int, ...] = ()  # other hits the decision covered (same image, same reference)


def confirm_hits(app: App, hit_ids: Sequence[int]) -> Decision:
    """Mark hits confirmed. A hit rejected before may be confirmed (a mistake undone):
    its image is then matched against that reference image again."""
    with app.db.session() as session:
        found = _load(session, hit_ids)
        changed = [h for h in found if h.status != "confirmed"]
        now = utcnow()
        for hit in changed:
            if hit.status == "rejected":
                image_id, entries = _reference(session, hit)
                session.execute(
                    delete(Rejection).where(
                        Rejection.image_id == image_id, Rejection.hash_entry_id.in_(entries)
                    )
                )
            hit.status, hit.decided_by, hit.decided_at, hit.reason_enc = (
                "confirmed",
                app.actor,
                now,
                None,
            )
        decision = Decision(
            hit_ids=tuple(h.id for h in changed),
            unchanged=tuple(h.id for h in found if h not in changed),
        )
        audit.record(
            session, app.actor, "hits.confirm", "hit", None, hit_ids=list(decision.hit_ids)
        )
        return decision


def reject_hits(app: App, hit_ids: Sequence[int], reason: str | None = None) -> Decision:
    """Mark hits rejected, with an optional reason (stored encrypted), and teach the
    crawl: the same bytes never raise a hit for the reference image again. Other hits
    still waiting for review on the same image and the same reference image (its other
    hashes and views) are rejected with them."""
    if reason is not None:
        reason = reason.strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters")
    with app.db.session() as session:
        found = _load(session, hit_ids)
        named = {h.id for h in found}
        changed = [h for h in found if h.status != "rejected"]
        now = utcnow()
        reason_enc = app.cipher.encrypt_optional(reason)
        also: list[int] = []
        for hit in changed:
            image_id, entries = _reference(session, hit)
            siblings = session.scalars(
                select(Hit)
                .join(Sighting, Sighting.id == Hit.sighting_id)
                .where(
                    Sighting.image_id == image_id,
                    Hit.hash_entry_id.in_(entries),
                    Hit.status == "new",
                    Hit.id.not_in(named),
                )
            ).all()
            for target in (hit, *siblings):
                target.status, target.decided_by, target.decided_at, target.reason_enc = (
                    "rejected",
                    app.actor,
                    now,
                    reason_enc,
                )
            also.extend(s.id for s in siblings if s.id not in also)
            taught = set(
                session.execute(
                    select(Rejection.hash_entry_id).where(
                        Rejection.image_id == image_id, Rejection.hash_entry_id.in_(entries)
                    )
                ).scalars()
            )
            session.add_all(
                Rejection(image_id=image_id, hash_entry_id=entry, hit_id=hit.id, created_at=now)
                for entry in entries
                if entry not in taught
            )
            session.flush()
        decision = Decision(
            hit_ids=tuple(h.id for h in changed),
            unchanged=tuple(h.id for h in found if h not in changed),
            also=tuple(also),
        )
        audit.record(
            session,
            app.actor,
            "hits.reject",
            "hit",
            None,
            hit_ids=list(decision.hit_ids),
            also=list(decision.also),
            with_reason=reason is not None,
        )
        return decision


def _load(session: Session, hit_ids: Sequence[int]) -> list[Hit]:
    ids = list(dict.fromkeys(hit_ids))
    if not ids:
        raise InvalidInput("name at least one hit")
    hits = {h.id: h for h in session.scalars(select(Hit).where(Hit.id.in_(ids)))}
    missing = [i for i in ids if i not in hits]
    if missing:
        raise NotFound(f"no hit with id {', '.join(map(str, missing))} (nothing was changed)")
    return [hits[i] for i in ids]


def _reference(session: Session, hit: Hit) -> tuple[int, list[int]]:
    """The hit's image, and every entry of the reference image it matched: the hashes
    and views enrolled from the same file (the same group), or the entry alone."""
    row = session.execute(
        select(Sighting.image_id, HashEntry.group_key, HashEntry.case_id)
        .join(Hit, Hit.sighting_id == Sighting.id)
        .join(HashEntry, HashEntry.id == Hit.hash_entry_id)
        .where(Hit.id == hit.id)
    ).one()
    if row.group_key is None:
        return row.image_id, [hit.hash_entry_id]
    entries = session.scalars(
        select(HashEntry.id).where(
            HashEntry.case_id == row.case_id, HashEntry.group_key == row.group_key
        )
    ).all()
    return row.image_id, sorted(entries)
