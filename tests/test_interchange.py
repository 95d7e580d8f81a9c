"""Hash-list interchange: the foreign formats (StopNCII, ThreatExchange, the threatexchange
CLI / HMA files, pdq-photo-hasher), our signed JSON, the import report, and what an
export may hold."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import PHOTOS, Env, make_app, make_env
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from monitor import exchange
from monitor.app import App
from monitor.cases import add_case
from monitor.db.models import AuditEvent, HashEntry
from monitor.detection import Detector
from monitor.hashes import (
    BadHashList,
    NewHash,
    count_hashes,
    export_hashes,
    hash_files,
    import_hash_bytes,
    known_bits,
    store_hashes,
)
from monitor.hashlists import (
    EXPORT_FORMATS,
    ExportEntry,
    HashListError,
    ParsedHash,
    Rejection,
    canonical_bytes,
    export_list,
    read_hash_list,
)

KNOWN = known_bits()
PDQ_A = "2afc4a5c09628a7961c14d436493bba66b89b831453baa1d556ba385554daa82"
PDQ_B = "79e07de27d7295339435d63cd31cf35a7bfa29eb2885008500a588a5ea3ae75a"
PHASH = "c2924c5532bddfc8"
MD5 = "cab08b36195edb1a1231d2d09fa450e0"
NAME, EMAIL, NOTES, LABEL = "Ana Example", "ana@example.org", "met at the helpline", "IMG_0042.jpg"

# --------------------------------------------------------------------------- real samples

#: StopNCII's FetchHashes answer, as in facebook/ThreatExchange
#: python-threatexchange/threatexchange/exchanges/clients/stopncii/tests/test_api.py
#: (mock_get_impl and mock_get_impl_error_enum), plus a VideoMD5 record (the signal types
#: of clients/stopncii/api.py) and a VideoTMK one, which this tool does not use.
STOPNCII_SAMPLE = {
    "count": 4,
    "nextSetTimestamp": 1625175071,
    "nextPageToken": "W3siY29tcG9zaXRlVG9rZW4iOnsidG9rZW4iOiIrUklEOn4xMnRWQUo4SzU2Y0NB",
    "hasMoreRecords": True,
    "hashRecords": [
        {
            "lastModtimestamp": 1625167804,
            "hashValue": PDQ_A,
            "hashStatus": "Received",
            "caseNumbers": {
                "27664732-76e1-4a17-8099-455798e67022": "Received",
                "a2696edf-1237-4eb8-a9c1-cd8ee6c055e5": "Received",
            },
            "signalType": "ImagePDQ",
        },
        {
            "lastModtimestamp": 1661426988,
            "hashValue": "95d087d087f8f41cf00771c707f713c7675d07f8c618f00ef00f07f307e37087",
            "hashStatus": "Active",
            "caseNumbers": {"bce008ff-e114-4815-9de8-8f4a50bfd471": "Active"},
            "signalType": "ImagePDQ",
            "hashRegions": ["UK"],
            "CSPFeedbacks": [
                {"source": "TikTok", "feedbackValue": "Undefined", "tags": ["Tag-One"]},
            ],
        },
        {
            "lastModtimestamp": 1625175071,
            "hashValue": "9def0b7dafa86a1c90f2abd78e79ceb25ec3d1a4b3d4bc7a4354baf7717ea038",
            "hashStatus": "Withdrawn",
            "caseNumbers": {"cc592711-7068-442f-b5d2-24d50d389751": "Withdrawn"},
            "signalType": "ImagePDQ",
        },
        {
            "lastModtimestamp": 1625175072,
            "hashValue": MD5,
            "hashStatus": "Active",
            "caseNumbers": {},
            "signalType": "VideoMD5",
        },
        {
            "lastModtimestamp": 1625175073,
            "hashValue": "00ff" * 8,
            "hashStatus": "Active",
            "caseNumbers": {},
            "signalType": "VideoTMK",
        },
    ],
}

#: A ThreatExchange threat descriptor, as in the docstring of facebook/ThreatExchange
#: python-threatexchange/threatexchange/exchanges/clients/fb_threatexchange/descriptor.py,
#: and a HASH_PDQ one with the Graph API's tags ({"data": [{"text": ...}]}).
TE_SAMPLE = {
    "data": [
        {
            "id": "3058061737574159",
            "raw_indicator": "facefacefacefacefacefacefaceface",
            "type": "HASH_MD5",
            "owner": {"id": "616912251743987"},
            "status": "MALICIOUS",
            "tags": None,
            "added_on": "2020-07-01T18:31:15+0000",
        },
        {
            "id": "3058061737574160",
            "raw_indicator": PDQ_B,
            "type": "HASH_PDQ",
            "owner": {"id": "616912251743987"},
            "status": "MALICIOUS",
            "tags": {"data": [{"text": "ncii"}, {"text": "reviewed"}]},
            "added_on": "2020-07-01T18:31:15+0000",
        },
        {"raw_indicator": "https://example.org/x", "type": "URI", "tags": []},
    ]
}

#: The threatexchange CLI's / HMA's file of signals: "{signal_type} {signal}" lines, as
#: facebook/ThreatExchange python-threatexchange/threatexchange/exchanges/impl/file_api.py
#: reads and appends them; the MD5 is an example of signal_type/md5.py.
TE_FILE_SAMPLE = f"pdq {PDQ_A}\nvideo_md5 {MD5}\npdq {PDQ_B}\n"

#: pdq-photo-hasher's output: "hash,quality,filename" (facebook/ThreatExchange pdq/cpp).
PDQ_HASHER_SAMPLE = f"{PDQ_A},100,/home/her/b.jpg\n{PDQ_B},40,/home/her/dark.jpg\n"


def test_stopncii_sample_reads_pdq_and_md5_and_rejects_withdrawn_and_other_types() -> None:
    parsed = read_hash_list(json.dumps(STOPNCII_SAMPLE), KNOWN)
    assert parsed.format == "stopncii"
    assert [(h.algorithm, h.value, h.label, h.line) for h in parsed.hashes] == [
        ("pdq", PDQ_A, None, 1),
        ("pdq", "95d087d087f8f41cf00771c707f713c7675d07f8c618f00ef00f07f307e37087", None, 2),
        ("md5", MD5, None, 4),
    ]
    assert [str(r) for r in parsed.rejected] == [
        "entry 3: the hash is withdrawn on StopNCII",
        "entry 5: StopNCII signal type 'VideoTMK' is not a hash this tool uses",
    ]
    # StopNCII's case numbers are never read: nothing of them in what was parsed.
    assert "27664732" not in repr(parsed)


def test_threatexchange_descriptors_read_types_and_tags() -> None:
    parsed = read_hash_list(json.dumps(TE_SAMPLE), KNOWN)
    assert parsed.format == "threatexchange"
    assert [(h.algorithm, h.value, h.label) for h in parsed.hashes] == [
        ("md5", "facefacefacefacefacefacefaceface", None),
        ("pdq", PDQ_B, "ncii reviewed"),
    ]
    assert [str(r) for r in parsed.rejected] == [
        "entry 3: ThreatExchange type 'URI' is not a hash this tool uses"
    ]
    # A bare list of descriptors too.
    bare = read_hash_list(json.dumps(TE_SAMPLE["data"][:2]), KNOWN)
    assert bare.format == "threatexchange" and len(bare.hashes) == 2


def test_threatexchange_file_and_pdq_hasher_lines() -> None:
    parsed = read_hash_list(TE_FILE_SAMPLE, KNOWN)
    assert parsed.format == "text"
    assert [(h.algorithm, h.value) for h in parsed.hashes] == [
        ("pdq", PDQ_A),
        ("md5", MD5),
        ("pdq", PDQ_B),
    ]
    hasher = read_hash_list(PDQ_HASHER_SAMPLE, KNOWN)
    assert hasher.format == "pdq"
    assert hasher.hashes == [
        ParsedHash("pdq", PDQ_A, "/home/her/b.jpg", 1, 100),
        ParsedHash("pdq", PDQ_B, "/home/her/dark.jpg", 2, 40),
    ]
    assert read_hash_list(f"{MD5}\n", KNOWN).hashes == [ParsedHash("md5", MD5, None, 1)]


# --------------------------------------------------------------------------- round trips

ENTRIES = [
    ExportEntry("pdq", PDQ_A, "beach", 92, 2, "original", "g1"),
    ExportEntry("pdq", PDQ_B, None, 61, 2, "turn:5", "g1"),
    ExportEntry("phash", PHASH, "beach", None, 2, "original", "g1"),
    ExportEntry("md5", MD5, "beach", None, 1, "original", "g1"),
]


@pytest.mark.parametrize("format", EXPORT_FORMATS)
def test_every_format_reads_back_what_it_writes(format: str) -> None:
    exported = export_list(ENTRIES, format, origin="x", hashing={"pdq": 2, "phash": 2})
    parsed = read_hash_list(exported.text, KNOWN)
    assert parsed.format == format
    assert parsed.rejected == []
    holds = {
        "ncii-monitor": ENTRIES,
        "stopncii": [ENTRIES[0], ENTRIES[3]],
        "threatexchange": [ENTRIES[0], ENTRIES[3]],
        "text": [ENTRIES[0], ENTRIES[2], ENTRIES[3]],
        "csv": [ENTRIES[0], ENTRIES[2], ENTRIES[3]],
        "pdq": [ENTRIES[0]],
    }[format]
    assert [(h.algorithm, h.value) for h in parsed.hashes] == [
        (e.algorithm, e.value) for e in holds
    ]
    assert exported.written == len(holds) and exported.skipped == len(ENTRIES) - len(holds)
    if format in ("ncii-monitor", "csv", "pdq"):  # the formats with room for PDQ's quality
        assert parsed.hashes[0].quality == 92
    if format in ("ncii-monitor", "csv", "threatexchange"):  # ... and for labels
        assert parsed.hashes[0].label == "beach"
    if format == "ncii-monitor":
        assert [h.view for h in parsed.hashes] == [None, "turn:5", None, None]
        assert len({h.group for h in parsed.hashes}) == 1
        assert parsed.origin == "x" and parsed.hashing == {"pdq": 2, "phash": 2}


def _case_with_hashes(app: App, name: str = NAME) -> int:
    case_id = add_case(app, name, email=EMAIL, notes=NOTES)
    store_hashes(
        app,
        case_id,
        [
            NewHash("pdq", PDQ_A, LABEL, quality=88),
            NewHash("phash", PHASH, LABEL),
            NewHash("md5", MD5, LABEL, 1),
        ],
        source="file",
    )
    return case_id


def _stored(app: App, case_id: int) -> set[tuple[str, str, int | None]]:
    with app.db.session() as session:
        rows = session.execute(
            select(HashEntry.algorithm, HashEntry.value, HashEntry.quality).where(
                HashEntry.case_id == case_id
            )
        )
        return {tuple(row) for row in rows}  # type: ignore[misc]


@pytest.mark.parametrize("format", EXPORT_FORMATS)
def test_export_then_import_through_the_database(env: Env, format: str) -> None:
    app = env.app
    first = _case_with_hashes(app)
    exported = export_hashes(app, first, format=format)
    second = add_case(app, "B")
    report = import_hash_bytes(app, second, exported.text.encode(), f"list.{exported.suffix}")
    assert report.format == format and report.rejected == []
    mine = _stored(app, first)
    expected = {
        "ncii-monitor": mine,
        "csv": mine,
        "text": {(a, v, None) for a, v, _ in mine},
        "stopncii": {(a, v, None) for a, v, _ in mine if a != "phash"},
        "threatexchange": {(a, v, None) for a, v, _ in mine if a != "phash"},
        "pdq": {(a, v, q) for a, v, q in mine if a == "pdq"},
    }[format]
    assert _stored(app, second) == expected
    assert report.added == len(expected)
    assert report.notes == ([] if format == "pdq" else [f"1 MD5 hashes {_not_matched()}"])
    assert report.signature_status == ("own" if format == "ncii-monitor" else "unsigned")


def _not_matched() -> str:
    from monitor.hashes import MD5_NOT_MATCHED

    return MD5_NOT_MATCHED


def test_hashes_add_stores_pdq_quality_and_the_md5_which_is_not_matched(env: Env) -> None:
    app = env.app
    case_id = add_case(app, "Q")
    hash_files(app, case_id, [PHOTOS / "rocket.jpg"])
    stored = _stored(app, case_id)
    md5 = hashlib.md5((PHOTOS / "rocket.jpg").read_bytes()).hexdigest()
    assert ("md5", md5, None) in stored
    assert all(q is not None and 50 <= q <= 100 for a, _, q in stored if a == "pdq")
    detector = Detector()
    loaded = detector.load(app)
    assert loaded.added == len(stored) - 1  # every hash but the MD5
    assert count_hashes(app, case_id)["md5"] == 1


# --------------------------------------------------------------------------- privacy


@pytest.mark.parametrize("format", EXPORT_FORMATS)
def test_an_export_holds_hashes_only(env: Env, format: str) -> None:
    app = env.app
    case_id = _case_with_hashes(app)
    for _ in range(case_id + 3):  # so that the case number is not 1
        add_case(app, "filler")
    case_id = _case_with_hashes(app, "Her")
    exported = export_hashes(app, case_id, format=format)
    text = exported.text
    for secret in (NAME, EMAIL, NOTES, LABEL, "IMG_", ".jpg", "Her"):
        assert secret not in text, (format, secret)
    assert f'"{case_id}"' not in text and f": {case_id}," not in text
    for device in ("Exif", "exif", "GPS", "Make", "Model", "DateTimeOriginal", "sha256"):
        assert device not in text
    assert "/9j/" not in text and "iVBOR" not in text  # no JPEG or PNG data in base64
    assert 'caseNumbers": {}' in text if format == "stopncii" else "caseNumbers" not in text
    if format == "ncii-monitor":
        document = json.loads(text)
        assert set(document) == {
            "format",
            "version",
            "origin",
            "exported_at",
            "hashing",
            "hashes",
            "signature",
        }
        for entry in document["hashes"]:
            assert set(entry) <= {
                "algorithm",
                "hash",
                "label",
                "quality",
                "rules_version",
                "view",
                "group",
            }
    # Labels leave only when asked, and only in the formats with room for them.
    labelled = export_hashes(app, case_id, format=format, labels=True).text
    assert (LABEL in labelled) == (format in ("ncii-monitor", "csv", "threatexchange"))
    with app.db.session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "hashes.export")
        ).all()
    assert [(e.detail["format"], e.detail["labels"]) for e in events] == [
        (format, False),
        (format, True),
    ]


# --------------------------------------------------------------------------- signatures


def _signed_export(app: App) -> tuple[int, dict[str, Any]]:
    case_id = _case_with_hashes(app)
    return case_id, json.loads(export_hashes(app, case_id, labels=True).text)


def _import(app: App, case_id: int, document: dict[str, Any], **kwargs: Any) -> Any:
    return import_hash_bytes(app, case_id, json.dumps(document).encode(), "list.json", **kwargs)


def test_canonical_bytes_are_what_a_javascript_page_makes() -> None:
    document = {"b": [1, {"z": None, "a": "é"}], "a": "x", "signature": {"value": "ignored"}}
    # JSON.stringify of the same object with keys sorted recursively, in UTF-8.
    assert canonical_bytes(document) == '{"a":"x","b":[1,{"a":"é","z":null}]}'.encode()


def test_our_signed_export_imports_and_says_so(env: Env) -> None:
    app = env.app
    _, document = _signed_export(app)
    signature = document["signature"]
    public, key_id = exchange.own_public_key(app)
    assert signature["algorithm"] == "ed25519" and signature["key_id"] == key_id
    assert signature["public_key"] == public
    assert document["origin"] == "ncii-monitor" and document["version"] == 2
    report = _import(app, add_case(app, "B"), document)
    assert report.signature_status == "own" and report.added == 3
    assert report.signature == f"signed by this instance (key {key_id})"
    key_file = app.config.key_file.parent / "signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def _tampered(document: dict[str, Any], how: str) -> dict[str, Any]:
    changed = json.loads(json.dumps(document))
    if how == "hash digit":
        value = changed["hashes"][0]["hash"]
        changed["hashes"][0]["hash"] = ("1" if value[0] != "1" else "2") + value[1:]
    elif how == "label":
        changed["hashes"][0]["label"] = "someone else"
    elif how == "order":
        changed["hashes"].reverse()
    elif how == "origin":
        changed["origin"] = "Trusted Partner"
    elif how == "public key":
        other = Ed25519PrivateKey.generate().public_key()
        raw = other.public_bytes(Encoding.Raw, PublicFormat.Raw)
        changed["signature"]["public_key"] = base64.b64encode(raw).decode()
    elif how == "signature":
        value = base64.b64decode(changed["signature"]["value"])
        changed["signature"]["value"] = base64.b64encode(bytes([value[0] ^ 1]) + value[1:]).decode()
    return changed


@pytest.mark.parametrize(
    "how", ["hash digit", "label", "order", "origin", "public key", "signature"]
)
def test_a_file_changed_after_it_was_signed_is_refused_whole(env: Env, how: str) -> None:
    app = env.app
    _, document = _signed_export(app)
    target = add_case(app, "B")
    with pytest.raises(BadHashList, match="changed after it was signed"):
        _import(app, target, _tampered(document, how), trust_once=True)
    assert count_hashes(app, target) == {}


def test_a_file_without_its_signature_imports_as_unsigned(env: Env) -> None:
    app = env.app
    _, document = _signed_export(app)
    del document["signature"]
    report = _import(app, add_case(app, "B"), document)
    assert report.signature_status == "unsigned" and report.signature == "unsigned"
    assert report.added == 3


def test_a_partners_key_is_refused_until_trusted(env: Env, tmp_path: Path) -> None:
    app = env.app
    (tmp_path / "partner").mkdir()
    partner = make_app(make_env(tmp_path / "partner", f"sqlite:///{tmp_path / 'partner.db'}"))
    try:
        partner_case = _case_with_hashes(partner)
        document = json.loads(export_hashes(partner, partner_case).text)
        public, key_id = exchange.own_public_key(partner)
    finally:
        partner.close()
    target = add_case(app, "B")
    with pytest.raises(BadHashList, match=f"does not trust \\(key {key_id}"):
        _import(app, target, document)
    assert count_hashes(app, target) == {}
    once = _import(app, target, document, trust_once=True)
    assert once.signature_status == "trusted-once" and once.added == 3
    trusted = exchange.trust_key(app, public, "Partner NGO")
    assert trusted.key_id == key_id
    assert [k.key_id for k in exchange.trusted_keys(app)] == [key_id]
    again = _import(app, add_case(app, "C"), document)
    assert again.signature_status == "trusted"
    assert again.signature == f"signed by Partner NGO (trusted key {key_id})"
    assert exchange.untrust_key(app, key_id) and not exchange.untrust_key(app, key_id)
    with pytest.raises(BadHashList, match="does not trust"):
        _import(app, add_case(app, "D"), document)
    trusted_file = app.config.key_file.parent / "trusted-keys"
    assert stat.S_IMODE(trusted_file.stat().st_mode) == 0o600
    with app.db.session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("keys.%"))
        ).all()
    assert actions == ["keys.trust", "keys.untrust"]


def _page_document(app: App, case_id: int, token: str, key: bytes) -> dict[str, Any]:
    """What the hashing page made for ``case_id`` writes (another engineer's JavaScript)."""
    document: dict[str, Any] = {
        "format": "ncii-monitor-hashlist",
        "version": 2,
        "origin": "ncii-monitor hashing page",
        "exported_at": "2026-11-29T12:00:00Z",
        "hashing": {"pdq": 2, "phash": 2, "dhash": 1, "rule": 2},
        "hashes": [
            {"algorithm": "pdq", "hash": PDQ_A, "quality": 87, "view": "original", "group": 0},
            {"algorithm": "md5", "hash": MD5, "label": None, "group": 0},
        ],
    }
    value = hmac.new(key, canonical_bytes(document), hashlib.sha256).hexdigest()
    document["signature"] = {"algorithm": "hmac-sha256", "key_id": token, "value": value}
    return document


def test_the_hashing_pages_file_imports_into_its_case_only(env: Env) -> None:
    app = env.app
    hers = add_case(app, "Hers")
    other = add_case(app, "Other")
    token, key = exchange.new_case_page_token(app, hers)
    assert key == exchange.case_page_key(app, hers, token)
    assert key != exchange.case_page_key(app, other, token)
    document = _page_document(app, hers, token, key)
    with pytest.raises(BadHashList, match="signed for another case, or changed after it was made"):
        _import(app, other, document)
    changed = json.loads(json.dumps(document))
    changed["hashes"][0]["quality"] = 88
    with pytest.raises(BadHashList, match="signed for another case, or changed"):
        _import(app, hers, changed)
    assert count_hashes(app, hers) == {}
    report = _import(app, hers, document)
    assert report.signature_status == "case-page" and report.added == 2
    assert _stored(app, hers) == {("pdq", PDQ_A, 87), ("md5", MD5, None)}
    with app.db.session() as session:
        page = session.scalars(select(AuditEvent).where(AuditEvent.action == "hasher.page")).one()
        imported = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "hashes.add")
        ).all()[-1]
    assert page.object_id == str(hers) or page.object_id == hers
    assert imported.detail["signature"] == "case-page" and imported.detail["added"] == 2
    # The rules version comes from "hashing" when an entry does not say.
    with app.db.session() as session:
        versions = dict(
            session.execute(
                select(HashEntry.algorithm, HashEntry.rules_version).where(
                    HashEntry.case_id == hers
                )
            ).all()
        )
    assert versions["pdq"] == 2


