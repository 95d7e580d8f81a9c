"""The CLI contract: outputs other tools rely on, and one-line errors that change nothing."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from conftest import PHOTOS, Env, make_env

from monitor.hashes import count_hashes
from monitor.hashing import decode_image
from monitor.hashing.rule import DecisionRule


def reference_views(*paths: Path) -> int:
    """How many hashes the decision rule stores for these image files."""
    rule = DecisionRule()
    return sum(
        len(rule.reference_views(decode_image(p.read_bytes(), max_pixels=10**8))) for p in paths
    )


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(result, *fragments: str) -> str:  # type: ignore[no-untyped-def]
    """A failed command: non-zero exit, one line on stderr naming the problem, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_commands_before_upgrade_say_so(tmp_path: Path, sqlite_url: str) -> None:
    env = Env(tmp_path, make_env(tmp_path, sqlite_url), app=None)  # type: ignore[arg-type]
    fails(env.cli("case", "add", "X"), "monitor db upgrade")
    assert "up to date" in ok(env.cli("db", "upgrade"))
    assert re.fullmatch(r"\d+\n", ok(env.cli("case", "add", "X")))


def test_case_add_prints_id_alone_and_encrypts(sqlite_env: Env) -> None:
    first = ok(
        sqlite_env.cli(
            "case", "add", "Ana Example", "--email", "ana@example.org", "--language", "es"
        )
    )
    second = ok(sqlite_env.cli("case", "add", "Case 2"))
    assert re.fullmatch(r"\d+\n", first) and int(second) == int(first) + 1
    database = sqlite_env.tmp_path / "var" / "monitor.db"
    raw = b"".join(
        bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
        for row in sqlite3.connect(database).execute("SELECT * FROM cases")
        for v in row
        if v is not None
    )
    assert b"Ana Example" not in raw and b"ana@example.org" not in raw
    key = sqlite_env.tmp_path / "var" / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    listing = ok(sqlite_env.cli("case", "list"))
    assert "Ana Example" in listing


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["case", "add", "X", "--email", "not-an-address"], "not an email address"),
        (["case", "add", "  "], "needs a name"),
    ],
)
def test_case_add_errors(sqlite_env: Env, args: list[str], fragment: str) -> None:
    fails(sqlite_env.cli(*args), fragment)
    assert "Ana" not in ok(sqlite_env.cli("case", "list"))


def test_hashes_add_files_and_folders(sqlite_env: Env, tmp_path: Path) -> None:
    case_id = ok(sqlite_env.cli("case", "add", "C")).strip()
    folder = tmp_path / "mine" / "nested"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes((PHOTOS / "astronaut.jpg").read_bytes())
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes((PHOTOS / "coffee.jpg").read_bytes()[:3000])
    (folder / "empty.png").write_bytes(b"")
    out = ok(
        sqlite_env.cli(
            "hashes", "add", case_id, str(tmp_path / "mine"), str(PHOTOS / "chelsea.jpg")
        )
    )
    # Each image is stored as the decision rule's reference views: its plain PDQ and
    # pHash and a few more PDQ views (turns).
    # And each file's MD5 (for exchange with StopNCII and ThreatExchange).
    views = reference_views(PHOTOS / "astronaut.jpg", PHOTOS / "chelsea.jpg") + 2
    assert out.splitlines()[0] == f"added {views} hashes from 2 files (0 already in the case)"
    skipped = {
        Path(line.split(":")[0].removeprefix("skipped ")).name: line
        for line in out.splitlines()[1:]
    }
    assert set(skipped) == {"notes.txt", "broken.jpg", "empty.png"}
    assert "not an image" in skipped["notes.txt"]
    assert "corrupt" in skipped["broken.jpg"]
    assert "empty" in skipped["empty.png"]
    again = ok(sqlite_env.cli("hashes", "add", case_id, str(PHOTOS / "chelsea.jpg"), "--no-labels"))
    chelsea = reference_views(PHOTOS / "chelsea.jpg") + 1
    assert again.startswith(f"added 0 hashes from 1 files ({chelsea} already in the case)")
    unlabelled = json.loads(ok(sqlite_env.cli("hashes", "export", case_id)))
    assert {h["label"] for h in unlabelled["hashes"]} == {None}  # labels: only when asked
    exported = json.loads(ok(sqlite_env.cli("hashes", "export", case_id, "--labels")))
    labels = sorted({h["label"] for h in exported["hashes"]})
    assert labels == ["a.jpg", "chelsea.jpg"]
    plain = [h["algorithm"] for h in exported["hashes"] if "view" not in h]
    assert sorted(plain) == ["dhash", "dhash", "md5", "md5", "pdq", "pdq", "phash", "phash"]
    md5s = {h["hash"] for h in exported["hashes"] if h["algorithm"] == "md5"}
    assert hashlib.md5((PHOTOS / "chelsea.jpg").read_bytes()).hexdigest() in md5s
    # PDQ is stored, and exported, with its quality.
    assert all(0 <= h["quality"] <= 100 for h in exported["hashes"] if h["algorithm"] == "pdq")
    assert len(exported["hashes"]) == views


