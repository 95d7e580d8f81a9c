"""The schema, as SQLAlchemy 2 typed models.

The tables are created only by the alembic migrations in ``alembic/``; these
models describe them to the code. Personal data of victims (name, contact
address, labels of their images) is stored encrypted (``*_enc`` columns).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed | withdrawn
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: New hits on a byte-for-byte copy of one of the case's files (the crawled image's
    #: sha256 is the file's) are confirmed without review.
    auto_confirm_exact: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: Alerts to the victim: never | immediate | daily | weekly (only what she chose).
    alerts: Mapped[str] = mapped_column(String(16), server_default="never")
    #: Where alerts go instead of her own address (an advocate's), encrypted.
    alert_to_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: ISO 3166 country code: which helplines an alert names.
    country: Mapped[str | None] = mapped_column(String(2))
    #: Alerts paused by her (the link in every alert) until then.
    alerts_paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The analysts' notes on the case, encrypted.
    notes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: When the case was withdrawn (its hashes and personal data deleted); status "withdrawn".
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HashEntry(Base):
    __tablename__ = "hash_entries"
    __table_args__ = (UniqueConstraint("case_id", "algorithm", "value", name="uq_hash_entry"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(128))
    label_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(32))  # file | import
    #: The hashing rules that made it (``HashAlgorithm.version``); 0: computed elsewhere
    #: (an imported list that does not say), matched against every version.
    rules_version: Mapped[int] = mapped_column(Integer, server_default="1")
    #: Which view of the reference image this is a hash of (see monitor.hashing.rule).
    view: Mapped[str] = mapped_column(String(40), server_default="original")
    #: A random token shared by the hashes of one enrolled image (None: not grouped).
    group_key: Mapped[str | None] = mapped_column(String(32))
    #: sha256 of the file the hash was made from (``monitor hashes add``), to recognise
    #: exact copies; None for imported lists.
    sha256: Mapped[str | None] = mapped_column(String(64))
    #: PDQ's quality (0-100) of the hash, where known (hashed here, or given by the list).
    quality: Mapped[int | None] = mapped_column(Integer)
    #: A reference video's sampled frames (algorithm "vpdq"): [[seconds, PDQ hex,
    #: quality], ...] in time order; ``value`` is then the sha256 of that sequence.
    frames: Mapped[list[list[Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    start_urls: Mapped[list[str]] = mapped_column(JSON)
    allowed_domains: Mapped[list[str]] = mapped_column(JSON)
    max_pages: Mapped[int] = mapped_column(Integer, default=1000)
    max_depth: Mapped[int] = mapped_column(Integer, default=5)
    obey_robots: Mapped[bool] = mapped_column(Boolean, default=True)
    crawl_delay: Mapped[float] = mapped_column(Float, default=1.0)
    allow_private: Mapped[bool] = mapped_column(Boolean, default=False)
    #: False: paused (the scheduler does not start it; run-now still does).
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: "every 6h" or a crontab line; None: its group's, else MONITOR_SCHEDULE.
    schedule: Mapped[str | None] = mapped_column(String(100))
    #: Seconds of random delay added to each scheduled start; None: its group's or the default.
    jitter: Mapped[int | None] = mapped_column(Integer)
    group_name: Mapped[str | None] = mapped_column(String(100), index=True)
    #: Seconds a run may take before it is stopped; None: MONITOR_RUN_TIME_BUDGET.
    time_budget: Mapped[int | None] = mapped_column(Integer)


class CrawlRun(Base):
    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    finish_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pid: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    images: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    new_hits: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    #: schedule | manual | retry
    trigger: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")
    #: Who carries it out: "host:pid" of the supervising process.
    worker: Mapped[str | None] = mapped_column(String(200))
    #: Set by ``monitor runs cancel``: the supervisor stops the crawl.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        # One active run per site, whoever starts it: the database says no to a second.
        Index(
            "uq_crawl_runs_active_site",
            "site_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )


class SiteGroup(Base):
    """A group of sites' schedule and jitter, for those of its sites that have none."""

    __tablename__ = "site_groups"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    schedule: Mapped[str | None] = mapped_column(String(100))
    jitter: Mapped[int | None] = mapped_column(Integer)


