"""Victims' data by design (SECURITY.md): encryption at rest with keys outside the
database and their rotation while the system runs, identities apart from hashes,
withdrawing a case, the append-only hash-chained audit log, retention."""

from __future__ import annotations

import json
import stat
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Env
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from test_alerts import make_hits

from monitor import audit, keys, review, takedowns
from monitor.app import bootstrap
from monitor.cases import add_case, edit_case, get_case
from monitor.config import Config
from monitor.crypto import read_keyring
from monitor.db.models import (
    AuditEvent,
    Case,
    CrawlRun,
    HashEntry,
    Hit,
    Image,
    Notice,
    OutboxMessage,
    Sighting,
    WebSession,
    utcnow,
)
from monitor.errors import InvalidInput
from monitor.hashes import NewHash, export_hashes, store_hashes

NAME, EMAIL, NOTES = "Ana Victim-Example", "ana.victim@example.org", "met at the helpline, 2026"
LABEL = "beach photo from Ana's phone"


def ok(result: object) -> str:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return result.stdout  # type: ignore[attr-defined]


def sqlite_bytes(env: Env) -> bytes:
    """Every byte the embedded database has on disk: the file, its WAL, its journal."""
    database = Path(env.app.config.database_url.removeprefix("sqlite:///"))
    return b"".join(
        p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file()
    )


def a_case(env: Env) -> int:
    case_id = add_case(env.app, NAME, email=EMAIL, alert_to="advocate@example.org", notes=NOTES)
    store_hashes(env.app, case_id, [NewHash("pdq", "ab" * 32, LABEL)], source="import")
    return case_id


# -- encryption at rest ------------------------------------------------------------------------


def test_a_copy_of_the_database_reveals_no_personal_data(sqlite_env: Env) -> None:
    """A stolen database file (or backup) holds no name, address, note, label or review
    reason in clear, and not the key."""
    env = sqlite_env
    case_id = a_case(env)
    hit_ids = make_hits(env, case_id, {"p1": ["a" * 64]})
    review.reject_hits(env.app, hit_ids, reason="not her: different tattoo")
    with env.app.db.engine.connect() as conn:  # everything in the main file
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    raw = sqlite_bytes(env)
    for secret in (NAME, EMAIL, NOTES, LABEL, "advocate@example.org", "different tattoo"):
        assert secret.encode() not in raw, secret
    key_file = env.tmp_path / "var" / "secret.key"
    for key in read_keyring(key_file):
        assert key not in raw
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((key_file.parent / "audit.key").stat().st_mode) == 0o600
    # The application reads it back with the key.
    view = get_case(env.app, case_id)
    assert (view.name, view.email, view.notes) == (NAME, EMAIL, NOTES)


def test_the_key_file_can_live_apart_from_the_database(sqlite_env: Env, tmp_path: Path) -> None:
    keydir = tmp_path / "keys-volume"
    env = sqlite_env.reconfigure(MONITOR_SECRET_KEY_FILE=str(keydir / "ncii.keys"))
    case_id = add_case(env.app, NAME)
    assert (keydir / "ncii.keys").exists() and (keydir / "audit.key").exists()
    assert "Ana" in ok(env.cli("case", "list"))  # a child process finds the same keys
    # Without the key, the data cannot be read.
    other = Config.from_env({**env.vars, "MONITOR_SECRET_KEY_FILE": str(tmp_path / "k2")})
    stranger = bootstrap(other)
    try:
        with pytest.raises(Exception, match="cannot be decrypted"):
            get_case(stranger, case_id)
    finally:
        stranger.close()