# --------------------------------------------------------------------------- the report


def test_the_import_report_rejects_entry_by_entry(env: Env) -> None:
    app = env.app
    case_id = add_case(app, "R")
    store_hashes(app, case_id, [NewHash("phash", PHASH, None)], source="file")
    lines = [
        f"{PDQ_A},90",  # 1: imported
        f"{PDQ_B},49",  # 2: PDQ quality below 50
        f"{PDQ_A},95",  # 3: a duplicate within the file
        f"{PDQ_A[:-1]}g",  # 4: bad hex
        "pdq " + PDQ_B,  # 5: another format
        f"{PDQ_B[::-1]},50,{'x' * 201}",  # 6: label too long
        f"{PDQ_B[::-1]},50,ok",  # 7: imported
    ]
    report = import_hash_bytes(app, case_id, "\n".join(lines).encode(), "list.txt")
    assert report.format == "pdq" and report.signature_status == "unsigned"
    assert (report.added, report.duplicates) == (2, 0)
    assert [(r.number, r.reason) for r in report.rejected] == [
        (2, "pdq quality 49 is below 50: too unreliable to match"),
        (3, "duplicate of line 1 in this file"),
        (4, "pdq hash: non-hex character 'g' at position 64"),
        (5, "mixed formats: algorithm line in a list of bare PDQ hashes"),
        (6, "label is 201 characters long; the limit is 200"),
    ]
    # Already in the case: counted, not imported again.
    again = import_hash_bytes(app, case_id, f"phash {PHASH}\npdq {PDQ_A}\n".encode(), "x.txt")
    assert (again.added, again.duplicates, again.rejected) == (0, 2, [])
    with app.db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "hashes.add").order_by(AuditEvent.id)
        ).all()[-2]
    assert event.detail["rejected"] == 5 and event.detail["added"] == 2
    assert event.detail["format"] == "pdq" and event.detail["signature"] == "unsigned"
    # Strict: the first rejection refuses everything.
    with pytest.raises(BadHashList, match="list.txt: line 2: pdq quality 49"):
        import_hash_bytes(
            app, add_case(app, "S"), "\n".join(lines).encode(), "list.txt", strict=True
        )
    lines_shown = report.lines(limit=2)
    assert lines_shown[1] == "imported 2 hashes (0 already in the case), rejected 5:"
    assert lines_shown[-1] == "  ... and 3 more"