class SchedulerLock(Base):
    """Who runs the scheduler: one row per lock, held while its heartbeat is fresh."""

    __tablename__ = "scheduler_locks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)


#: APScheduler's job store (``SQLAlchemyJobStore``), made here by the migrations like every
#: other table, with the columns APScheduler 3.x expects.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class Image(Base):
    """Distinct image (or video) contents seen by the crawler, by the sha256 of the bytes
    received. A video keeps its digests and its sampled frames' hashes, never a pixel."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The decision rule's version that made the stored views (None: plain hashes only).
    views_version: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8), server_default="image")  # image | video
    #: Videos: the MD5 of the bytes (StopNCII's and ThreatExchange's video hash), the
    #: duration, and the sampled frames [[seconds, PDQ hex, quality], ...].
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    duration: Mapped[float | None] = mapped_column(Float)
    frames: Mapped[list[list[Any]] | None] = mapped_column(JSON)


class ImageHash(Base):
    __tablename__ = "image_hashes"
    __table_args__ = (UniqueConstraint("image_id", "algorithm", "view", name="uq_image_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    algorithm: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(128))
    quality: Mapped[int | None] = mapped_column(Integer)
    #: The hashing rules that made it: hashes of older rules are recomputed, not reused.
    rules_version: Mapped[int] = mapped_column(Integer, server_default="1")
    #: "original" for the whole image; the rule's other views (flips, regions...) too.
    view: Mapped[str] = mapped_column(String(40), server_default="original")


class Sighting(Base):
    """An image (by content) seen at an image URL on a page."""

    __tablename__ = "sightings"
    __table_args__ = (Index("ix_sightings_site", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sha256 of page URL, image URL and image sha256: the identity of a sighting,
    #: short enough for a unique index whatever the URLs' length.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    page_url: Mapped[str] = mapped_column(Text)
    image_url: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)  # after redirects
    content_type: Mapped[str | None] = mapped_column(String(200))
    etag: Mapped[str | None] = mapped_column(String(400))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("crawl_runs.id", ondelete="SET NULL")
    )


class Hit(Base):
    """A sighting whose image matched one hash entry of a case."""

    __tablename__ = "hits"
    __table_args__ = (
        UniqueConstraint("sighting_id", "hash_entry_id", name="uq_hit"),
        Index("ix_hits_case_status", "case_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("sightings.id", ondelete="CASCADE"))
    hash_entry_id: Mapped[int] = mapped_column(
        ForeignKey("hash_entries.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    algorithm: Mapped[str] = mapped_column(String(32))
    distance: Mapped[int] = mapped_column(Integer)
    #: The view of the crawled image that matched ("original", "flip_h", "region:1"...).
    view: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | confirmed | rejected
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("crawl_runs.id", ondelete="SET NULL")
    )
    #: The review: who decided (an analyst, or "auto:exact"), when, and why (encrypted).
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Video hits: the matched stretch, in seconds, of the crawled copy and of her video.
    query_start: Mapped[float | None] = mapped_column(Float)
    query_end: Mapped[float | None] = mapped_column(Float)
    ref_start: Mapped[float | None] = mapped_column(Float)
    ref_end: Mapped[float | None] = mapped_column(Float)


class Rejection(Base):
    """An image (by its bytes) that an analyst said is not the image of a hash entry:
    it never raises a hit for that entry again. A rejected hit adds one row for each
    entry of the reference image it matched (all of the image's hashes and views)."""

    __tablename__ = "rejections"
    __table_args__ = (UniqueConstraint("image_id", "hash_entry_id", name="uq_rejection"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    hash_entry_id: Mapped[int] = mapped_column(
        ForeignKey("hash_entries.id", ondelete="CASCADE"), index=True
    )
    hit_id: Mapped[int | None] = mapped_column(ForeignKey("hits.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Who did or saw what. Written for every access to a case or a hit."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Its place in the hash chain (None: written before the chain existed).
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    #: HMAC-SHA256 of the previous event's mac and of this event (monitor.audit).
    mac: Mapped[str | None] = mapped_column(String(64))


class AuditChain(Base):
    """The audit chain's one row: its head (the last event), its start (the last event
    pruned) and how far the housekeeping may delete. Written by monitor.audit only."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    mac: Mapped[str] = mapped_column(String(64))
    anchor_seq: Mapped[int] = mapped_column(BigInteger)
    anchor_mac: Mapped[str] = mapped_column(String(64))
    prune_upto: Mapped[int] = mapped_column(BigInteger)


class OutboxMessage(Base):
    """An email waiting to be sent, or sent: delivered by ``monitor alerts send`` with
    retries, so nothing is lost while the SMTP server is down. Recipient and body are
    encrypted (they say whose case it is)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))  # alert
    recipient_enc: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(String(200))
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(200))


class AlertedHit(Base):
    """A hit announced to the victim, by which message: a hit is never announced twice."""

    __tablename__ = "alerted_hits"

    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)


class AlertedEvent(Base):
    """A notice's step (sent, removed) told to the victim, by which message: each once."""

    __tablename__ = "alerted_events"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("notice_events.id", ondelete="CASCADE"), primary_key=True
    )
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)