def test_keys_rotate_reencrypts_everything_while_the_app_runs(env: Env) -> None:
    """`monitor keys rotate` (another process) while this one keeps writing: this
    process takes the new key without a restart, nothing is left under the old key, and
    after `keys retire` the old key alone opens nothing."""
    case_id = a_case(env)
    hit_ids = make_hits(env, case_id, {"p1": ["b" * 64]})
    review.reject_hits(env.app, hit_ids, reason="not her, another mole")
    old_key = read_keyring(env.tmp_path / "var" / "secret.key")[0]
    before = keys.status(env.app)
    assert before.stale == 0 and sum(before.current.values()) >= 6

    stop = threading.Event()
    written: list[str] = []

    def keep_editing() -> None:  # the running web app, changing her notes
        n = 0
        while not stop.is_set():
            n += 1
            edit_case(env.app, case_id, notes=f"note {n}")
            written.append(f"note {n}")

    editor = threading.Thread(target=keep_editing)
    editor.start()
    try:
        out = ok(env.cli("keys", "rotate", timeout=180))
    finally:
        stop.set()
        editor.join()
    assert "0 left under older keys" in out, out
    assert len(written) > 3  # the app went on writing during the rotation
    ring = read_keyring(env.tmp_path / "var" / "secret.key")
    assert len(ring) == 2 and ring[1] == old_key
    # This process took the new key: what it writes now is under it.
    edit_case(env.app, case_id, notes="after the rotation")
    after = keys.status(env.app)
    assert after.stale == 0, after.older
    assert env.app.cipher.key_count == 2
    assert get_case(env.app, case_id).notes == "after the rotation"

    assert "1 older keys removed" in ok(env.cli("keys", "retire"))
    with env.app.db.session() as session:
        name_enc = session.scalar(select(Case.name_enc).where(Case.id == case_id))
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(name_enc)
    assert Fernet(ring[0]).decrypt(name_enc).decode() == NAME
    assert get_case(env.app, case_id).name == NAME  # still readable here, new key only
    with env.app.db.session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "keys")
        ).all()
    assert actions == ["keys.rotate", "keys.retire"]


def test_keys_retire_refuses_while_values_need_an_old_key(sqlite_env: Env) -> None:
    env = sqlite_env
    add_case(env.app, NAME)
    path = env.tmp_path / "var" / "secret.key"
    ring = read_keyring(path)
    path.write_bytes(Fernet.generate_key() + b"\n" + ring[0] + b"\n")  # rotated by hand
    result = env.cli("keys", "retire")
    assert result.returncode == 1 and "still need an older key" in result.stderr
    assert len(read_keyring(path)) == 2  # nothing removed
    assert "0 left" in ok(env.cli("keys", "rotate", "--reencrypt-only"))
    assert "1 older keys removed" in ok(env.cli("keys", "retire"))


# -- identities apart from hashes --------------------------------------------------------------


def test_a_hash_list_alone_does_not_say_whose_it_is(sqlite_env: Env) -> None:
    env = sqlite_env
    case_id = a_case(env)
    exported = export_hashes(env.app, case_id).text
    for secret in (NAME, EMAIL, NOTES, str(case_id) + '"'):
        assert secret not in exported
    assert json.loads(exported)["hashes"][0]["hash"] == "ab" * 32
    with env.app.db.engine.connect() as conn:
        columns = conn.execute(text("SELECT * FROM hash_entries")).keys()
        row = conn.execute(text("SELECT * FROM hash_entries")).one()
    assert not {"name", "email", "name_enc", "label"} & set(columns)
    assert all(LABEL.encode() not in bytes(v) for v in row if isinstance(v, bytes | memoryview))


# -- withdrawing a case ------------------------------------------------------------------------