def test_structural_problems_refuse_the_whole_file(env: Env) -> None:
    app = env.app
    case_id = add_case(app, "R")
    for raw, fragment in [
        (b"\xff\xfe\x00p", "not a text hash list"),
        (b"{not json", "invalid JSON"),
        (json.dumps({"format": "stix"}).encode(), "not an ncii-monitor-hashlist"),
        (b"pdq " + b"a" * 20_000, "the limit is 10000"),
        (b"x" * (10 * 1024 * 1024 + 1), "larger than 10 MB"),
    ]:
        with pytest.raises(BadHashList, match=fragment):
            import_hash_bytes(app, case_id, raw, "f")
    # Not one entry readable: refused as a whole, naming the first.
    with pytest.raises(BadHashList, match="f: no hash could be read; line 1: unknown algorithm"):
        import_hash_bytes(app, case_id, b"not a hash list\n" * 3, "f")
    assert count_hashes(app, case_id) == {}


def test_a_list_with_every_entry_rejected_is_read_not_refused() -> None:
    parsed = read_hash_list("pdq 12\nfoo bar\n", KNOWN)
    assert parsed.hashes == [] and [r.number for r in parsed.rejected] == [1, 2]
    assert isinstance(parsed.rejected[0], Rejection)
    with pytest.raises(HashListError, match="no hashes found"):
        read_hash_list("# nothing\n", KNOWN)


