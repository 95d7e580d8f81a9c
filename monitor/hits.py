"""Reading hits. Every read is audit-logged: a hit points at someone's intimate image."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from monitor import audit
from monitor.app import App
from monitor.cases import require_case
from monitor.db.models import HashEntry, Hit, Image, Sighting
from monitor.errors import NotFound


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
    #: "image" or "video"; for a video, the matched stretch (seconds) of the crawled copy
    #: and of the case's video.
    kind: str = "image"
    #: Which view of the crawled image matched ("original", "flip_h"...); for a video,
    #: "mirrored" when it matched her video flipped.
    view: str | None = None
    query_start: float | None = None
    query_end: float | None = None
    ref_start: float | None = None
    ref_end: float | None = None

    @property
    def stretch(self) -> str:
        """Where a video hit matched, for people: "0:04-0:10 of the copy is 0:04-0:10 of
        hers"; empty for an image (or a video hit without times)."""
        if self.query_start is None or self.ref_start is None:
            return ""
        copy = f"{clock(self.query_start)}-{clock(self.query_end)}"
        theirs = f"{clock(self.ref_start)}-{clock(self.ref_end)}"
        return f"{copy} of the copy is {theirs} of the case's video"

    @property
    def short_stretch(self) -> str:
        """The same in a table's cell: "copy 0:00-0:06 = hers 0:04-0:10"."""
        if self.query_start is None or self.ref_start is None:
            return ""
        return (
            f"copy {clock(self.query_start)}-{clock(self.query_end)}"
            f" = hers {clock(self.ref_start)}-{clock(self.ref_end)}"
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("first_seen", "last_seen", "decided_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value is not None else None
        return data


def clock(seconds: float | None) -> str:
    """Seconds as m:ss (h:mm:ss past an hour); "?" when unknown."""
    if seconds is None:
        return "?"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _query() -> Select[Any]:
    return (
        select(Hit, Sighting, Image.sha256, HashEntry.label_enc, Image.kind)
        .join(Sighting, Sighting.id == Hit.sighting_id)
        .join(Image, Image.id == Sighting.image_id)
        .join(HashEntry, HashEntry.id == Hit.hash_entry_id)
    )


def _view(
    app: App,
    hit: Hit,
    sighting: Sighting,
    sha256: str,
    label_enc: bytes | None,
    kind: str | None = None,
) -> HitView:
    return HitView(
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
        kind=kind or "image",
        view=hit.view,
        query_start=hit.query_start,
        query_end=hit.query_end,
        ref_start=hit.ref_start,
        ref_end=hit.ref_end,
    )


def list_hits(app: App, *, case_id: int | None = None, status: str | None = None) -> list[HitView]:
    query = _query().order_by(
        Hit.case_id, Sighting.page_url, Sighting.image_url, Hit.algorithm, Hit.id
    )
    if case_id is not None:
        query = query.where(Hit.case_id == case_id)
    if status is not None:
        query = query.where(Hit.status == status)
    with app.db.session() as session:
        if case_id is not None:
            require_case(session, case_id)
        rows = session.execute(query).all()
        views = [_view(app, *row) for row in rows]
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


def get_hit(app: App, hit_id: int) -> HitView:
    """One hit, for someone looking at it: audit-logged as ``hit.view``."""
    with app.db.session() as session:
        row = session.execute(_query().where(Hit.id == hit_id)).first()
        if row is None:
            raise NotFound(f"no hit with id {hit_id}")
        audit.record(session, app.actor, "hit.view", "hit", hit_id)
        return _view(app, *row)


@dataclass(frozen=True)
class ImageGroup:
    """The hits of one case on one image (the same bytes, by sha256), wherever it was
    seen: reviewed as one item, since the same image is the same answer on every page."""

    case_id: int
    sha256: str
    hits: tuple[HitView, ...]

    @property
    def hit_ids(self) -> list[int]:
        return [h.id for h in self.hits]

    @property
    def first(self) -> HitView:
        """The hit seen first: the item's representative (its preview)."""
        return min(self.hits, key=lambda h: (h.first_seen, h.id))

    @property
    def first_seen(self) -> datetime:
        return self.first.first_seen

    @property
    def statuses(self) -> list[str]:
        return sorted({h.status for h in self.hits})

    @property
    def pages(self) -> list[tuple[str, str, list[HitView]]]:
        """(page URL, image URL, its hits), in the order first seen."""
        out: dict[tuple[str, str], list[HitView]] = {}
        for hit in sorted(self.hits, key=lambda h: (h.first_seen, h.id)):
            out.setdefault((hit.page_url, hit.image_url), []).append(hit)
        return [(page, image, hits) for (page, image), hits in out.items()]

    @property
    def matches(self) -> list[tuple[str | None, str, int]]:
        """(hash label, algorithm, smallest distance) of each reference hash matched."""
        best: dict[tuple[str | None, str], int] = {}
        for hit in self.hits:
            key = (hit.label, hit.algorithm)
            best[key] = min(best.get(key, hit.distance), hit.distance)
        return sorted(
            ((label, algorithm, d) for (label, algorithm), d in best.items()),
            key=lambda m: (m[2], m[1], m[0] or ""),
        )


def group_by_image(views: list[HitView]) -> list[ImageGroup]:
    """Hits grouped by case and image, the group seen first first."""
    groups: dict[tuple[int, str], list[HitView]] = {}
    for view in views:
        groups.setdefault((view.case_id, view.sha256), []).append(view)
    found = [ImageGroup(case_id, sha, tuple(hits)) for (case_id, sha), hits in groups.items()]
    return sorted(found, key=lambda g: (g.first_seen, g.first.id))