def test_hashes_add_without_labels(sqlite_env: Env) -> None:
    case_id = ok(sqlite_env.cli("case", "add", "C")).strip()
    ok(sqlite_env.cli("hashes", "add", case_id, str(PHOTOS / "rocket.jpg"), "--no-labels"))
    exported = json.loads(ok(sqlite_env.cli("hashes", "export", case_id, "--labels")))
    labels = [h["label"] for h in exported["hashes"]]
    assert labels == [None] * (reference_views(PHOTOS / "rocket.jpg") + 1) and len(labels) >= 2


def test_hashes_add_errors_change_nothing(sqlite_env: Env) -> None:
    case_id = int(ok(sqlite_env.cli("case", "add", "C")))
    fails(sqlite_env.cli("hashes", "add", "999", str(PHOTOS / "rocket.jpg")), "no case with id 999")
    fails(
        sqlite_env.cli("hashes", "add", str(case_id), str(PHOTOS / "nope.jpg")),
        "no such file or folder",
    )
    assert count_hashes(sqlite_env.app, case_id) == {}


PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.mark.parametrize(
    "name, kind, text, expected",
    [
        (
            "lines.txt",
            "text",
            f"# a comment\npdq {PDQ} first photo\nphash c2924c5532bddfc8\n",
            {("pdq", PDQ, "first photo"), ("phash", "c2924c5532bddfc8", None)},
        ),
        (
            "stopncii.txt",
            "pdq",
            f"{PDQ}\n{PDQ.upper()[:-1]}0\n",
            {("pdq", PDQ, None), ("pdq", PDQ[:-1] + "0", None)},
        ),
        ("list.csv", "csv", f'algorithm,hash,label\npdq,{PDQ},"a, b"\n', {("pdq", PDQ, "a, b")}),
        (
            "list.json",
            "ncii-monitor",
            json.dumps(
                {
                    "format": "ncii-monitor-hashlist",
                    "version": 1,
                    "hashes": [{"algorithm": "phash", "hash": "c2924c5532bddfc8", "label": "x"}],
                }
            ),
            {("phash", "c2924c5532bddfc8", "x")},
        ),
    ],
)
def test_hashes_import_formats(
    sqlite_env: Env,
    tmp_path: Path,
    name: str,
    kind: str,
    text: str,
    expected: set[tuple[str, str, str | None]],
) -> None:
    case_id = ok(sqlite_env.cli("case", "add", "C")).strip()
    path = tmp_path / name
    path.write_text(text)
    out = ok(sqlite_env.cli("hashes", "import", case_id, str(path)))
    assert out.splitlines()[0] == f"{path}: {kind} hash list, unsigned"
    assert (
        out.splitlines()[1]
        == f"imported {len(expected)} hashes (0 already in the case), rejected 0"
    )
    exported = json.loads(ok(sqlite_env.cli("hashes", "export", case_id, "--labels")))
    assert {(h["algorithm"], h["hash"], h["label"]) for h in exported["hashes"]} == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        (f"pdq {PDQ}\nfoo {PDQ}\n", "line 2"),
        (f"pdq {PDQ}\npdq {PDQ[:-2]}\n", "line 2"),
        (f"pdq {PDQ}\n\nphash zz924c5532bddfc8\n", "line 3"),
    ],
)
def test_hashes_import_strict_bad_line_imports_nothing(
    sqlite_env: Env, tmp_path: Path, text: str, fragment: str
) -> None:
    case_id = int(ok(sqlite_env.cli("case", "add", "C")))
    path = tmp_path / "bad.txt"
    path.write_text(text)
    fails(sqlite_env.cli("hashes", "import", str(case_id), str(path), "--strict"), fragment)
    assert count_hashes(sqlite_env.app, case_id) == {}


