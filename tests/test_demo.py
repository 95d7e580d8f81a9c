"""`monitor demo`, the main job of a fresh checkout, end to end in a process of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, make_env


def test_the_demo_closes_the_loop(tmp_path: Path) -> None:
    env = make_env(tmp_path, "")
    del env["MONITOR_DATABASE_URL"]  # the demo makes its own database under the var folder
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "demo"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr
    found = re.search(r"(\d+) hits: (\d+) distinct image URLs and (\d+) videos on (\d+) pages", out)
    assert found and int(found[1]) >= 40 and int(found[3]) >= 5 and int(found[4]) >= 10, out
    # Her video's copies, each with the stretch of hers it holds; the file itself deleted.
    assert re.search(r"/media/clips/her-clip.mp4: 0:00-0:0\d of the copy is 0:0[3-6]", out), out
    assert not (tmp_path / "var" / "her-video.mp4").exists()
    confirmed = re.search(r"(\d+) of them confirmed at once", out)
    assert confirmed and int(confirmed[1]) >= 1
    assert re.search(r"confirmed: \d+", out)  # the analyst's step
    assert "Subject: An update on your request" in out and "weekly update" in out
    assert "Cyber Civil Rights Initiative" in out  # the case's country's helpline
    assert "http://127.0.0.1" not in out.split("Subject:")[1].split("Explore:")[0]
    # Notices to the recipient found, marked sent; the site complies; the re-check sees it.
    assert re.search(
        r"notice 1: 127\.0\.0\.1 → Sample hosting, abuse desk <abuse@hosting\.example>", out
    )
    assert "missing: " in out and "signature" in out
    assert re.search(r"notice \d+: Google Search <https://support\.google\.com/", out)  # de-listing
    assert "notice 1: removed" in out
    assert re.search(r"draft .*\n.*sent .*\n.*removed +recheck", out)
    assert (tmp_path / "var" / "demo.db").exists()
    # The page she would hash her photos on, made for the demo case (sealed with its key).
    page = tmp_path / "var" / "hashing-page.html"
    assert f"monitor hasher page --case 1 --out {page}" in out
    assert page.read_text().startswith("<!DOCTYPE html>") and '"keyId"' in page.read_text()


def test_from_the_demo_database_an_analyst_closes_the_loop_with_the_cli(tmp_path: Path) -> None:
    """The issue's "done when": on the demo's database, with its sample site still up
    (``--serve``), confirm hits, preview and send her alert (to a real SMTP server),
    draft notices under the US, EU, Argentine and Spanish bases to the recipient found,
    mark them sent, and see the removal on the next re-check — all through the CLI."""
    import json
    import signal

    from test_alerts import SmtpServer, assert_safe

    env = make_env(tmp_path, "")
    del env["MONITOR_DATABASE_URL"]
    demo = subprocess.Popen(
        [sys.executable, "-m", "monitor", "demo", "--serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    smtp = SmtpServer()
    smtp.start()
    try:
        seen = ""
        assert demo.stdout is not None
        while "stays up at" not in seen and demo.poll() is None:
            seen += demo.stdout.readline()
        assert "stays up at" in seen, seen + (demo.stderr.read() if demo.stderr else "")
        database = re.search(r"MONITOR_DATABASE_URL=(\S+)", seen)
        assert database, seen
        cli_env = dict(
            env,
            MONITOR_DATABASE_URL=database[1],
            MONITOR_ALLOWED_ADDRESSES="127.0.0.1/32",
            MONITOR_RDAP_BOOTSTRAP="http://127.0.0.1:9/",
            MONITOR_SMTP_URL=smtp.url,
            MONITOR_MAIL_FROM="updates@ngo.example",
            MONITOR_ORG_EMAIL="notices@ngo.example",
        )

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "monitor", *args],
                env=cli_env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            return done.stdout

        waiting = json.loads(cli("hits", "list", "--status", "new", "--json"))
        page = waiting[0]["page_url"]
        chosen = [str(h["id"]) for h in waiting if h["page_url"] == page]
        assert "confirmed" in cli("hits", "confirm", *chosen)
        preview = cli("alerts", "preview", "1")
        assert "Subject: An update on your request" in preview and "WHAT HAS BEEN DONE" in preview
        assert "queued 1 message" in cli("alerts", "send")
        (message,) = [m for _rcpt, m in smtp.inbox.messages]
        body = assert_safe(message)
        assert "a removal request to the website's hosting provider" in body  # the demo's
        drafted = {}
        for law in ("us-take-it-down", "eu-dsa", "ar-olimpia", "es-197-7"):
            out = cli("takedowns", "draft", "1", "--law", law)
            notice = re.search(r"notice (\d+): 127\.0\.0\.1 → Sample hosting, abuse desk", out)
            assert notice, (law, out)
            drafted[law] = notice[1]
        for notice_id in drafted.values():
            assert f"notice {notice_id}: sent" in cli("takedowns", "mark-sent", notice_id)
        checked = cli("takedowns", "recheck")
        assert "notice 1: removed" in checked  # the demo's notice: the site complied
        for notice_id in drafted.values():  # these images are still up
            assert f"notice {notice_id}: online" in checked
    finally:
        smtp.stop()
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0
