"""The schema: made by alembic on both backends, with constraints that hold without the code."""

from __future__ import annotations

from datetime import UTC

import pytest
from conftest import Env, observation
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from monitor.cases import add_case
from monitor.db import Database, SchemaOutOfDate, check_schema, upgrade
from monitor.db.migrations import HEAD, alembic_config, head_revision
from monitor.db.models import Base, HashEntry, Hit, Sighting
from monitor.hashes import NewHash, store_hashes
from monitor.matching import Match
from monitor.recording import record_page
from monitor.sites import add_site


def test_head_constant_matches_alembic() -> None:
    assert HEAD == head_revision()


def test_upgrade_from_empty_creates_the_models_schema(database_url: str) -> None:
    database = Database(database_url)
    try:
        with pytest.raises(SchemaOutOfDate, match="monitor db upgrade"):
            check_schema(database)
        upgrade(database)
        check_schema(database)
        tables = set(inspect(database.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        # alembic finds nothing left to do: models and migrations agree.
        from alembic import command

        command.check(alembic_config(database))
        upgrade(database)  # idempotent
    finally:
        database.dispose()


def test_recrawl_never_duplicates_a_hit(env: Env) -> None:
    app = env.app
    case_id = add_case(app, "C")
    store_hashes(app, case_id, [NewHash("phash", "c2924c5532bddfc8", "x")], source="file")
    site_id = add_site(app, "http://x.test/", allow_private=False)
    with app.db.session() as session:
        entry_id = session.scalar(select(HashEntry.id))
    sha = "ab" * 32
    first = record_page(
        app,
        site_id=site_id,
        run_id=None,
        page_url="http://x.test/p",
        observations=[
            observation(sha, "http://x.test/a.jpg", Match(entry_id, case_id, "phash", 3))
        ],
    )
    second = record_page(
        app,
        site_id=site_id,
        run_id=None,
        page_url="http://x.test/p",
        observations=[
            observation(sha, "http://x.test/a.jpg", Match(entry_id, case_id, "phash", 3))
        ],
    )
    other_page = record_page(
        app,
        site_id=site_id,
        run_id=None,
        page_url="http://x.test/q",
        observations=[
            observation(sha, "http://x.test/a.jpg", Match(entry_id, case_id, "phash", 3))
        ],
    )
    assert (first, second, other_page) == ((1, 1), (1, 0), (1, 1))
    with app.db.session() as session:
        hits = session.scalars(select(Hit).order_by(Hit.id)).all()
        assert len(hits) == 2
        assert hits[0].last_seen > hits[0].first_seen
        assert hits[0].first_seen.tzinfo == UTC
        # The database itself refuses a duplicate, whatever the code does.
        duplicate = Hit(
            sighting_id=hits[0].sighting_id,
            hash_entry_id=hits[0].hash_entry_id,
            case_id=case_id,
            algorithm="phash",
            distance=1,
        )
        session.add(duplicate)
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        assert session.scalar(select(Sighting.id).where(Sighting.page_url == "http://x.test/q"))


def test_reading_cases_and_hits_is_audited(env: Env) -> None:
    from monitor.cases import get_case
    from monitor.db.models import AuditEvent
    from monitor.hits import list_hits

    case_id = add_case(env.app, "Audited")
    get_case(env.app, case_id)
    views = list_hits(env.app, case_id=case_id)
    with env.app.db.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        actions = [(e.actor, e.action, e.object_id) for e in events]
        assert actions == [
            ("pytest", "case.create", str(case_id)),
            ("pytest", "case.view", str(case_id)),
            ("pytest", "hits.list", None),
        ]
        assert events[-1].detail == {"case_id": case_id, "hit_ids": [v.id for v in views]}


def test_migration_0004_keeps_every_row_both_ways(database_url: str) -> None:
    """0004 adds columns to cases, hash_entries and hits: on SQLite a table copy would
    have cascaded the drop of the old ``cases`` to every hash entry (it did, once)."""
    from datetime import datetime

    from sqlalchemy import text

    from alembic import command

    database = Database(database_url)
    counts = "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM hash_entries)"
    try:
        upgrade(database, "0003")
        with database.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO cases (id, name_enc, language, status, created_at)"
                     " VALUES (1, :name, 'en', 'open', :now)"),
                {"name": b"x", "now": datetime.now(UTC)},
            )  # fmt: skip
            connection.execute(
                text("INSERT INTO hash_entries (case_id, algorithm, value, source, created_at)"
                     " VALUES (1, 'phash', 'c2924c5532bddfc8', 'file', :now)"),
                {"now": datetime.now(UTC)},
            )  # fmt: skip
        upgrade(database)
        with database.engine.connect() as connection:
            assert tuple(connection.execute(text(counts)).one()) == (1, 1)
            assert connection.execute(text("SELECT auto_confirm_exact FROM cases")).scalar() in (
                False,
                0,
            )
        command.downgrade(alembic_config(database), "0003")
        with database.engine.connect() as connection:
            assert tuple(connection.execute(text(counts)).one()) == (1, 1)
        upgrade(database)
        check_schema(database)
    finally:
        database.dispose()


def test_migration_0009_counts_what_earlier_alerts_told(database_url: str) -> None:
    """0009 records the notices' steps told before it (up to each case's last alert) as
    told, so no alert repeats them; a removal after that alert is still news."""
    from datetime import datetime, timedelta

    from sqlalchemy import text

    from monitor.db.models import Notice, NoticeEvent, OutboxMessage

    database = Database(database_url)
    t0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
    try:
        upgrade(database, "0008")
        with database.session() as session:
            # Raw SQL: the Case model has columns that 0008 does not.
            session.execute(
                text("INSERT INTO cases (id, name_enc, language, status, created_at)"
                     " VALUES (1, :name, 'en', 'open', :now)"),
                {"name": b"x", "now": t0},
            )  # fmt: skip
            case_id = 1
            notice = Notice(
                case_id=case_id, host="h.test", law="generic", language="en", recipient={},
                subject="s", body_enc=b"b", missing=[], status="removed", created_at=t0,
                created_by="a", sent_at=t0,
            )  # fmt: skip
            session.add(notice)
            session.flush()
            for status, hours in (("draft", 0), ("sent", 1), ("removed", 30)):
                session.add(
                    NoticeEvent(
                        notice_id=notice.id, at=t0 + timedelta(hours=hours), status=status,
                        actor="a",
                    )
                )  # fmt: skip
            for hours in (0, 2):  # two alerts: the last one after the notice was sent
                session.add(
                    OutboxMessage(
                        case_id=case_id, kind="alert", recipient_enc=b"r", subject="s",
                        body_enc=b"b", status="sent", attempts=1,
                        next_attempt_at=t0 + timedelta(hours=hours),
                        created_at=t0 + timedelta(hours=hours),
                    )
                )  # fmt: skip
        upgrade(database)
        with database.engine.connect() as connection:
            told = connection.execute(
                text(
                    "SELECT e.status, o.created_at FROM alerted_events a"
                    " JOIN notice_events e ON e.id = a.event_id JOIN outbox o ON o.id = a.outbox_id"
                )
            ).all()
        assert [status for status, _ in told] == ["sent"]  # the removal is still news
        assert len(told) == 1 and str(told[0][1]).startswith("2026-11-01 14:00")
    finally:
        database.dispose()
