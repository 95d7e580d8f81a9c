"""The analysts' case pages and API: opening and editing cases, contact details shown only
on request (and audit-logged), hash lists imported from an upload, exported, deleted."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from sqlalchemy import select
from websupport import Web

from monitor.cases import add_case, get_case
from monitor.db.models import AuditEvent, Case
from monitor.hashes import count_hashes

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PHASH = "c2924c5532bddfc8"
ANALYST = "analyst@ngo.example"


def audit_rows(web: Web, action: str) -> list[AuditEvent]:
    with web.app.db.session() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def upload(web: Web, path: str, name: str, content: bytes) -> object:
    return web.post(path, files={"file": (name, content, "text/plain")})


def api_upload(web: Web, path: str, name: str, content: bytes) -> object:
    return web.client.post(
        path, files={"file": (name, content, "text/plain")}, headers={"X-CSRF-Token": web.csrf}
    )


def test_a_case_opened_with_the_form_is_in_the_database_and_the_list(web: Web) -> None:
    web.sign_in("analyst")
    form = web.get("/cases/new")
    assert form.status_code == 200 and 'action="/cases"' in form.text
    answer = web.post(
        "/cases",
        {
            "name": "K-17",
            "email": "her@example.org",
            "language": "es",
            "alerts": "daily",
            "country": "ar",
            "auto_confirm_exact": "1",
        },
    )
    assert answer.status_code == 303
    case_id = int(re.fullmatch(r"/cases/(\d+)\?done=.*", answer.headers["location"])[1])
    with web.app.db.session() as session:
        stored = session.get(Case, case_id)
        assert stored is not None and b"K-17" not in stored.name_enc  # encrypted
    view = get_case(web.app, case_id)
    assert (view.name, view.email, view.language, view.alerts, view.country) == (
        "K-17",
        "her@example.org",
        "es",
        "daily",
        "AR",
    )
    assert view.auto_confirm_exact
    listed = web.get("/cases")
    assert listed.status_code == 200
    row = re.search(rf'<tr data-case="{case_id}">.*?</tr>', listed.text, re.S)
    assert row and "K-17" in row[0] and "daily" in row[0]
    assert "her@example.org" not in listed.text
    # A wrong field: the form again, with the reason, and nothing opened.
    bad = web.post("/cases", {"name": "X", "email": "not-an-address"})
    assert bad.status_code == 400 and "not an email address" in bad.text
    with web.app.db.session() as session:
        assert len(session.scalars(select(Case)).all()) == 1


def test_contact_details_are_shown_only_on_request_and_audit_logged(web: Web) -> None:
    web.sign_in("analyst")
    case_id = add_case(web.app, "M", email="victim@example.org", alert_to="advocate@example.org")
    page = web.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "Show contact details" in page.text
    for text in (page.text, web.get(f"/cases/{case_id}/edit").text):
        assert "victim@example.org" not in text and "advocate@example.org" not in text
    api = web.api_get(f"/api/cases/{case_id}")
    assert api.status_code == 200 and "victim@" not in api.text and api.json()["has_email"]
    assert audit_rows(web, "case.contact_view") == []

    shown = web.post(f"/cases/{case_id}/contact")
    assert shown.status_code == 200
    assert "victim@example.org" in shown.text and "advocate@example.org" in shown.text
    (row,) = audit_rows(web, "case.contact_view")
    assert (row.actor, row.object_type, row.object_id) == (ANALYST, "case", str(case_id))
    by_api = web.api_post(f"/api/cases/{case_id}/contact")
    assert by_api.json() == {"email": "victim@example.org", "alert_to": "advocate@example.org"}
    assert len(audit_rows(web, "case.contact_view")) == 2
    assert web.get(f"/cases/{case_id}/contact").status_code == 405  # never by a plain link

    operator = web.new_browser().sign_in("operator")
    assert operator.post(f"/cases/{case_id}/contact").status_code == 403
    assert operator.get(f"/cases/{case_id}").status_code == 403
    assert len(audit_rows(web, "case.contact_view")) == 2


def test_preferences_are_edited_by_form_and_api(web: Web) -> None:
    web.sign_in("analyst")
    case_id = add_case(web.app, "P", email="p@example.org", alert_to="adv@example.org")
    answer = web.post(
        f"/cases/{case_id}/edit",
        {"language": "es", "alerts": "weekly", "country": "ES", "clear_alert_to": "1"},
    )
    assert answer.status_code == 303 and "alerts" in answer.headers["location"]
    view = get_case(web.app, case_id)
    assert (view.language, view.alerts, view.country, view.alert_to) == ("es", "weekly", "ES", None)
    assert view.email == "p@example.org" and not view.auto_confirm_exact  # empty: unchanged
    patched = web.api_post(
        f"/api/cases/{case_id}",
        {"alerts": "immediate", "auto_confirm_exact": True, "email": "new@example.org"},
        method="PATCH",
    )
    assert patched.status_code == 200
    assert set(patched.json()["changed"]) == {"alerts", "auto-confirm-exact", "email"}
    assert get_case(web.app, case_id).email == "new@example.org"
    assert "new@example.org" not in patched.text
    wrong = web.api_post(f"/api/cases/{case_id}", {"alerts": "hourly"}, method="PATCH")
    assert wrong.status_code == 400 and "alerts must be one of" in wrong.json()["detail"]
    created = web.api_post("/api/cases", {"name": "Q", "language": "en", "country": "ar"})
    assert created.status_code == 201 and created.json()["country"] == "AR"
    listed = web.api_get("/api/cases").json()
    assert [c["name"] for c in listed] == ["P", "Q"] and listed[0]["hits"] == {}
    assert web.api_get("/api/cases/999").status_code == 404


def test_hash_lists_are_imported_from_an_upload_exported_and_deleted(web: Web) -> None:
    web.sign_in("analyst")
    case_id = add_case(web.app, "H")
    listing = f"# from the helpline\npdq {PDQ} first photo\nphash {PHASH}\n".encode()
    answer = upload(web, f"/cases/{case_id}/hashes", "list.txt", listing)
    assert answer.status_code == 303, answer.text
    assert "Imported%202%20hashes%20%280%20already" in answer.headers["location"]
    page = web.get(f"/cases/{case_id}/hashes")
    assert re.search(r'data-algorithm="pdq"><td>pdq</td><td>1<', page.text)
    assert re.search(r'data-algorithm="phash"><td>phash</td><td>1<', page.text)
    assert re.search(r'data-algorithm="pdq"', web.get(f"/cases/{case_id}").text)
    # The same hash as CSV: a duplicate.
    csv = f'algorithm,hash,label\npdq,{PDQ},"a, b"\n'.encode()
    again = upload(web, f"/cases/{case_id}/hashes", "list.csv", csv)
    assert "Imported%200%20hashes%20%281%20already" in again.headers["location"]
    # A bad line: rejected with its number and why, the rest imported; the page says so.
    bad = f"phash {PHASH}\n\nphash zz924c5532bddfc8\n".encode()
    reported = upload(web, f"/cases/{case_id}/hashes", "bad.txt", bad)
    assert reported.status_code == 200
    assert "bad.txt: text hash list, unsigned" in reported.text
    assert "imported 0 hashes (1 already in the case), rejected 1:" in reported.text
    assert "line 3: phash hash: non-hex character" in reported.text
    # All or nothing when asked: 400, its number, nothing imported.
    strict = f"phash {PHASH[::-1]}\n\nphash zz924c5532bddfc8\n".encode()
    refused = web.post(
        f"/cases/{case_id}/hashes",
        {"strict": "1"},
        files={"file": ("bad.txt", strict, "text/plain")},
    )
    assert refused.status_code == 400
    assert "bad.txt: line 3:" in refused.text and 'data-line="3"' in refused.text
    assert count_hashes(web.app, case_id) == {"pdq": 1, "phash": 1}
    by_api = api_upload(web, f"/api/cases/{case_id}/hashes?strict=true", "bad.txt", strict)
    assert by_api.status_code == 400 and by_api.json()["line"] == 3
    assert "line 3" in by_api.json()["detail"]
    lenient = api_upload(web, f"/api/cases/{case_id}/hashes", "bad.txt", bad).json()
    assert (lenient["added"], lenient["duplicates"], lenient["format"]) == (0, 1, "text")
    assert [(r["number"], r["where"]) for r in lenient["rejected"]] == [(3, "line")]
    bare = api_upload(
        web, f"/api/cases/{case_id}/hashes", "stopncii.txt", f"{PDQ[::-1]},90\n".encode()
    )
    answer = bare.json()  # a bare PDQ line with its quality
    assert (answer["added"], answer["duplicates"], answer["format"]) == (1, 0, "pdq")
    assert answer["signature"] == "unsigned" and answer["rejected"] == []
    assert web.api_get(f"/api/cases/{case_id}/hashes").json() == {"counts": {"pdq": 2, "phash": 1}}

    # Export: admins only; a download, audit-logged, that imports again elsewhere.
    assert web.get(f"/cases/{case_id}/hashes/export").status_code == 403
    assert web.api_get(f"/api/cases/{case_id}/hashes/export").status_code == 403
    assert "Only an admin can export" in web.get(f"/cases/{case_id}/hashes").text
    admin = web.new_browser().sign_in("admin", "analyst")
    assert f"/cases/{case_id}/hashes/export" in admin.get(f"/cases/{case_id}/hashes").text
    unlabelled = admin.get(f"/cases/{case_id}/hashes/export")
    assert {h["label"] for h in json.loads(unlabelled.content)["hashes"]} == {None}
    exported = admin.get(f"/cases/{case_id}/hashes/export?labels=1")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].startswith("attachment;")
    assert str(case_id) not in exported.headers["content-disposition"]
    assert exported.headers["cache-control"] == "no-store"
    labels = {h["label"] for h in json.loads(exported.content)["hashes"]}
    assert labels == {"first photo", None}
    assert json.loads(exported.content)["signature"]["algorithm"] == "ed25519"
    as_csv = admin.get(f"/cases/{case_id}/hashes/export?format=csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0] == "algorithm,hash,quality,label"
    assert f"pdq,{PDQ[::-1]},90," in as_csv.text
    assert admin.get(f"/cases/{case_id}/hashes/export?format=zip").status_code == 400
    exports = audit_rows(web, "hashes.export")
    assert [r.actor for r in exports] == ["admin-analyst@ngo.example"] * 3
    assert [(r.detail["format"], r.detail["labels"]) for r in exports] == [
        ("ncii-monitor", False),
        ("ncii-monitor", True),
        ("csv", False),
    ]
    other = add_case(web.app, "H2")
    reimported = upload(web, f"/cases/{other}/hashes", "export.json", exported.content)
    assert reimported.status_code == 303
    assert count_hashes(web.app, other) == count_hashes(web.app, case_id)
    assert admin.api_get(f"/api/cases/{other}/hashes/export").json()["hashes"]

    # Delete one algorithm's, then every one.
    deleted = web.post(f"/cases/{case_id}/hashes/delete", {"algorithm": "phash"})
    assert deleted.status_code == 303
    assert count_hashes(web.app, case_id) == {"pdq": 2}
    answer = web.api_post(f"/api/cases/{case_id}/hashes", method="DELETE")
    assert answer.json() == {"hashes": 2, "entries": 2, "hits": 0}
    assert count_hashes(web.app, case_id) == {}
    assert count_hashes(web.app, other) == {"pdq": 2, "phash": 1}  # another case's stay
    assert [r.detail["algorithm"] for r in audit_rows(web, "hashes.delete")] == ["phash", None]
    unknown = web.api_post(f"/api/cases/{case_id}/hashes?algorithm=sha1", method="DELETE")
    assert unknown.status_code == 400


def test_notes_are_kept_encrypted_and_an_admin_withdraws_a_case(web: Web) -> None:
    web.sign_in("analyst")
    made = web.post(
        "/cases", {"name": "N1", "notes": "first call: 12 May", "language": "en", "alerts": "never"}
    )
    assert made.status_code == 303
    case_id = int(made.headers["location"].split("/cases/")[1].split("?")[0])
    page = web.get(f"/cases/{case_id}")
    assert "first call: 12 May" in page.text
    assert f'action="/cases/{case_id}/withdraw"' not in page.text  # analysts: no withdraw
    edited = web.post(f"/cases/{case_id}/edit", {"notes": "second call: 20 May"})
    assert "notes" in unquote(edited.headers["location"])
    with web.app.db.session() as session:
        notes_enc = session.get(Case, case_id).notes_enc  # type: ignore[union-attr]
    assert notes_enc and b"second call" not in notes_enc
    assert web.api_get(f"/api/cases/{case_id}").json()["notes"] == "second call: 20 May"
    assert web.post(f"/cases/{case_id}/withdraw", {"confirm": str(case_id)}).status_code == 403
    assert web.api_post(f"/api/cases/{case_id}/withdraw", {}).status_code == 403

    admin = web.new_browser().sign_in("admin", "analyst")
    assert f'action="/cases/{case_id}/withdraw"' in admin.get(f"/cases/{case_id}").text
    wrong = admin.post(f"/cases/{case_id}/withdraw", {"confirm": "1234"})
    assert wrong.status_code == 400 and "type the case" in wrong.text
    assert web.api_get(f"/api/cases/{case_id}").json()["status"] == "open"
    done = admin.post(f"/cases/{case_id}/withdraw", {"confirm": str(case_id)})
    assert done.status_code == 303 and "withdrawn" in unquote(done.headers["location"])
    view = web.api_get(f"/api/cases/{case_id}").json()
    assert view["status"] == "withdrawn" and view["notes"] is None and view["withdrawn_at"]
    assert view["name"] == "(withdrawn)"
    again = admin.api_post(f"/api/cases/{case_id}/withdraw", {})
    assert again.status_code == 400
    assert [r.actor for r in audit_rows(web, "case.withdraw")] == ["admin-analyst@ngo.example"]
