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
    found = re.search(r"(\d+) hits: (\d+) distinct image URLs on (\d+) pages", out)
    assert found and int(found[1]) >= 40 and int(found[3]) >= 10, out
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