# --------------------------------------------------------------------------- CLI


def test_cli_keys_and_import_report(sqlite_env: Env, tmp_path: Path) -> None:
    env = sqlite_env
    signing = env.cli("keys", "signing", check=True).stdout
    public, key_id = exchange.own_public_key(env.app)
    assert f"public key: {public}" in signing and f"key id: {key_id}" in signing
    other = base64.b64encode(
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    added = env.cli("keys", "trust", "add", other, "--origin", "Partner", check=True).stdout
    other_id = added.split()[2]
    assert other_id in env.cli("keys", "trust", "list", check=True).stdout
    assert env.cli("keys", "trust", "remove", other_id, check=True).returncode == 0
    assert env.cli("keys", "trust", "remove", other_id).returncode != 0
    assert env.cli("keys", "trust", "add", "not-base64!", "--origin", "x").returncode != 0
    case_id = str(add_case(env.app, "C"))
    path = tmp_path / "stopncii.json"
    path.write_text(json.dumps(STOPNCII_SAMPLE))
    out = env.cli("hashes", "import", case_id, str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"{path}: stopncii hash list, unsigned",
        "imported 3 hashes (0 already in the case), rejected 2:",
        "  entry 3: the hash is withdrawn on StopNCII",
        "  entry 5: StopNCII signal type 'VideoTMK' is not a hash this tool uses",
        f"1 MD5 hashes {_not_matched()}",
    ]
    # Again: nothing new, nothing refused but what was refused before... exit 1, since
    # entries were rejected and none imported; a file of hashes all in the case exits 0.
    again = env.cli("hashes", "import", case_id, str(path))
    assert again.returncode == 1 and "imported 0 hashes (3 already in the case)" in again.stdout
    clean = tmp_path / "clean.txt"
    clean.write_text(PDQ_A + "\n")
    twice = env.cli("hashes", "import", case_id, str(clean))
    assert twice.returncode == 0 and "imported 0 hashes (1 already in the case)" in twice.stdout
    exported = env.cli("hashes", "export", case_id, "--format", "pdq")
    assert exported.stdout.splitlines() == [
        PDQ_A,
        "95d087d087f8f41cf00771c707f713c7675d07f8c618f00ef00f07f307e37087",
    ]
    assert "1 entries not written: the pdq format cannot hold them" in exported.stderr
