"""The analysts' takedown pages and API: drafting from a case's confirmed hits, editing a
draft (what is missing follows the [MISSING: ...] markers left), changing its recipient,
the .eml download, marking it sent (then it is frozen), acknowledged, removed, and the
timeline. Drafting never reaches the network here: the recipient comes from an analysts'
override, discovery's answer for the host is cached, and DNS and RDAP fail the test."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email import policy
from typing import Any

import pytest
from conftest import Env
from sqlalchemy import select
from test_alerts import make_hits
from websupport import Web

from monitor import recipients
from monitor.cases import add_case
from monitor.db.models import Notice
from monitor.recipients import find_recipients, set_override
from monitor.review import confirm_hits
from monitor.takedowns import get_notice

HOST_NAME = "Bad Host Ltd"
HOST_EMAIL = "abuse@badhost.example"


def no_network(*args: Any) -> Any:
    raise AssertionError(f"recipient discovery reached the network: {args}")


def no_answer(url: str) -> Any:
    raise OSError("no network in this test")


@pytest.fixture
def tweb(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    monkeypatch.setattr(recipients, "_resolve", no_network)
    monkeypatch.setattr(recipients, "_fetch_json", no_network)
    env.reconfigure(
        MONITOR_ORG_NAME="Example Helpline",
        MONITOR_ORG_EMAIL="notices@help.example",
        MONITOR_RDAP_BOOTSTRAP="http://127.0.0.1:9/",
    )
    client = Web(env.app).sign_in("analyst")
    yield client
    client.client.close()


def confirmed_hits(env: Env, case_id: int) -> list[int]:
    hits = make_hits(env, case_id, {"gallery": ["21" * 32, "22" * 32]})
    set_override(env.app, "bad.test", kind="host", name=HOST_NAME, email=HOST_EMAIL)
    # Discovery's answer for the host, cached without any lookup: drafting reuses it.
    find_recipients(env.app, "http://bad.test/", resolve=lambda host: [], fetch=no_answer)
    return hits


def timeline_statuses(page: str) -> list[str]:
    table = re.search(r'<table class="small" id="timeline">.*?</table>', page, re.S)
    assert table, page
    return re.findall(r'<span class="badge [a-z]+">([a-z]+)</span>', table[0])


def test_a_notice_is_drafted_edited_sent_and_tracked_from_the_pages(env: Env, tweb: Web) -> None:
    web = tweb
    case_id = add_case(env.app, "T")
    hits = confirmed_hits(env, case_id)
    none = web.post(f"/cases/{case_id}/takedowns", {"law": "us-take-it-down"})
    assert none.status_code == 200
    assert "no confirmed hit without a notice under this law" in none.text
    confirm_hits(env.app, hits)
    case_page = web.get(f"/cases/{case_id}")
    assert f'action="/cases/{case_id}/takedowns"' in case_page.text
    for hit in hits:
        assert f'href="/review/hits/{hit}"' in case_page.text

    drafted = web.post(f"/cases/{case_id}/takedowns", {"law": "us-take-it-down", "language": ""})
    assert drafted.status_code == 200
    (notice_id,) = map(int, re.findall(r'data-notice="(\d+)"', drafted.text))
    assert HOST_NAME in drafted.text
    again = web.post(f"/cases/{case_id}/takedowns", {"law": "us-take-it-down"})
    assert "no confirmed hit without a notice" in again.text
    assert web.post(f"/cases/{case_id}/takedowns", {"law": "nope"}).status_code == 400

    listed = web.get("/takedowns")
    assert f'data-notice="{notice_id}"' in listed.text and "bad.test" in listed.text
    assert f'data-notice="{notice_id}"' in web.get(f"/takedowns?case={case_id}").text
    assert f'data-notice="{notice_id}"' not in web.get("/takedowns?status=sent").text
    assert f'data-notice="{notice_id}"' in web.get(f"/cases/{case_id}").text

    page = web.get(f"/takedowns/{notice_id}")
    assert page.status_code == 200
    assert HOST_NAME in page.text and HOST_EMAIL in page.text
    assert '<mark class="missing">[MISSING: physical or electronic signature' in page.text
    assert '<ul class="missing" id="missing">' in page.text
    for hit in hits:
        assert f'href="/review/hits/{hit}"' in page.text
    assert timeline_statuses(page.text) == ["draft"]

    # Edit: fill in all but one missing item.
    view = get_notice(env.app, notice_id)
    assert len(view.missing) > 1
    keep = view.missing[-1]
    body = re.sub(
        r"\[MISSING: ([^\]]*)\]",
        lambda m: m[0] if m[1] == keep else "Filled in by the analyst",
        view.body,
    ).replace("\n", "\r\n")  # as a browser's textarea sends it
    saved = web.post(
        f"/takedowns/{notice_id}/edit", {"subject": "Edited subject line", "body": body}
    )
    assert saved.status_code == 303
    edited = get_notice(env.app, notice_id)
    assert edited.subject == "Edited subject line" and edited.missing == [keep]
    assert "\r" not in edited.body and "Filled in by the analyst" in edited.body
    with env.app.db.session() as session:
        stored = session.get(Notice, notice_id)
        assert stored is not None and b"Filled in by the analyst" not in stored.body_enc
    page = web.get(f"/takedowns/{notice_id}")
    assert "Edited subject line" in page.text and "Filled in by the analyst" in page.text
    assert page.text.count('<mark class="missing">') == 1

    # Another recipient, typed in: the greeting follows.
    choices = web.get(f"/takedowns/{notice_id}/recipient")
    assert choices.status_code == 200 and HOST_NAME in choices.text
    changed = web.post(
        f"/takedowns/{notice_id}/recipient",
        {"kind": "host", "name": "Other Host", "email": "legal@other.example"},
    )
    assert changed.status_code == 303
    readdressed = get_notice(env.app, notice_id)
    assert readdressed.recipient["email"] == "legal@other.example"
    assert readdressed.recipient["source"] == "analyst" and not readdressed.recipient["guess"]
    assert "To Other Host," in readdressed.body and HOST_NAME not in readdressed.body

    # The .eml, built in memory.
    eml = web.get(f"/takedowns/{notice_id}/eml")
    assert eml.status_code == 200 and eml.headers["content-type"].startswith("message/rfc822")
    assert 'filename="notice-' in eml.headers["content-disposition"]
    message = email.message_from_bytes(eml.content, policy=policy.default)
    assert message["To"] == "legal@other.example" and message["Subject"] == "Edited subject line"
    assert "notices@help.example" in message["From"]
    assert "Filled in by the analyst" in message.get_content()

    # Sent: frozen.
    assert web.post(f"/takedowns/{notice_id}/sent").status_code == 303
    refused = web.post(f"/takedowns/{notice_id}/edit", {"subject": "Later", "body": "Later"})
    assert refused.status_code == 400 and "only a draft" in refused.text
    assert get_notice(env.app, notice_id).subject == "Edited subject line"
    assert (
        web.post(
            f"/takedowns/{notice_id}/recipient",
            {"kind": "host", "name": "X", "email": "x@x.example"},
        ).status_code
        == 400
    )
    page = web.get(f"/takedowns/{notice_id}")
    assert timeline_statuses(page.text) == ["draft", "sent"]
    assert f'action="/takedowns/{notice_id}/edit"' not in page.text
    assert web.post(f"/takedowns/{notice_id}/sent").status_code == 400
    assert web.post(f"/takedowns/{notice_id}/acknowledged").status_code == 303
    removed = web.post(f"/takedowns/{notice_id}/removed", {"detail": "host says gone"})
    assert removed.status_code == 303
    page = web.get(f"/takedowns/{notice_id}")
    assert timeline_statuses(page.text) == ["draft", "sent", "acknowledged", "removed"]
    assert "host says gone" in page.text

    operator = web.new_browser().sign_in("operator")
    assert operator.get(f"/takedowns/{notice_id}").status_code == 403


def test_the_takedown_api_does_the_same(env: Env, tweb: Web) -> None:
    web = tweb
    created = web.api_post("/api/cases", {"name": "A", "language": "es"})
    case_id = created.json()["id"]
    confirm_hits(env.app, confirmed_hits(env, case_id))
    drafted = web.api_post(f"/api/cases/{case_id}/takedowns", {"law": "eu-dsa"})
    assert drafted.status_code == 200
    (notice,) = drafted.json()["notices"]
    assert notice["language"] == "es" and notice["recipient"]["name"] == HOST_NAME
    assert notice["missing"] and "[MISSING:" in notice["body"]
    assert web.api_post(f"/api/cases/{case_id}/takedowns", {"law": "eu-dsa"}).json() == {
        "notices": []
    }
    wrong = web.api_post(f"/api/cases/{case_id}/takedowns", {"law": "eu-dsa", "language": "fr"})
    assert wrong.status_code == 400
    notice_id = notice["id"]
    assert [n["id"] for n in web.api_get("/api/takedowns?status=draft").json()] == [notice_id]
    assert web.api_get(f"/api/takedowns?case_id={case_id}&status=sent").json() == []
    assert web.api_get("/api/takedowns?status=bogus").status_code == 400
    full = web.api_get(f"/api/takedowns/{notice_id}").json()
    assert [e["status"] for e in full["timeline"]] == ["draft"]
    assert full["created_at"].startswith("20")  # ISO dates

    body = re.sub(r"\[MISSING: [^\]]*\]", "done", full["body"])
    patched = web.api_post(
        f"/api/takedowns/{notice_id}",
        {
            "subject": "API subject",
            "body": body,
            "recipient": {"kind": "agent", "name": "Agent", "form_url": "https://agent.example/f"},
        },
        method="PATCH",
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["missing"] == [] and patched.json()["subject"] == "API subject"
    assert patched.json()["recipient"]["form_url"] == "https://agent.example/f"
    bad = web.api_post(f"/api/takedowns/{notice_id}", {"subject": "two\nlines"}, method="PATCH")
    assert bad.status_code == 400
    choices = web.api_get(f"/api/takedowns/{notice_id}/recipients").json()
    assert HOST_EMAIL in [c["email"] for c in choices]
    eml = web.api_get(f"/api/takedowns/{notice_id}/eml")
    assert eml.status_code == 200 and b"API subject" in eml.content

    # A notice covers the case's hits: its hashes cannot be deleted from under it.
    kept = web.api_post(f"/api/cases/{case_id}/hashes", method="DELETE")
    assert kept.status_code == 400 and f"notice {notice_id}" in kept.json()["detail"]

    sent = web.api_post(f"/api/takedowns/{notice_id}/sent")
    assert sent.status_code == 200 and sent.json()["status"] == "sent" and sent.json()["sent_at"]
    frozen = web.api_post(f"/api/takedowns/{notice_id}", {"body": "later"}, method="PATCH")
    assert frozen.status_code == 400 and "only a draft" in frozen.json()["detail"]
    assert web.api_post(f"/api/takedowns/{notice_id}/acknowledged").json()["status"] == (
        "acknowledged"
    )
    removed = web.api_post(f"/api/takedowns/{notice_id}/removed", {"detail": "gone"})
    assert removed.json()["status"] == "removed"
    timeline = web.api_get(f"/api/takedowns/{notice_id}").json()["timeline"]
    assert [e["status"] for e in timeline] == ["draft", "sent", "acknowledged", "removed"]
    assert timeline[-1]["detail"] == "gone" and timeline[-1]["actor"] == "analyst@ngo.example"
    assert web.api_get("/api/takedowns/999").status_code == 404
    with env.app.db.session() as session:
        assert session.scalars(select(Notice.status)).all() == ["removed"]
