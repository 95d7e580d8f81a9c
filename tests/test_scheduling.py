"""Scheduled operations with real parts: `monitor scheduler` daemons as processes of their
own on SQLite and PostgreSQL, crawling servers on 127.0.0.1 on short schedules; one
active scheduler per database (a second stands by and takes over when the first is
killed); missed starts coalesced; one active run per site, by the database; runs
cancelled, stopped at their time budget, and reaped when their supervisor dies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import LOOPBACK, Env, LocalServer

from monitor.db.models import Site, SiteGroup
from monitor.errors import InvalidInput
from monitor.runs import RunActive, create_run, get_run, list_runs, request_cancel
from monitor.schedules import effective, parse
from monitor.sites import add_site

#: Short enough for a test, long enough for a loaded machine.
INTERVALS = "heartbeat=0.3,lock_ttl=3,sync=0.5,dispatch=0.3,reap=0.5,lost_after=4"


def pages(count: int) -> Callable[[str], tuple[int, bytes, dict[str, str]]]:
    """A site of ``count`` pages, each linking to the next (no images)."""

    def answer(path: str) -> tuple[int, bytes, dict[str, str]]:
        if path == "/robots.txt":
            return 404, b"", {}
        number = int(path.strip("/p") or 0) if path.strip("/").lstrip("p").isdigit() else 0
        link = f'<a href="/p{number + 1}">next</a>' if number + 1 < count else ""
        body = f"<html><body><p>page {number}</p>{link}</body></html>".encode()
        return 200, body, {"Content-Type": "text/html"}

    return answer


class Daemon:
    """``monitor scheduler`` in a process of its own; its log in a file."""

    running: list[Daemon] = []

    def __init__(self, env: Env, *args: str) -> None:
        Daemon.running.append(self)
        self.log_path = env.tmp_path / f"scheduler-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "scheduler", *args],
            env=env.vars,
            cwd=env.tmp_path,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def fires(self, site_id: int) -> int:
        return len(re.findall(rf"site {site_id}: schedule start", self.log()))

    def wait_for(self, text: str, timeout: float = 30) -> None:
        assert wait(lambda: text in self.log(), timeout), self.log()[-3000:]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code


def wait(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture(autouse=True)
def no_daemon_left() -> Iterator[None]:
    """A test that fails half-way does not leave its scheduler daemons running."""
    yield
    while Daemon.running:
        daemon = Daemon.running.pop()
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(timeout=30)


@pytest.fixture
def scheduling(env: Env) -> Iterator[Env]:
    env.reconfigure(
        MONITOR_ALLOWED_ADDRESSES=LOOPBACK,
        MONITOR_SCHEDULER_INTERVALS=INTERVALS,
        MONITOR_SCHEDULE_JITTER="0",
    )
    yield env


def test_schedules_site_group_default(sqlite_env: Env) -> None:
    assert parse("every 6h") == ("every 6h", 21600.0)
    assert parse("  Every 30M ") == ("every 30m", 1800.0)
    assert parse("0 3 * * 1-5") == ("0 3 * * 1-5", None)
    for bad in ("sometimes", "every 0s", "0 25 * * *", "every 3 parsecs"):
        with pytest.raises(InvalidInput):
            parse(bad)
    site, group = (
        Site(schedule=None, jitter=None),
        SiteGroup(name="g", schedule="every 2h", jitter=5),
    )

    def chosen_for(group: SiteGroup | None) -> tuple[float | None, int, str]:
        chosen = effective(site, group, "every 1d", 600)
        return chosen.seconds, chosen.jitter, chosen.source

    assert chosen_for(None) == (86400.0, 600, "default")
    assert chosen_for(group) == (7200.0, 5, "group")
    site.schedule, site.jitter = "30 2 * * *", 0
    chosen = effective(site, group, "every 1d", 600)
    assert (chosen.text, chosen.jitter, chosen.source) == ("30 2 * * *", 0, "site")
    next_start = chosen.trigger().get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC))
    assert next_start is not None and (next_start.hour, next_start.minute) == (2, 30)

    env = sqlite_env
    bad = env.cli("site", "add", "http://a.test/", "--schedule", "now and then")
    assert bad.returncode != 0 and "a schedule is 'every N'" in bad.stderr
    env.cli("site", "add", "http://a.test/", "--group", "forums", check=True)
    env.cli("group", "set", "forums", "--schedule", "every 12h", "--jitter", "60", check=True)
    listed = env.cli("site", "list", check=True).stdout
    assert "every 12h (group)" in listed and "forums" in listed and "active" in listed
    edited = env.cli("site", "edit", "a.test", "--schedule", "every 30m", check=True).stdout
    assert "schedule every 30m (from the site), jitter 60 s" in edited
    assert "paused" in env.cli("site", "pause", "a.test", check=True).stdout
    assert "paused" in env.cli("site", "list", check=True).stdout
    assert "resumed" in env.cli("site", "resume", "a.test", check=True).stdout
    groups = env.cli("group", "list", check=True).stdout
    assert "forums" in groups and "every 12h" in groups


def test_one_active_run_per_site_by_the_database(env: Env) -> None:
    site = add_site(env.app, "http://a.test/")
    first = create_run(env.app, site, "schedule")
    with pytest.raises(RunActive, match=f"run {first} queued or running"):
        create_run(env.app, site, "manual")
    assert request_cancel(env.app, first) == "cancelled"  # queued, nobody took it
    assert get_run(env.app, first).status == "cancelled"
    second = create_run(env.app, site, "manual")  # the site is free again
    listed = env.cli("runs", "list", check=True).stdout
    assert "cancelled" in listed and "queued" in listed
    no_scheduler = env.cli("site", "run-now", "a.test")
    assert no_scheduler.returncode != 0 and f"site {site} has run {second}" in no_scheduler.stderr
    assert "is cancelled already" in env.cli("runs", "cancel", str(first)).stderr


def test_scheduler_fires_and_a_second_one_stands_by_then_takes_over(scheduling: Env) -> None:
    env = scheduling
    local = LocalServer(pages(4))
    try:
        site = add_site(
            env.app,
            f"http://127.0.0.1:{local.port}/",
            allow_private=True,
            crawl_delay=0.5,
            schedule="every 3s",
            jitter=0,
        )
        first = Daemon(env)
        first.wait_for("is active")
        second = Daemon(env, "--standby")
        refused = env.cli("scheduler", timeout=60)
        assert refused.returncode != 0 and "another scheduler" in refused.stderr
        assert wait(lambda: first.fires(site) >= 3, 40), first.log()[-3000:]
        assert second.fires(site) == 0 and "is active" not in second.log()  # stood by
        assert wait(lambda: any(r.status == "completed" for r in list_runs(env.app)), 60)

        # Killed mid-crawl: the standby takes over; the crawl died with its supervisor,
        # and its run is reaped as lost; the site keeps running on schedule.
        assert wait(lambda: list_runs(env.app, status="running") != [], 30)
        (running,) = list_runs(env.app, status="running")
        with env.app.db.session() as session:
            from monitor.db.models import CrawlRun

            crawl_pid = session.get(CrawlRun, running.id).pid  # type: ignore[union-attr]
        first.stop(signal.SIGKILL)
        second.wait_for("is active", timeout=30)
        assert wait(lambda: get_run(env.app, running.id).status == "failed", 30)
        # Reaped as lost (no news), or as interrupted (its processes gone from this host)
        # by the new scheduler's next start of the site, whichever comes first.
        reason = get_run(env.app, running.id).finish_reason or ""
        assert reason.startswith(("lost", "interrupted")), reason
        if crawl_pid:
            assert wait(lambda: not _alive(crawl_pid), 10), "the crawl outlived its supervisor"
        assert wait(lambda: second.fires(site) >= 2, 30), second.log()[-3000:]
        assert wait(
            lambda: any(r.status == "completed" and r.id > running.id for r in list_runs(env.app)),
            60,
        )
        assert second.stop() == 0
    finally:
        local.close()
    runs = list_runs(env.app, limit=100)
    assert all(r.trigger == "schedule" for r in runs)
    assert all(r.status != "running" for r in runs)  # the shutdown stopped its crawl


def test_missed_starts_are_coalesced_into_one(scheduling: Env) -> None:
    env = scheduling
    local = LocalServer(pages(1))
    try:
        site = add_site(
            env.app,
            f"http://127.0.0.1:{local.port}/",
            allow_private=True,
            crawl_delay=0,
            schedule="every 4s",
            jitter=0,
        )
        daemon = Daemon(env)
        daemon.wait_for(f"site {site} scheduled")
        assert daemon.stop() == 0
        time.sleep(21)  # five starts missed
        again = Daemon(env)
        again.wait_for("is active")
        again.wait_for(f"site {site}: schedule start")  # the missed ones, at once...
        time.sleep(3)
        # ...once: five back-to-back starts without coalescing; here the coalesced one,
        # and at most the next on the 4-second grid.
        assert again.fires(site) <= 2, again.log()[-3000:]
        assert wait(lambda: again.fires(site) >= 3, 12)  # then on schedule
        assert again.stop() == 0
    finally:
        local.close()


def test_run_now_cancel_and_time_budget(scheduling: Env) -> None:
    env = scheduling
    local = LocalServer(pages(30))
    try:
        url = f"http://127.0.0.1:{local.port}/"
        # A chain of 30 pages a second apart: 30 s, unless cancelled or out of time (the
        # default depth limit, 5, would end it after 6 pages, before the cancel comes).
        slow = add_site(env.app, url, name="slow", allow_private=True, crawl_delay=1.0,
                        schedule="every 1w", max_depth=50)  # fmt: skip
        budget = add_site(env.app, url, name="budget", allow_private=True, crawl_delay=1.0,
                          schedule="every 1w", time_budget=3, max_depth=50)  # fmt: skip
        daemon = Daemon(env)
        daemon.wait_for("is active")
        queued = env.cli("site", "run-now", "slow", check=True).stdout
        assert "queued; the scheduler starts it within seconds" in queued
        run_id = int(re.findall(r"run (\d+)", queued)[0])
        assert wait(lambda: get_run(env.app, run_id).stats.pages >= 2, 60)  # live progress
        shown = env.cli("runs", "show", str(run_id), check=True).stdout
        assert "running" in shown and "last progress" in shown
        status = env.cli("status").stdout
        assert "scheduler: alive" in status and "runs: 1 running, 0 queued" in status
        assert re.search(rf"run {run_id} slow: pages \d+", status), status
        assert "cancelling" in env.cli("runs", "cancel", str(run_id), check=True).stdout
        assert wait(lambda: get_run(env.app, run_id).status == "cancelled", 40)

        started = time.monotonic()
        budget_run = int(
            re.findall(r"run (\d+)", env.cli("site", "run-now", "budget", check=True).stdout)[0]
        )
        assert wait(lambda: get_run(env.app, budget_run).status == "completed", 60)
        done = get_run(env.app, budget_run)
        assert done.finish_reason == "closespider_timeout" and done.stats.pages < 30
        assert time.monotonic() - started < 40
        assert daemon.stop() == 0
        assert slow and budget
    finally:
        local.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: its parent (killed) left it to init
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
