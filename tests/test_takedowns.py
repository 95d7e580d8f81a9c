"""Takedown notice drafts: one per site for a case's confirmed hits, to the recipient
discovery finds, under each legal basis, in English and Spanish, with what the law needs
and the system does not know marked as missing; exported as .eml; marked sent. On SQLite
and PostgreSQL."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from conftest import Env, observation
from sqlalchemy import select

from monitor.cases import add_case
from monitor.db.models import HashEntry, Notice
from monitor.hashes import NewHash, store_hashes
from monitor.matching import Match
from monitor.recipients import find_recipients, search_engines, set_override
from monitor.recording import record_page
from monitor.review import confirm_hits
from monitor.sites import add_site
from monitor.takedowns import LAWS, draft_notices, get_notice, mark_sent
from monitor.tracking import mark_removed, timeline

NO_DNS = {"img.one.test": [], "two.test": []}.__getitem__  # no network: nothing resolves


def hits_on_two_sites(
    env: Env, language: str = "en", country: str | None = None
) -> tuple[int, list[int]]:
    app = env.app
    case_id = add_case(app, "N", language=language, country=country)
    store_hashes(app, case_id, [NewHash("phash", "c2924c5532bddfc8", "her.jpg")], source="file")
    with app.db.session() as session:
        entry = session.scalar(select(HashEntry.id).where(HashEntry.case_id == case_id))
    assert entry is not None
    site = add_site(app, "http://img.one.test/", allow_private=False, name=f"one-{case_id}")
    pages = {"http://img.one.test/a": ["51", "52"], "http://two.test/b": ["53"]}
    for page, shas in pages.items():
        record_page(
            app,
            site_id=site,
            run_id=None,
            page_url=page,
            observations=[
                observation(sha * 32, f"{page}/{i}.jpg", Match(entry, case_id, "phash", 3))
                for i, sha in enumerate(shas)
            ],
        )
    with app.db.session() as session:
        from monitor.db.models import Hit

        hits = list(session.scalars(select(Hit.id).where(Hit.case_id == case_id).order_by(Hit.id)))
    return case_id, hits


def test_drafts_per_site_with_what_is_missing(env: Env) -> None:
    env.reconfigure(MONITOR_ORG_NAME="Example Helpline", MONITOR_ORG_EMAIL="notices@help.example")
    case_id, hits = hits_on_two_sites(env)
    assert (
        draft_notices(env.app, case_id, "us-take-it-down", resolve=NO_DNS) == []
    )  # none confirmed
    confirm_hits(env.app, hits)
    ids = draft_notices(env.app, case_id, "us-take-it-down", resolve=NO_DNS)
    notices = [get_notice(env.app, i) for i in ids]
    assert [(n.host, len(n.hit_ids)) for n in notices] == [("img.one.test", 2), ("two.test", 1)]
    first = notices[0]
    assert first.recipient["email"] == "abuse@one.test" and first.recipient["guess"]
    assert "TAKE IT DOWN Act" in first.subject and "img.one.test" in first.subject
    for url in (
        "http://img.one.test/a/0.jpg",
        "http://img.one.test/a/1.jpg",
        "http://img.one.test/a",
    ):
        assert url in first.body
    assert "http://two.test" not in first.body  # each site its own notice
    assert "no later than 48 hours" in first.body and "Example Helpline" in first.body
    assert "[MISSING: physical or electronic signature" in first.body
    assert any("signature" in m for m in first.missing)
    assert not any("organisation" in m for m in first.missing)  # configured: not missing
    with env.app.db.session() as session:
        stored = session.scalars(select(Notice)).first()
        assert stored is not None and b"img.one.test/a/0.jpg" not in stored.body_enc
    # Drafting again makes nothing new; another legal basis drafts anew.
    assert draft_notices(env.app, case_id, "us-take-it-down", resolve=NO_DNS) == []
    assert len(draft_notices(env.app, case_id, "eu-dsa", resolve=NO_DNS)) == 2
    sent = mark_sent(env.app, ids[0])
    assert sent.status == "sent" and sent.sent_at is not None
    with pytest.raises(Exception, match="marked sent already"):
        mark_sent(env.app, ids[0])


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_legal_basis_renders_in_both_languages(sqlite_env: Env, language: str) -> None:
    case_id, hits = hits_on_two_sites(sqlite_env, language, country="ES")
    confirm_hits(sqlite_env.app, hits)
    expected = {
        "us-take-it-down": ("TAKE IT DOWN", "48"),
        "dmca": ("512(c)(3)", "perjur"),
        "eu-dsa": ("2022/2065", "16"),
        "uk-iic": ("66B", "48"),
        "ar-olimpia": ("27.736", "26"),
        "es-197-7": ("197.7", "canalprioritario"),
        "delisting": ("C-131/12", "17"),  # the case is in Spain: GDPR Art. 17 too
        "generic": ("", ""),
    }
    for law in LAWS:
        notice = get_notice(
            sqlite_env.app, draft_notices(sqlite_env.app, case_id, law, resolve=NO_DNS)[0]
        )
        for text in expected[law]:
            assert text in notice.subject + notice.body, (law, language, text)
        assert notice.language == language
        # The organisation was not configured: said, not invented.
        assert any("organisation" in m or "organización" in m for m in notice.missing), law
        assert "http://img.one.test/a/0.jpg" in notice.body
    spanish = language == "es"
    assert ("Página:" in notice.body) is spanish


def test_delisting_goes_to_each_search_engine_for_all_sites(env: Env) -> None:
    app = env.app
    bundled = {r.domain: r for r in search_engines(app)}
    assert set(bundled) == {"google.com", "bing.com"}
    assert all(
        r.kind == "search-engine" and r.form_url.startswith("https://") for r in bundled.values()
    )  # type: ignore[union-attr]
    case_id, hits = hits_on_two_sites(env, country="es")
    confirm_hits(app, hits)
    # No DNS or RDAP: search engines are not looked up, they come from their table.
    ids = draft_notices(app, case_id, "delisting", resolve=None, fetch=None)
    notices = [get_notice(app, i) for i in ids]
    assert [n.host for n in notices] == ["bing.com", "google.com"]
    gdpr = {r.domain: r for r in search_engines(app, gdpr=True)}
    for n in notices:
        assert n.hit_ids == hits  # both sites in one request to each engine
        assert n.recipient["kind"] == "search-engine"
        assert n.recipient["form_url"] == gdpr[n.host].form_url != bundled[n.host].form_url
        assert "http://img.one.test/a/0.jpg" in n.body and "http://two.test/b/0.jpg" in n.body
        assert "Article 17" in n.body and "Country of residence: ES" in n.body
        assert any("not being paid" in m for m in n.missing)
        assert any("identity document" in m for m in n.missing)
    assert draft_notices(app, case_id, "delisting") == []  # each engine asked once

    # An engine the analysts reach otherwise replaces the bundled entry; another is added.
    set_override(
        app,
        "google.com",
        kind="search-engine",
        name="Google (NGO channel)",
        email="ngo@google.example",
    )
    set_override(
        app,
        "search.example",
        kind="search-engine",
        name="Example Search",
        form_url="https://search.example/report",
    )
    assert [(r.domain, r.source) for r in search_engines(app)] == [
        ("bing.com", "bundled"),
        ("google.com", "override"),
        ("search.example", "override"),
    ]
    # A search engine's override is not the site's recipient.
    set_override(app, "one.test", kind="search-engine", name="Not a host", email="x@one.test")
    assert all(
        r.source != "override" for r in find_recipients(app, "http://img.one.test/", resolve=NO_DNS)
    )

    # Outside the EU, the EEA and the UK: the engines' worldwide forms, no GDPR.
    other, more = hits_on_two_sites(env, country="AR")
    confirm_hits(app, more)
    (first, *_rest) = [get_notice(app, i) for i in draft_notices(app, other, "delisting")]
    assert first.host == "bing.com" and first.recipient["form_url"] == bundled["bing.com"].form_url
    assert "Article 17" not in first.body and "Country of residence: AR" in first.body

    # The engine's word that it de-listed them is recorded on the timeline.
    mark_sent(app, ids[1])
    mark_removed(app, ids[1], "de-listed, their reference 42")
    assert get_notice(app, ids[1]).status == "removed"
    assert timeline(app, ids[1])[-1][1:3] == ("removed", "de-listed, their reference 42")
    with pytest.raises(Exception, match="only a sent notice"):
        mark_removed(app, ids[0])  # a draft


def test_takedowns_from_the_cli(sqlite_env: Env, tmp_path: Path) -> None:
    env = sqlite_env
    case_id, hits = hits_on_two_sites(env)
    confirm_hits(env.app, hits)
    env.vars.update(
        MONITOR_ORG_EMAIL="notices@help.example", MONITOR_RDAP_BOOTSTRAP="http://127.0.0.1:9/"
    )
    for host in ("img.one.test", "two.test"):  # cached: the CLI makes no DNS query
        find_recipients(env.app, f"http://{host}/", resolve=NO_DNS)
    drafted = env.cli("takedowns", "draft", str(case_id), "--law", "eu-dsa", check=True).stdout
    assert "notice 1: img.one.test" in drafted and "(a guess)" in drafted and "missing:" in drafted
    listed = env.cli("takedowns", "list", check=True).stdout
    assert "img.one.test" in listed and "draft" in listed
    out = tmp_path / "out"
    paths = env.cli("takedowns", "export", "1", "--out", str(out), check=True).stdout.split()
    message = email.message_from_bytes(Path(paths[0]).read_bytes(), policy=policy.default)
    assert message["To"] == "abuse@one.test" and "Digital Services Act" in message["Subject"]
    assert "http://img.one.test/a/0.jpg" in message.get_content()
    assert "Article 16" in Path(paths[1]).read_text()
    assert "sent" in env.cli("takedowns", "mark-sent", "1", check=True).stdout
    assert "acknowledged" in env.cli("takedowns", "ack", "1", check=True).stdout
    removed = env.cli("takedowns", "mark-removed", "1", "--detail", "host says gone", check=True)
    assert "notice 1: removed" in removed.stdout
    events = env.cli("takedowns", "timeline", "1", check=True).stdout.splitlines()
    assert [line.split()[2] for line in events] == ["draft", "sent", "acknowledged", "removed"]
    assert events[-1].endswith("host says gone")
    engines = env.cli("recipients", "search-engines", "--gdpr", check=True).stdout
    assert "google.com" in engines and "complaint_type=rtbf" in engines and "check each" in engines
    delisting = env.cli("takedowns", "draft", str(case_id), "--law", "delisting", check=True)
    assert "notice 3: bing.com → Microsoft Bing" in delisting.stdout
    assert "notice 4: google.com → Google Search" in delisting.stdout
    stats = env.cli("takedowns", "stats", check=True).stdout
    assert "img.one.test" in stats and "median hours to removal" in stats
    again = env.cli("takedowns", "mark-sent", "1")
    assert again.returncode != 0 and "marked sent already" in again.stderr
    assert "no notice with id 99" in env.cli("takedowns", "show", "99").stderr