class Delivery(Base):
    """The delivery log: every attempt to send an outbox message, and how it went."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))  # sent | error
    detail: Mapped[str | None] = mapped_column(String(500))


class RecipientOverride(Base):
    """The analysts' own answer to "who gets a notice for this domain" (a platform's form,
    its designated agent...): used before anything discovered."""

    __tablename__ = "recipient_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    form_url: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecipientCache(Base):
    """What discovery (CDN table, RDAP) found for a host, and when."""

    __tablename__ = "recipient_cache"

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(253), unique=True)
    recipients: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notice(Base):
    """A takedown notice about a case's confirmed hits on one site, to one recipient,
    under one legal basis: a draft until an analyst marks it sent."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(253))
    law: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    #: What the law requires that the system does not know (a signature...): never invented.
    missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by: Mapped[str | None] = mapped_column(String(200))
    #: Tracking: when a re-check last looked, and when it found the images gone.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The notice this one re-sends or escalates (None: the first).
    follows_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="SET NULL"))


class NoticeEvent(Base):
    """A notice's timeline: drafted, sent, acknowledged, removed, escalated, reappeared."""

    __tablename__ = "notice_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(200))


class NoticeHit(Base):
    __tablename__ = "notice_hits"

    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True
    )
    hit_id: Mapped[int] = mapped_column(
        ForeignKey("hits.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SiteHealth(Base):
    """A site's health as the operators see it: failing (why, since when) or ok, and
    when they were last told."""

    __tablename__ = "site_health"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok | failing
    reason: Mapped[str | None] = mapped_column(String(300))
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PageState(Base):
    """What the last crawl saw of a page: its validators (ETag, Last-Modified), its
    image URLs and in-scope links, so that a page answered 304 Not Modified, or whose
    sitemap ``lastmod`` is older than the last fetch, is not fetched and parsed again."""

    __tablename__ = "page_states"
    __table_args__ = (UniqueConstraint("site_id", "url_key", name="uq_page_state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    url_key: Mapped[str] = mapped_column(String(64))  # sha256 of the URL
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(400))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    image_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The page's videos: [[url, kind], ...], kind "file", "hls" or "dash".
    videos: Mapped[list[list[str]] | None] = mapped_column(JSON)
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """A person who uses the web app: an admin, an analyst or an operator. Passwords are
    stored as argon2id hashes only."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))
    #: One or more of admin, analyst, operator, comma-separated ("analyst,operator").
    role: Mapped[str] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the table its sha256 only
    (a stolen database does not give working sessions). Ends at logout, at expiry, or
    when the account is disabled."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: Sent back with every form and every API write (a synchroniser token).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """A failed login, by address tried and by client: what the rate limit counts."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))  # "email:..." or "client:..."
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
