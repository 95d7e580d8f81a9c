"""Review: analysts confirm and reject hits; rejections teach the crawl; exact copies may
be confirmed without review. On SQLite and PostgreSQL, through the CLI after a real crawl
of the sample site, and at the recording level for what a static site cannot show."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import CASE_PHOTOS, LOOPBACK, PHOTOS, Env, observation
from sqlalchemy import select

from monitor.cases import add_case, edit_case, get_case
from monitor.db.models import AuditEvent, Hit, Rejection
from monitor.hashes import NewHash, store_hashes
from monitor.matching import Match
from monitor.recording import AUTO_EXACT, record_page
from monitor.review import confirm_hits, reject_hits
from monitor.samplesite import SiteServer
from monitor.sites import add_site


def hits_json(env: Env) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(env.cli("hits", "list", "--json", check=True).stdout)


def test_review_after_a_real_crawl(env: Env, server: SiteServer) -> None:
    env.vars["MONITOR_ALLOWED_ADDRESSES"] = LOOPBACK
    case_id = int(env.cli("case", "add", "Victim", "--auto-confirm-exact", check=True).stdout)
    env.cli(
        "hashes", "add", str(case_id), *(str(PHOTOS / f"{n}.jpg") for n in CASE_PHOTOS), check=True
    )
    env.cli(
        "site", "add", server.main_url + "/", "--name", "sample", "--crawl-delay", "0", check=True
    )
    crawled = env.cli("crawl", "sample", timeout=180)
    assert crawled.returncode == 0 and "Traceback" not in crawled.stderr, crawled.stderr[-3000:]
    hits = hits_json(env)

    # -- exact copies of the case's files were confirmed at once; the rest wait ---------
    files = {hashlib.sha256((PHOTOS / f"{n}.jpg").read_bytes()).hexdigest() for n in CASE_PHOTOS}
    exact = [h for h in hits if h["sha256"] in files]
    others = [h for h in hits if h["sha256"] not in files]
    assert exact and others
    assert all(h["status"] == "confirmed" and h["decided_by"] == AUTO_EXACT for h in exact)
    assert all(h["decided_at"] for h in exact)
    assert all(h["status"] == "new" and h["decided_by"] is None for h in others)

    # -- an analyst confirms one and rejects another, with a reason ------------------------
    first = others[0]
    rest = [h for h in others if h["sha256"] != first["sha256"]]
    second = rest[0]
    result = env.cli("hits", "confirm", str(first["id"]), check=True)
    assert f"confirmed: {first['id']}" in result.stdout
    result = env.cli(
        "hits", "reject", str(second["id"]), "--reason", "a different person", check=True
    )
    assert f"rejected: {second['id']}" in result.stdout

    after = {h["id"]: h for h in hits_json(env)}
    assert after[first["id"]]["status"] == "confirmed"
    assert after[first["id"]]["decided_by"] == "pytest" and after[first["id"]]["decided_at"]
    assert after[second["id"]]["status"] == "rejected"
    assert after[second["id"]]["reason"] == "a different person"
    # Every other hit of the same bytes on the same reference image, on any page, is
    # rejected with it; hits of other images are untouched.
    same = [
        h
        for h in hits
        if h["sha256"] == second["sha256"]
        and h["label"] == second["label"]
        and h["status"] == "new"
    ]
    assert all(after[h["id"]]["status"] == "rejected" for h in same)
    untouched = [h for h in others if h["sha256"] not in (first["sha256"], second["sha256"])]
    assert untouched and all(after[h["id"]]["status"] == "new" for h in untouched)
    with env.app.db.session() as session:
        stored = session.get(Hit, second["id"])
        assert stored is not None and stored.reason_enc is not None
        assert b"different person" not in stored.reason_enc  # encrypted at rest
        assert session.scalar(select(Rejection.id).where(Rejection.hit_id == second["id"]))
        actions = [
            (e.actor, e.action, e.detail.get("hit_ids"))
            for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("hits.%")))
        ]
        assert ("pytest", "hits.confirm", [first["id"]]) in actions
        assert ("pytest", "hits.reject", [second["id"]]) in actions

    # -- unknown ids change nothing and say so ----------------------------------------------
    result = env.cli("hits", "confirm", str(second["id"]), "999999")
    assert result.returncode != 0
    assert "no hit with id 999999" in result.stderr and "Traceback" not in result.stderr
    assert {h["id"]: h["status"] for h in hits_json(env)}[second["id"]] == "rejected"

    # -- the next crawl keeps every decision ---------------------------------------------------
    env.cli("crawl", "sample", check=True, timeout=180)
    again = {h["id"]: h for h in hits_json(env)}
    assert set(again) == set(after)
    assert {i: h["status"] for i, h in again.items()} == {i: h["status"] for i, h in after.items()}


def test_a_rejection_teaches_the_crawl_and_a_confirmation_undoes_it(env: Env) -> None:
    app = env.app
    case_id = add_case(app, "C")
    store_hashes(
        app,
        case_id,
        [
            NewHash("phash", "c2924c5532bddfc8", "one.jpg", group_key="g1"),
            NewHash("pdq", "ab" * 32, "one.jpg", group_key="g1"),  # the same reference image
            NewHash("phash", "0123456789abcdef", "two.jpg", group_key="g2"),
        ],
        source="file",
    )
    with app.db.session() as session:
        from monitor.db.models import HashEntry

        ids = dict(session.execute(select(HashEntry.value, HashEntry.id)).all())
    one_phash, one_pdq, two = ids["c2924c5532bddfc8"], ids["ab" * 32], ids["0123456789abcdef"]
    site = add_site(app, "http://x.test/", allow_private=False)
    bytes_a, bytes_b = "aa" * 32, "bb" * 32

    def page(name: str, sha: str, *entries: int) -> tuple[int, int]:
        matches = [Match(e, case_id, "phash", 2) for e in entries]
        return record_page(
            app,
            site_id=site,
            run_id=None,
            page_url=f"http://x.test/{name}",
            observations=[observation(sha, f"http://x.test/{name}.jpg", *matches)],
        )

    assert page("p1", bytes_a, one_phash) == (1, 1)
    with app.db.session() as session:
        hit_id = session.scalar(select(Hit.id))
    decision = reject_hits(app, [hit_id], "not her")
    assert decision.hit_ids == (hit_id,)
    with app.db.session() as session:
        taught = set(session.scalars(select(Rejection.hash_entry_id)))
    assert taught == {one_phash, one_pdq}  # every hash of that reference image

    # The same bytes elsewhere: no hit on that reference image (by either hash), but a hit
    # on another reference image is still raised; other bytes still hit the first one.
    assert page("p2", bytes_a, one_phash, one_pdq, two) == (1, 1)
    assert page("p3", bytes_b, one_phash) == (1, 1)
    assert reject_hits(app, [hit_id]).unchanged == (hit_id,)  # deciding twice is harmless

    # Confirming the rejected hit undoes the lesson: the bytes match that image again.
    confirm_hits(app, [hit_id])
    with app.db.session() as session:
        assert session.scalar(select(Rejection.id)) is None
        confirmed = session.get(Hit, hit_id)
        assert confirmed is not None and confirmed.status == "confirmed"
        assert confirmed.decided_by == "pytest" and confirmed.reason_enc is None
    assert page("p4", bytes_a, one_phash) == (1, 1)

    with pytest.raises(Exception, match="no hit with id 424242"):
        confirm_hits(app, [hit_id, 424242])


def test_exact_copies_are_confirmed_only_where_the_case_asks(env: Env) -> None:
    app = env.app
    site = add_site(app, "http://x.test/", allow_private=False)
    file_sha = "cc" * 32
    results = {}
    for auto in (False, True):
        case_id = add_case(app, f"auto {auto}")
        store_hashes(
            app,
            case_id,
            [NewHash("phash", f"{int(auto):016x}", None, sha256=file_sha)],
            source="file",
        )
        with app.db.session() as session:
            from monitor.db.models import HashEntry

            entry = session.scalar(select(HashEntry.id).where(HashEntry.case_id == case_id))
        assert entry is not None
        if auto:
            assert edit_case(app, case_id, auto_confirm_exact=True) == ["auto-confirm-exact"]
            assert get_case(app, case_id).auto_confirm_exact
        for name, sha in (("copy", file_sha), ("recompressed", "dd" * 32)):
            record_page(
                app,
                site_id=site,
                run_id=None,
                page_url=f"http://x.test/{auto}/{name}",
                observations=[
                    observation(sha, f"http://x.test/{name}.jpg", Match(entry, case_id, "phash", 0))
                ],
            )
        with app.db.session() as session:
            results[auto] = sorted(
                (h.status, h.decided_by or "")
                for h in session.scalars(select(Hit).where(Hit.case_id == case_id))
            )
    assert results[False] == [("new", ""), ("new", "")]
    assert results[True] == [("confirmed", AUTO_EXACT), ("new", "")]


def test_case_edit_from_the_cli(sqlite_env: Env) -> None:
    env = sqlite_env
    case_id = env.cli("case", "add", "Someone", check=True).stdout.strip()
    result = env.cli("case", "edit", case_id, "--auto-confirm-exact", "--language", "es")
    assert result.returncode == 0 and "language, auto-confirm-exact changed" in result.stdout
    assert "nothing to change" in env.cli("case", "edit", case_id, "--language", "es").stdout
    view = get_case(env.app, int(case_id))
    assert view.language == "es" and view.auto_confirm_exact
    bad = env.cli("case", "edit", case_id, "--email", "not-an-address")
    assert bad.returncode != 0 and "not an email address" in bad.stderr
    missing = env.cli("case", "edit", "777", "--language", "en")
    assert missing.returncode != 0 and "no case with id 777" in missing.stderr
