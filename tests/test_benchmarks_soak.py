"""The soak benchmark (benchmarks/soak.py) in its smoke size, so that it does not rot; and
what it led to: the bounded media cache (crawler/mediacache.py) and the crawl's cap on
malloc arenas (crawler/extensions.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.mediacache import RecentResults

ROOT = Path(__file__).resolve().parents[1]


def test_soak_quick_crawls_both_sizes_and_finds_every_hit() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert "PROBLEM" not in out
    hits = re.search(r"^hits found / placed\s+(\d+)/(\d+)\s+(\d+)/(\d+)", out, re.M)
    assert hits, out
    small_found, small_placed, large_found, large_placed = map(int, hits.groups())
    assert small_placed > 0 and large_placed > 0
    assert (small_found, large_found) == (small_placed, large_placed)
    for label in ("pages/s (crawl)", "images/s (crawl)", "peak RSS crawl process MB",
                  "database MB (file)"):  # fmt: skip
        row = re.search(rf"^{re.escape(label)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
        assert row, f"{label!r} missing:\n{out}"
        assert all(float(v) > 0 for v in row.groups()), row.group(0)
    # Every kind of broken image was served and counted by the crawl of the larger site.
    large = out.split("\nlarge:")[1]
    assert re.search(r"errors by kind: .*image/http_404 \d+", large), large
    assert re.search(r"images done: 25% \d+/\d+", large) or "of the wall time: 25% " in large


def test_recent_results_keeps_the_most_recently_used() -> None:
    cache = RecentResults(3)
    for key in (b"a", b"b", b"c"):
        cache[key] = key.upper()
    assert cache[b"a"] == b"A"  # now the most recent
    cache[b"d"] = b"D"
    assert list(cache) == [b"c", b"a", b"d"]
    assert b"b" not in cache
    cache[b"c"] = b"C2"  # writing refreshes too
    cache[b"e"] = b"E"
    assert list(cache) == [b"d", b"c", b"e"]
    with pytest.raises(ValueError):
        RecentResults(0)


def test_limit_malloc_arenas_leaves_an_explicit_setting_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crawler.extensions import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_malloc_arenas() in (True, False)  # True on glibc; no mallopt elsewhere