def test_hashes_import_reports_each_rejected_line_and_imports_the_rest(
    sqlite_env: Env, tmp_path: Path
) -> None:
    case_id = int(ok(sqlite_env.cli("case", "add", "C")))
    lines = [f"pdq {PDQ}", f"foo {PDQ}", f"pdq {PDQ[:-2]}", "phash zz924c5532bddfc8", f"pdq {PDQ}"]
    lines += [f"phash {i:016x}" for i in range(1, 25)] + ["phash 1234"] * 20
    path = tmp_path / "mixed.txt"
    path.write_text("\n".join(lines) + "\n")
    out = ok(sqlite_env.cli("hashes", "import", str(case_id), str(path)))
    shown = out.splitlines()
    assert shown[0] == f"{path}: text hash list, unsigned"
    assert shown[1] == "imported 25 hashes (0 already in the case), rejected 24:"
    assert shown[2] == "  line 2: unknown algorithm 'foo'"
    assert shown[3] == "  line 3: pdq hash: expected 64 hex digits (256 bits), found 62"
    assert shown[4].startswith("  line 4: phash hash: non-hex character 'z'")
    assert shown[5] == "  line 5: duplicate of line 1 in this file"
    assert len(shown) == 2 + 20 + 1 and shown[-1] == "  ... and 4 more"
    assert count_hashes(sqlite_env.app, case_id) == {"pdq": 1, "phash": 24}
    # Again: nothing new, exit status 1.
    again = sqlite_env.cli("hashes", "import", str(case_id), str(path))
    assert again.returncode == 1
    assert "imported 0 hashes (25 already in the case), rejected 24:" in again.stdout


def test_hashes_import_unreadable_and_binary(sqlite_env: Env, tmp_path: Path) -> None:
    case_id = ok(sqlite_env.cli("case", "add", "C")).strip()
    fails(sqlite_env.cli("hashes", "import", case_id, str(tmp_path / "missing.txt")), "cannot read")
    binary = tmp_path / "photo.jpg"
    binary.write_bytes((PHOTOS / "rocket.jpg").read_bytes())
    fails(sqlite_env.cli("hashes", "import", case_id, str(binary)), "not a text hash list")


def test_export_import_round_trip(sqlite_env: Env, tmp_path: Path) -> None:
    first = ok(sqlite_env.cli("case", "add", "C1")).strip()
    ok(sqlite_env.cli("hashes", "add", first, str(PHOTOS / "coffee.jpg")))
    exported = tmp_path / "export.json"
    exported.write_text(ok(sqlite_env.cli("hashes", "export", first)))
    second = ok(sqlite_env.cli("case", "add", "C2")).strip()
    count = reference_views(PHOTOS / "coffee.jpg") + 1  # and the file's MD5
    report = ok(sqlite_env.cli("hashes", "import", second, str(exported))).splitlines()
    assert report[0].startswith(f"{exported}: ncii-monitor hash list, signed by this instance")
    assert report[1].startswith(f"imported {count} ")
    assert (
        json.loads(ok(sqlite_env.cli("hashes", "export", second)))["hashes"]
        == json.loads(exported.read_text())["hashes"]
    )


def test_site_add(sqlite_env: Env) -> None:
    site_id = ok(
        sqlite_env.cli(
            "site",
            "add",
            "https://example.org/start",
            "--max-pages",
            "5",
            "--allow-domain",
            "cdn.example.net",
        )
    )
    assert re.fullmatch(r"\d+\n", site_id)
    listing = ok(sqlite_env.cli("site", "list"))
    assert "example.org" in listing
    fails(sqlite_env.cli("site", "add", "https://example.org/other"), "exists already")
    second = ok(sqlite_env.cli("site", "add", "https://example.org/other", "--name", "other"))
    assert int(second) == int(site_id) + 1


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("ftp://example.org/", "not an http(s) URL"),
        ("example.org", "not an http(s) URL"),
        ("http://", "not an http(s) URL"),
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:8000/", "--allow-private"),
        ("http://10.1.2.3/", "--allow-private"),
    ],
)
def test_site_add_errors(sqlite_env: Env, url: str, fragment: str) -> None:
    fails(sqlite_env.cli("site", "add", url), fragment)
    assert "example" not in ok(sqlite_env.cli("site", "list"))


def test_site_add_private_with_opt_in(sqlite_env: Env) -> None:
    assert ok(sqlite_env.cli("site", "add", "http://127.0.0.1:8000/", "--allow-private")).strip()


def test_crawl_and_hits_errors(sqlite_env: Env) -> None:
    fails(sqlite_env.cli("crawl", "nosuchsite"), "no site with id or name 'nosuchsite'")
    fails(sqlite_env.cli("crawl", "42"), "no site")
    fails(sqlite_env.cli("hits", "list", "--case", "7"), "no case with id 7")
    assert json.loads(ok(sqlite_env.cli("hits", "list", "--json"))) == []


def test_cli_on_postgresql(env: Env) -> None:
    """The same contract holds on both backends."""
    case_id = ok(env.cli("case", "add", "PG case")).strip()
    ok(env.cli("hashes", "add", case_id, str(PHOTOS / "rocket.jpg")))
    assert count_hashes(env.app, int(case_id)) == {"pdq": 1, "phash": 1, "dhash": 1, "md5": 1}
    fails(env.cli("hashes", "add", "999", str(PHOTOS / "rocket.jpg")), "no case")
