"""Scale-out on Celery with the real services: PostgreSQL on 127.0.0.1:5432 and Redis on
127.0.0.1:6379 (database 15, emptied first). `monitor worker` processes share one queue;
a run delivered twice is carried out once; a scheduler with a broker only queues; a
worker killed with SIGKILL mid-crawl leaves a consistent database, its run is reaped as
lost, and the site runs again on the other worker."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from conftest import LOOPBACK, Env, LocalServer, make_app, make_env
from test_scheduling import no_daemon_left, wait  # noqa: F401 (autouse: daemons killed)

from monitor.db.models import CrawlRun
from monitor.runs import create_run, get_run, list_runs, reap_lost_runs
from monitor.sites import add_site
from monitor.tasks import send_run

BROKER = "redis://127.0.0.1:6379/15"


def site_pages(count: int) -> tuple[Callable[[str], tuple[int, bytes, dict[str, str]]], list[str]]:
    """Sites under /s<N>/, each of ``count`` pages linking to the next; the paths asked."""
    asked: list[str] = []

    def answer(path: str) -> tuple[int, bytes, dict[str, str]]:
        asked.append(path)
        match = re.match(r"^/s(\d+)/(?:p(\d+))?$", path)
        if not match:
            return 404, b"", {}
        site, number = match[1], int(match[2] or 0)
        link = f'<a href="/s{site}/p{number + 1}">next</a>' if number + 1 < count else ""
        return 200, f"<p>{site}/{number}</p>{link}".encode(), {"Content-Type": "text/html"}

    return answer, asked


class Worker:
    def __init__(self, env: Env, name: str) -> None:
        self.log_path = env.tmp_path / f"worker-{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "worker", "--concurrency", "1", "--name", name],
            env=env.vars,
            cwd=env.tmp_path,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def ready(self) -> bool:
        return " ready." in self.log()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def celery_env(tmp_path: Path, postgres_admin: object) -> Iterator[Env]:
    from conftest import _postgres_database

    try:
        redis.Redis.from_url(BROKER, socket_connect_timeout=5).flushdb()
    except redis.ConnectionError as exc:  # a missing server is a failure, not a skip
        pytest.fail(f"Redis is not reachable at {BROKER}: {exc}")
    for url in _postgres_database(postgres_admin):  # type: ignore[arg-type]
        vars_ = make_env(tmp_path, url)
        vars_.update(MONITOR_BROKER_URL=BROKER, MONITOR_ALLOWED_ADDRESSES=LOOPBACK)
        app = make_app(vars_)
        yield Env(tmp_path, vars_, app)
        app.close()


@pytest.fixture
def workers(celery_env: Env) -> Iterator[list[Worker]]:
    started = [Worker(celery_env, "one"), Worker(celery_env, "two")]
    try:
        assert wait(lambda: all(w.ready() for w in started), 60), started[0].log()[-2000:]
        yield started
    finally:
        for worker in started:
            worker.stop()


def test_two_workers_share_the_queue_and_never_run_a_run_twice(
    celery_env: Env, workers: list[Worker]
) -> None:
    env = celery_env
    answer, asked = site_pages(3)
    local = LocalServer(answer)
    try:
        sites = [
            add_site(
                env.app,
                f"http://127.0.0.1:{local.port}/s{i}/",
                name=f"s{i}",
                allow_private=True,
                crawl_delay=0.2,
            )  # fmt: skip
            for i in range(4)
        ]
        run_ids = [create_run(env.app, site, "schedule") for site in sites]
        for run_id in run_ids:  # each delivered twice, as after a redelivery
            send_run(env.app.config, run_id)
            send_run(env.app.config, run_id)
        assert wait(lambda: all(get_run(env.app, r).status == "completed" for r in run_ids), 120), [
            get_run(env.app, r) for r in run_ids
        ]
        time.sleep(1)  # the second deliveries are handled too
        for i in range(4):  # every site crawled once: its first page asked once
            assert asked.count(f"/s{i}/") == 1, asked
        workers_used = {get_run(env.app, r).worker for r in run_ids}
        assert len(workers_used) == 2, workers_used  # both took their share
        # run-now through the broker: queued, sent, carried out.
        sent = env.cli("site", "run-now", "s0", check=True).stdout
        assert "sent to the Celery workers" in sent
        again = int(re.findall(r"run (\d+)", sent)[0])
        assert wait(lambda: get_run(env.app, again).status == "completed", 60)
        assert asked.count("/s0/") == 2
    finally:
        local.close()


def test_a_worker_killed_mid_crawl_leaves_a_consistent_database(
    celery_env: Env, workers: list[Worker]
) -> None:
    env = celery_env
    answer, asked = site_pages(40)
    local = LocalServer(answer)
    try:
        site = add_site(env.app, f"http://127.0.0.1:{local.port}/s0/", name="slow",
                        allow_private=True, crawl_delay=1.0)  # fmt: skip
        run_id = create_run(env.app, site, "manual")
        send_run(env.app.config, run_id)
        assert wait(lambda: get_run(env.app, run_id).stats.pages >= 2, 60)
        owner = get_run(env.app, run_id).worker or ""
        victim = next(w for w in workers if owner.endswith(f":{w.process.pid}"))
        with env.app.db.session() as session:
            crawl_pid = session.get(CrawlRun, run_id).pid  # type: ignore[union-attr]
        assert crawl_pid
        helpers = _children(crawl_pid)  # its hashing worker (and multiprocessing's tracker)
        assert helpers, "MONITOR_HASH_WORKERS=1: the crawl has a hashing worker"
        victim.stop(signal.SIGKILL)
        pages_then = len(asked)
        time.sleep(4)
        assert len(asked) <= pages_then + 1, "the crawl outlived its worker"
        assert not _alive(crawl_pid), "the crawl outlived its worker"
        assert wait(lambda: not any(_alive(pid) for pid in helpers), 10), (
            "the crawl's hashing worker outlived it"
        )
        # The scheduler's reaper marks it lost; nothing half-written stays behind.
        assert reap_lost_runs(env.app, timedelta(seconds=3)) == [run_id]
        lost = get_run(env.app, run_id)
        assert lost.status == "failed" and lost.finish_reason.startswith("lost")  # type: ignore[union-attr]
        assert list_runs(env.app, status="active") == []
        # The site runs again, on the other worker.
        survivor = next(w for w in workers if w is not victim)
        rerun = create_run(env.app, site, "retry")
        send_run(env.app.config, rerun)
        assert wait(lambda: get_run(env.app, rerun).stats.pages >= 2, 60)
        assert get_run(env.app, rerun).worker.endswith(f":{survivor.process.pid}")  # type: ignore[union-attr]
    finally:
        local.close()


def test_the_scheduler_only_queues_when_there_is_a_broker(
    celery_env: Env, workers: list[Worker]
) -> None:
    from test_scheduling import INTERVALS, Daemon

    env = celery_env.reconfigure(MONITOR_SCHEDULER_INTERVALS=INTERVALS, MONITOR_SCHEDULE_JITTER="0")
    answer, _asked = site_pages(2)
    local = LocalServer(answer)
    try:
        add_site(env.app, f"http://127.0.0.1:{local.port}/s0/", name="s0", allow_private=True,
                 crawl_delay=0, schedule="every 3s")  # fmt: skip
        daemon = Daemon(env)
        try:
            assert wait(
                lambda: len([r for r in list_runs(env.app) if r.status == "completed"]) >= 2, 90
            ), daemon.log()[-3000:]
        finally:
            assert daemon.stop() == 0
        pids = {f":{w.process.pid}" for w in workers}
        done = [r for r in list_runs(env.app) if r.status == "completed"]
        assert all(r.trigger == "schedule" for r in done)
        assert all(any((r.worker or "").endswith(p) for p in pids) for r in done), done
    finally:
        local.close()


def test_a_run_whose_message_was_lost_is_sent_again(celery_env: Env, workers: list[Worker]) -> None:
    from test_scheduling import INTERVALS, Daemon

    env = celery_env.reconfigure(MONITOR_SCHEDULER_INTERVALS=INTERVALS + ",resend=2")
    answer, asked = site_pages(1)
    local = LocalServer(answer)
    try:
        site = add_site(env.app, f"http://127.0.0.1:{local.port}/s0/", name="s0",
                        allow_private=True, crawl_delay=0, schedule="every 1w")  # fmt: skip
        lost = create_run(env.app, site, "manual")  # queued, its message never sent
        daemon = Daemon(env)
        try:
            assert wait(lambda: get_run(env.app, lost).status == "completed", 60), daemon.log()
        finally:
            assert daemon.stop() == 0
        assert "was still waiting for a worker: sent again" in daemon.log()
        assert asked.count("/s0/") == 1
    finally:
        local.close()


def test_a_broker_that_cannot_be_reached_leaves_the_site_free(celery_env: Env) -> None:
    env = celery_env.reconfigure(MONITOR_BROKER_URL="redis://127.0.0.1:9/0")  # nothing there
    site = add_site(env.app, "http://a.test/", name="a")
    refused = env.cli("site", "run-now", "a")
    assert refused.returncode != 0 and "cannot reach the broker" in refused.stderr
    (run,) = list_runs(env.app)
    assert run.status == "failed" and "not queued" in (run.finish_reason or "")
    assert create_run(env.app, site, "manual")  # the site's one active slot is free


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