def test_withdrawing_a_case_deletes_her_hashes_and_data_irrevocably(sqlite_env: Env) -> None:
    env = sqlite_env
    case_id = a_case(env)
    other = add_case(env.app, "Other Case")
    store_hashes(env.app, other, [NewHash("pdq", "cd" * 32, None)], source="import")
    hit_ids = make_hits(env, case_id, {"p1": ["c" * 64], "p2": ["d" * 64]})
    review.confirm_hits(env.app, hit_ids)
    no_dns = {"bad.test": []}.__getitem__
    sent = takedowns.draft_notices(env.app, case_id, "generic", resolve=no_dns)
    drafts = takedowns.draft_notices(env.app, case_id, "eu-dsa", resolve=no_dns)
    assert len(sent) == len(drafts) == 1
    takedowns.mark_sent(env.app, sent[0])
    with env.app.db.session() as session:
        session.add(
            OutboxMessage(
                case_id=case_id, kind="alert", recipient_enc=env.app.cipher.encrypt(EMAIL),
                subject="An update", body_enc=env.app.cipher.encrypt("hello Ana"),
            )
        )  # fmt: skip
        old_name_enc = session.scalar(select(Case.name_enc).where(Case.id == case_id))

    answer = env.cli("case", "withdraw", str(case_id))  # asks first
    assert answer.returncode != 0 and "Aborted" in answer.stderr
    out = ok(env.cli("case", "withdraw", str(case_id), "--yes"))
    assert "3 hashes" not in out and "2 hits" in out and "1 emails" in out, out
    assert "1 draft notices deleted; 1 sent notices kept" in out, out

    with env.app.db.session() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.status == "withdrawn" and case.withdrawn_at
        assert (case.email_enc, case.alert_to_enc, case.notes_enc) == (None, None, None)
        assert env.app.cipher.decrypt(case.name_enc) == "(withdrawn)"
        for model in (HashEntry, Hit, OutboxMessage):
            assert not session.scalar(
                select(func.count()).select_from(model).where(model.case_id == case_id)
            )
        notices = session.scalars(select(Notice).where(Notice.case_id == case_id)).all()
        assert [n.status for n in notices] == ["sent"]  # the record that it was sent
        assert "withdrawn" in env.app.cipher.decrypt(notices[0].body_enc)
        assert session.scalar(  # other cases untouched
            select(func.count()).select_from(HashEntry).where(HashEntry.case_id == other)
        )
        withdrawn = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "case.withdraw")
        ).one()
        assert withdrawn.object_id == str(case_id) and withdrawn.detail["hits"] == 2
        assert session.scalar(select(func.count()).select_from(AuditEvent)) > 5  # kept
    # Not left on disk: freed pages overwritten, the WAL emptied.
    raw = sqlite_bytes(env)
    assert bytes(old_name_enc) not in raw
    # Her own hash ("ab"…; make_hits's pHash is also the crawled images', which stay).
    assert ("ab" * 32).encode() not in raw
    assert ("cd" * 32).encode() in raw  # the method sees hashes that are there
    # Nothing more can be added to it.
    with pytest.raises(InvalidInput, match="withdrawn"):
        store_hashes(env.app, case_id, [NewHash("pdq", "ef" * 32, None)], source="import")
    with pytest.raises(InvalidInput, match="withdrawn"):
        edit_case(env.app, case_id, notes="again")
    assert "was withdrawn" in env.cli("case", "withdraw", str(case_id), "--yes").stderr
    assert audit.verify_log(env.app).ok


# -- the audit log -----------------------------------------------------------------------------


def _events(env: Env, n: int) -> None:
    for i in range(n):
        with env.app.db.session() as session:
            audit.record(session, "pytest", "test.event", "case", i, n=i)


