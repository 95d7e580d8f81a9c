"""Operators' health alerts and `monitor status`: a site failing raises one notification,
repeated only after the cool-down, and one when it recovers; with the real scheduler, a
broken site on 127.0.0.1 and a real SMTP server (aiosmtpd). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from conftest import LOOPBACK, Env, LocalServer
from sqlalchemy import select
from test_alerts import SmtpServer
from test_scheduling import INTERVALS, Daemon, no_daemon_left, wait  # noqa: F401 (autouse)

from monitor.db.models import OutboxMessage, utcnow
from monitor.health import check_sites
from monitor.runs import RunStats, create_run, finish_run
from monitor.sites import add_site


def run_ending(env: Env, site: int, reason: str, stats: RunStats | None = None) -> int:
    run_id = create_run(env.app, site, "schedule")
    finish_run(env.app, run_id, reason, stats)
    return run_id


def operator_messages(env: Env) -> list[str]:
    with env.app.db.session() as session:
        return [
            m.subject
            for m in session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "operator")
                .order_by(OutboxMessage.id)
            )
        ]


def test_failing_once_still_failing_after_the_cool_down_then_recovered(env: Env) -> None:
    env.reconfigure(MONITOR_OPERATOR_EMAIL="ops@ngo.example")
    site = add_site(env.app, "http://a.test/", name="forum")
    now = utcnow()
    run_ending(env, site, "finished", RunStats(pages=5, images=20))
    assert check_sites(env.app, now) == []  # healthy: nothing to say
    for _ in range(2):
        run_ending(env, site, "error: DNS lookup failed")
    assert check_sites(env.app, now) == []  # two failures: not yet
    run_ending(env, site, "error: DNS lookup failed")
    (change,) = check_sites(env.app, now)
    assert change.state == "failing" and "last 3 runs failed" in (change.reason or "")
    assert operator_messages(env) == ["[monitor] site forum is failing"]
    run_ending(env, site, "cancelled")  # a cancelled run changes nothing
    assert check_sites(env.app, now + timedelta(hours=1)) == []  # once, not at every check
    assert [c.state for c in check_sites(env.app, now + timedelta(hours=25))] == ["still failing"]
    run_ending(env, site, "finished", RunStats(pages=3, images=1))
    assert [c.state for c in check_sites(env.app, now + timedelta(hours=26))] == ["recovered"]
    assert operator_messages(env)[1:] == [
        "[monitor] site forum is still failing",
        "[monitor] site forum recovered",
    ]
    # No pages, or mostly errors: failing too.
    run_ending(env, site, "finished", RunStats(pages=0))
    (empty,) = check_sites(env.app, now + timedelta(hours=27))
    assert "fetched no page" in (empty.reason or "")
    run_ending(env, site, "finished", RunStats(pages=2, images=3, errors={"image/corrupt": 9}))
    (noisy,) = check_sites(env.app, now + timedelta(hours=53))
    assert noisy.state == "still failing" and "errors made 64%" in (noisy.reason or "")


def test_a_broken_site_raises_one_alert_through_the_scheduler(env: Env) -> None:
    smtp = SmtpServer()
    smtp.start()
    broken = {"on": True}

    def answer(path: str) -> tuple[int, bytes, dict[str, str]]:
        if broken["on"]:
            return 503, b"down", {}
        return 200, b"<p>back</p>", {"Content-Type": "text/html"}

    local = LocalServer(answer)
    try:
        env.reconfigure(
            MONITOR_ALLOWED_ADDRESSES=LOOPBACK,
            MONITOR_SCHEDULER_INTERVALS=INTERVALS + ",health=0.5,alerts=0.5",
            MONITOR_SCHEDULE_JITTER="0",
            MONITOR_OPERATOR_EMAIL="ops@ngo.example",
            MONITOR_SMTP_URL=smtp.url,
            MONITOR_MAIL_FROM="monitor@ngo.example",
        )
        add_site(env.app, f"http://127.0.0.1:{local.port}/", name="broken", allow_private=True,
                 crawl_delay=0, schedule="every 2s")  # fmt: skip
        daemon = Daemon(env)
        try:
            assert wait(lambda: len(smtp.inbox.messages) >= 1, 90), daemon.log()[-3000:]
            # It goes on failing, run after run: still one notification.
            runs_then = len(env.cli("runs", "list", "--json", check=True).stdout)
            assert wait(
                lambda: len(env.cli("runs", "list", "--json", check=True).stdout) > runs_then, 30
            )
            time.sleep(2)
            assert len(smtp.inbox.messages) == 1
            status = env.cli("status")
            assert status.returncode == 1 and "1 failing" in status.stdout
            assert "broken: its last completed run" in status.stdout
            broken["on"] = False
            assert wait(lambda: len(smtp.inbox.messages) == 2, 60), daemon.log()[-3000:]
        finally:
            assert daemon.stop() == 0
        subjects = [m["Subject"] for _r, m in smtp.inbox.messages]
        assert subjects == ["[monitor] site broken is failing", "[monitor] site broken recovered"]
        assert [r for r, _m in smtp.inbox.messages] == [["ops@ngo.example"]] * 2
        body = smtp.inbox.messages[0][1].get_payload(decode=True).decode()
        assert "fetched no page" in body and "monitor runs list --site" in body
    finally:
        local.close()
        smtp.stop()


def test_status_at_a_glance(sqlite_env: Env) -> None:
    env = sqlite_env
    add_site(env.app, "http://a.test/", name="a")
    create_run(env.app, 1, "manual")
    shown = env.cli("status")
    assert shown.returncode == 1  # no scheduler: a probe should say so
    assert "scheduler: NOT RUNNING" in shown.stdout and "0 running, 1 queued" in shown.stdout
    assert "mail not configured" in shown.stdout
    data = json.loads(env.cli("status", "--json").stdout)
    assert data["runs"]["queued"] == 1 and data["sites"]["watched"] == 1
    assert data["scheduler"]["alive"] is False and data["scheduler"]["executor"] == "local"
