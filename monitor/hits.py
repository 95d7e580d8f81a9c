"""Reading hits. Every read is audit-logged: a hit points at someone's intimate image."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from monitor import audit
from monitor.app import App
from monitor.cases import require_case
from monitor.db.models import HashEntry, Hit, Image, Sighting


@dataclass(frozen=True)
class HitView:
    id: int
    case_id: int
    hash_entry_id: int
    label: str | None
    site_id: int
    page_url: str
    image_url: str
    final_url: str | None
    algorithm: str
    distance: int
    sha256: str
    status: str
    first_seen: datetime
    last_seen: datetime
    #: The review: who decided ("auto:exact" for exact copies confirmed without
    #: review), when, and the reason given for a rejection.
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("first_seen", "last_seen", "decided_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value is not None else None
        return data


def list_hits(app: App, *, case_id: int | None = None, status: str | None = None) -> list[HitView]:
    query = (
        select(Hit, Sighting, Image.sha256, HashEntry.label_enc)
        .join(Sighting, Sighting.id == Hit.sighting_id)
        .join(Image, Image.id == Sighting.image_id)
        .join(HashEntry, HashEntry.id == Hit.hash_entry_id)
        .order_by(Hit.case_id, Sighting.page_url, Sighting.image_url, Hit.algorithm, Hit.id)
    )
    if case_id is not None:
        query = query.where(Hit.case_id == case_id)
    if status is not None:
        query = query.where(Hit.status == status)
    with app.db.session() as session:
        if case_id is not None:
            require_case(session, case_id)
        rows = session.execute(query).all()
        views = [
            HitView(
                id=hit.id,
                case_id=hit.case_id,
                hash_entry_id=hit.hash_entry_id,
                label=app.cipher.decrypt_optional(label_enc),
                site_id=sighting.site_id,
                page_url=sighting.page_url,
                image_url=sighting.image_url,
                final_url=sighting.final_url,
                algorithm=hit.algorithm,
                distance=hit.distance,
                sha256=sha256,
                status=hit.status,
                first_seen=hit.first_seen,
                last_seen=hit.last_seen,
                decided_by=hit.decided_by,
                decided_at=hit.decided_at,
                reason=app.cipher.decrypt_optional(hit.reason_enc),
            )
            for hit, sighting, sha256, label_enc in rows
        ]
        audit.record(
            session,
            app.actor,
            "hits.list",
            "hit",
            None,
            case_id=case_id,
            hit_ids=[v.id for v in views],
        )
        return views