def test_the_application_cannot_change_or_delete_audit_rows(env: Env) -> None:
    _events(env, 3)
    for statement in (
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            with env.app.db.session() as session:
                session.execute(text(statement))
    if env.app.db.backend == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            with env.app.db.session() as session:
                session.execute(text("TRUNCATE audit_events"))
    with pytest.raises(DBAPIError, match="append-only"):  # the ORM is refused alike
        with env.app.db.session() as session:
            session.execute(update(AuditEvent).values(detail={}))
    with env.app.db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 3
    assert audit.verify_log(env.app).ok


def _drop_triggers(env: Env) -> None:
    """What an attacker with the database's owner rights can do."""
    with env.app.db.session() as session:
        if env.app.db.backend == "postgresql":
            session.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_update"))
            session.execute(text("DROP TRIGGER audit_events_no_delete"))


def test_the_hash_chain_detects_tampering(env: Env) -> None:
    _events(env, 6)
    result = ok(env.cli("audit", "verify"))
    assert "6 events checked up to event 6: the chain is intact" in result
    assert "anchored event 6" in ok(env.cli("audit", "anchor"))
    _events(env, 2)
    assert audit.verify_log(env.app).ok
    _drop_triggers(env)

    # An event altered.
    with env.app.db.session() as session:
        session.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE seq = 3"))
    verdict = env.cli("audit", "verify")
    assert verdict.returncode == 1 and "TAMPERED: event 3 (id" in verdict.stderr
    with env.app.db.session() as session:
        session.execute(text("UPDATE audit_events SET actor = 'pytest' WHERE seq = 3"))
    assert audit.verify_log(env.app).ok  # put back: intact again

    # An event deleted in the middle.
    with env.app.db.session() as session:
        row = session.execute(text("SELECT * FROM audit_events WHERE seq = 4")).mappings().one()
        session.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    problems = audit.verify_log(env.app).problems
    assert any("events 4..4 are missing" in p for p in problems), problems
    with env.app.db.session() as session:
        session.execute(
            text(
                "INSERT INTO audit_events (id, at, actor, action, object_type, object_id,"
                " detail, seq, mac) VALUES (:id, :at, :actor, :action, :object_type,"
                " :object_id, :detail, :seq, :mac)"
            ),
            {**row, "detail": json.dumps(row["detail"]) if isinstance(row["detail"], dict)
             else row["detail"]},
        )  # fmt: skip
    assert audit.verify_log(env.app).ok

    # A forged event, with a mac made without the key.
    with env.app.db.session() as session:
        session.execute(text("UPDATE audit_events SET mac = :m WHERE seq = 5"), {"m": "0" * 64})
    assert any("event 5" in p for p in audit.verify_log(env.app).problems)
    with env.app.db.session() as session:
        good = audit.link(
            env.app.db.audit_key,
            session.scalar(select(AuditEvent.mac).where(AuditEvent.seq == 4)),
            5,
            session.scalars(select(AuditEvent).where(AuditEvent.seq == 5)).one(),
        )
        session.execute(text("UPDATE audit_events SET mac = :m WHERE seq = 5"), {"m": good})
    assert audit.verify_log(env.app).ok

    # The newest events cut, and the head set back to match: the anchor outside tells.
    with env.app.db.session() as session:
        seq5 = session.scalar(select(AuditEvent.mac).where(AuditEvent.seq == 5))
        session.execute(text("DELETE FROM audit_events WHERE seq > 5"))
        session.execute(text("UPDATE audit_chain SET seq = 5, mac = :m"), {"m": seq5})
    problems = audit.verify_log(env.app).problems
    assert any("past the chain's end" in p for p in problems), problems


def test_concurrent_writers_extend_one_chain(env: Env) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with env.app.db.session() as session:
                    session.add(Case(name_enc=env.app.cipher.encrypt(f"w{n}.{i}")))
                    audit.record(session, f"writer{n}", "test.write", "case", i)
                    audit.record(session, f"writer{n}", "test.write2", "case", i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    result = audit.verify_log(env.app)
    assert result.ok and result.checked == result.head_seq == 120, result


def test_a_rolled_back_transaction_leaves_no_audit_event(sqlite_env: Env) -> None:
    env = sqlite_env
    with pytest.raises(RuntimeError):
        with env.app.db.session() as session:
            audit.record(session, "pytest", "test.lost", "case", 1)
            raise RuntimeError("the work failed")
    _events(env, 1)
    with env.app.db.session() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions == ["test.event"]
    assert audit.verify_log(env.app).ok


# -- retention ---------------------------------------------------------------------------------


def test_retention_deletes_what_is_past_its_period_and_keeps_the_rest(env: Env) -> None:
    app = env.app
    case_id = add_case(app, NAME)
    ids = make_hits(env, case_id, {"old1": ["1" * 64], "old2": ["2" * 64], "new": ["3" * 64]})
    old_ids, new_ids = ids[:2], ids[2:]
    review.reject_hits(app, [old_ids[0]])
    review.confirm_hits(app, [old_ids[1]])
    review.reject_hits(app, new_ids)
    _events(env, 4)
    long_ago = utcnow() - timedelta(days=4000)
    user_id = _user(app)
    with app.db.session() as session:
        for hit_id in old_ids:
            hit = session.get(Hit, hit_id)
            assert hit is not None
            hit.last_seen = long_ago
            session.get(Sighting, hit.sighting_id).last_seen = long_ago  # type: ignore[union-attr]
        session.add(  # a sighting of an unrelated image, long gone
            Sighting(
                key="k" * 64, site_id=session.scalar(select(Sighting.site_id).limit(1)),
                image_id=session.scalar(
                    select(Image.id).where(Image.sha256 == "3" * 64)
                ), page_url="http://bad.test/gone", image_url="http://bad.test/gone.jpg",
                first_seen=long_ago, last_seen=long_ago,
            )
        )  # fmt: skip
        session.add(
            CrawlRun(site_id=session.scalar(select(Sighting.site_id).limit(1)), status="completed",
                     finished_at=long_ago, created_at=long_ago, errors={})
        )  # fmt: skip
        session.add(
            CrawlRun(site_id=session.scalar(select(Sighting.site_id).limit(1)), status="completed",
                     finished_at=utcnow(), errors={})
        )  # fmt: skip
        session.add(
            WebSession(token_hash="t" * 64, user_id=user_id, csrf_token="c",
                       last_seen_at=long_ago, created_at=long_ago, expires_at=long_ago)
        )  # fmt: skip
    # The first audit events are old: the audit log is pruned from its start.
    _age_first_audit_events(env, 3, long_ago)

    out = ok(env.cli("retention", "run"))
    assert "1 hits" in out and "2 sightings" in out and "1 runs" in out, out
    assert "1 web sessions" in out and "3 audit events" in out, out
    with app.db.session() as session:
        statuses = dict(session.execute(select(Hit.id, Hit.status)).all())
        assert statuses == {old_ids[1]: "confirmed", new_ids[0]: "rejected"}
        assert session.scalar(select(func.count()).select_from(CrawlRun)) == 1
        first = session.scalar(select(func.min(AuditEvent.seq)))
        assert first == 4
    assert audit.verify_log(app).ok  # what remains still verifies
    with app.db.session() as session:  # only the pruned prefix may go: not newer events
        with pytest.raises(DBAPIError, match="append-only"):
            with session.begin_nested():
                session.execute(text("DELETE FROM audit_events WHERE seq = 5"))


def _user(app: object) -> int:
    from monitor.users import add_user

    return add_user(app, "old@ngo.example", ["analyst"], "a long enough password 1").id  # type: ignore[arg-type]


def _age_first_audit_events(env: Env, n: int, when: object) -> None:
    """Backdate the first events (and re-seal them, as if written then)."""
    app = env.app
    if app.db.backend == "sqlite":
        with app.db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
    with app.db.session() as session:
        if app.db.backend == "postgresql":
            session.execute(
                text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            )
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        previous = audit.GENESIS
        for e in events:
            if e.seq <= n:
                e.at = when  # type: ignore[assignment]
            mac = audit.link(app.db.audit_key, previous, e.seq, e)
            session.execute(
                update(AuditEvent).where(AuditEvent.id == e.id).values(at=e.at, mac=mac)
            )
            previous = mac
        session.execute(text("UPDATE audit_chain SET mac = :m"), {"m": previous})
        if app.db.backend == "postgresql":
            session.execute(
                text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
            )
    if app.db.backend == "sqlite":
        with app.db.engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN "
                    "SELECT RAISE(ABORT, 'audit_events is append-only: its rows cannot be "
                    "changed or deleted'); END"
                )
            )
    assert audit.verify_log(app).ok


def test_the_scheduler_runs_retention_and_writes_anchors(sqlite_env: Env) -> None:
    from monitor.scheduler import Intervals, Scheduler

    assert Intervals().retention == 24 * 3600 and Intervals().anchor == 3600
    env = sqlite_env
    _events(env, 2)
    scheduler = Scheduler(env.app)
    scheduler.housekeeping("anchor")
    scheduler.housekeeping("retention")
    anchors = list(audit.read_anchors(audit.anchors_path(env.app)))
    assert anchors and anchors[-1][0] == 2
    with env.app.db.session() as session:
        assert (
            session.scalar(select(func.count()).where(AuditEvent.action == "retention.enforce"))
            == 1
        )
    scheduler.housekeeping("anchor")  # moved on: the retention run is an event too
    assert [seq for seq, _ in audit.read_anchors(audit.anchors_path(env.app))] == [2, 3]


def test_admins_verify_the_chain_from_the_web_app(sqlite_web: Any) -> None:
    web = sqlite_web.sign_in("admin")
    page = web.get("/admin/audit")
    assert 'action="/admin/audit/verify"' in page.text
    intact = web.post("/admin/audit/verify", {})
    assert intact.status_code == 200 and 'data-verdict="intact"' in intact.text
    app = web.app
    with app.db.engine.begin() as conn:  # someone with the database's owner rights
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE seq = 1"))
    tampered = web.post("/admin/audit/verify", {})
    assert 'data-verdict="tampered"' in tampered.text and "event 1 (id" in tampered.text
    answer = web.api_post("/api/admin/audit/verify", {})
    assert answer.status_code == 200 and answer.json()["ok"] is False
    analyst = web.new_browser().sign_in("analyst")
    assert analyst.api_post("/api/admin/audit/verify", {}).status_code == 403
