"""``monitor scheduler``: the daemon that starts crawls on time and runs the housekeeping.

One scheduler is active per database: it holds the ``scheduler_locks`` row, renewing its
heartbeat every few seconds; a second one says so and exits, or (``--standby``) waits
and takes over when the first one's heartbeat goes stale. The active one runs
APScheduler 3.x with its jobs in the project's database (``apscheduler_jobs``):

- one job per enabled site, on its schedule (site → group → ``MONITOR_SCHEDULE``) with
  jitter; missed starts after downtime are coalesced into one run (``coalesce``, no
  misfire grace limit), never skipped silently nor repeated;
- ``sync``: brings the site jobs in line with the watchlist (sites added, edited,
  paused, resumed, removed by the CLI or the web app in other processes);
- ``dispatch`` (without a broker): starts queued runs as local crawl processes, at most
  ``MONITOR_MAX_CRAWLS`` at once; with ``MONITOR_BROKER_URL``, runs are sent to the
  Celery workers instead (``monitor.tasks``) — the same code above the executor;
- ``resend`` (with a broker): queued runs no worker took for a while are sent again;
- ``reap``: runs whose supervisor stopped reporting are marked failed (the site may run
  again; their hits stay);
- ``health``: sites failing or recovered, operators notified (``monitor.health``);
- ``alerts``: victims' alerts due, delivered (``monitor alerts send``);
- ``recheck``: takedown notices re-checked (``monitor takedowns recheck``).

A scheduled start of a site that still has a run queued or running is skipped (the
database allows one active run per site) and logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.app import App
from monitor.db.models import CrawlRun, SchedulerLock, Site, SiteGroup, utcnow
from monitor.errors import MonitorError
from monitor.runs import RunActive, create_run, finish_run, reap_lost_runs, this_worker
from monitor.schedules import effective

logger = logging.getLogger(__name__)

LOCK = "scheduler"


class SchedulerBusy(MonitorError):
    """Another scheduler is active on this database."""


@dataclass
class Intervals:
    """Seconds between the scheduler's own jobs (short in the tests)."""

    heartbeat: float = 5.0
    lock_ttl: float = 30.0  # a heartbeat older than this: the scheduler is dead
    sync: float = 10.0
    dispatch: float = 2.0
    reap: float = 60.0
    lost_after: float = 120.0  # a run that has not reported for this long is lost
    health: float = 60.0
    alerts: float = 300.0
    recheck: float = 6 * 3600.0
    retention: float = 24 * 3600.0  # evidence and logs past their periods are deleted
    anchor: float = 3600.0  # the audit chain's head written outside the database
    resend: float = 300.0  # with a broker: queued runs nobody took are sent again

    @classmethod
    def parse(cls, text: str) -> Intervals:
        """``MONITOR_SCHEDULER_INTERVALS``: "heartbeat=0.2,lock_ttl=2,…" (seconds)."""
        intervals = cls()
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            if not hasattr(intervals, key.strip()):
                raise MonitorError(f"MONITOR_SCHEDULER_INTERVALS: no interval {key.strip()!r}")
            try:
                setattr(intervals, key.strip(), float(value))
            except ValueError:
                raise MonitorError(
                    f"MONITOR_SCHEDULER_INTERVALS: {key.strip()} must be seconds, not {value!r}"
                ) from None
        return intervals


# -- the lock ---------------------------------------------------------------------------------


def acquire_lock(app: App, holder: str, ttl: float, now: datetime | None = None) -> bool:
    """Take (or keep) the scheduler lock: True if ``holder`` has it now. Atomic on both
    backends: a conditional UPDATE, or the INSERT of the first row."""
    now = now or utcnow()
    with app.db.session() as session:
        taken = session.execute(
            update(SchedulerLock)
            .where(
                SchedulerLock.name == LOCK,
                (SchedulerLock.holder == holder)
                | (SchedulerLock.heartbeat_at < now - timedelta(seconds=ttl)),
            )
            .values(holder=holder, heartbeat_at=now)
        ).rowcount
        if taken:
            return True
    try:
        with app.db.session() as session:
            session.execute(
                insert(SchedulerLock).values(
                    name=LOCK, holder=holder, acquired_at=now, heartbeat_at=now
                )
            )
        return True
    except IntegrityError:
        return False


def release_lock(app: App, holder: str) -> None:
    with app.db.session() as session:
        lock = session.get(SchedulerLock, LOCK)
        if lock is not None and lock.holder == holder:
            session.delete(lock)


def lock_state(app: App) -> tuple[str, datetime] | None:
    """(holder, last heartbeat) of the scheduler lock, if any."""
    with app.db.session() as session:
        lock = session.get(SchedulerLock, LOCK)
        return (lock.holder, lock.heartbeat_at) if lock else None


def scheduler_alive(app: App, now: datetime | None = None) -> bool:
    """Whether a scheduler's heartbeat is fresher than the configured ``lock_ttl``."""
    state = lock_state(app)
    ttl = Intervals.parse(app.config.scheduler_intervals).lock_ttl
    return state is not None and (now or utcnow()) - state[1] < timedelta(seconds=ttl)


# -- the jobs' functions: module-level, so that the job store can name them --------------------

_current: Scheduler | None = None


def _scheduler() -> Scheduler:
    if _current is None:
        raise RuntimeError("no active scheduler in this process")
    return _current


def fire_site(site_id: int, schedule: str = "", jitter: int = 0) -> None:
    """A site's scheduled start (``schedule`` and ``jitter`` only tell ``sync`` what the
    job was made from)."""
    _scheduler().start_run(site_id, "schedule")


def housekeeping(name: str) -> None:
    _scheduler().housekeeping(name)


# -- the scheduler ------------------------------------------------------------------------------


@dataclass
class Scheduler:
    app: App
    intervals: Intervals = field(default_factory=Intervals)
    holder: str = field(default_factory=this_worker)
    #: Starts a queued run somewhere (local processes, or Celery); None: the local executor.
    submit: Callable[[int], None] | None = None
    _aps: BackgroundScheduler | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _local: dict[int, threading.Thread] = field(default_factory=dict)
    _local_lock: threading.Lock = field(default_factory=threading.Lock)

    # The daemon's loop.

    def run(self, *, standby: bool = True) -> None:
        """Run until ``stop()`` (or SIGINT/SIGTERM in ``monitor scheduler``). Without
        ``standby``, SchedulerBusy if another scheduler is active."""
        global _current
        try:
            while not self._stop.is_set():
                if not acquire_lock(self.app, self.holder, self.intervals.lock_ttl):
                    if not standby:
                        holder = (lock_state(self.app) or ("?",))[0]
                        raise SchedulerBusy(
                            f"another scheduler ({holder}) is active on this database;"
                            " run with --standby to wait and take over when it stops"
                        )
                    self._stop.wait(self.intervals.heartbeat)
                    continue
                logger.info("scheduler %s is active", self.holder)
                _current = self
                self._start()
                while not self._stop.wait(self.intervals.heartbeat):
                    if not acquire_lock(self.app, self.holder, self.intervals.lock_ttl):
                        logger.warning("scheduler %s lost its lock: standing by", self.holder)
                        break
                self._shutdown()
        finally:
            _current = None
            release_lock(self.app, self.holder)

    def stop(self) -> None:
        self._stop.set()

    def _start(self) -> None:
        store = SQLAlchemyJobStore(engine=self.app.db.engine, tablename="apscheduler_jobs")
        self._aps = BackgroundScheduler(
            jobstores={"default": store},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=UTC,
        )
        self._aps.start()
        i = self.intervals
        jobs: list[tuple[str, float]] = [
            ("sync", i.sync),
            ("reap", i.reap),
            ("health", i.health),
            ("alerts", i.alerts),
            ("recheck", i.recheck),
            ("retention", i.retention),
            ("anchor", i.anchor),
        ]
        if self.submit is None:
            jobs.append(("dispatch", i.dispatch))
        else:
            jobs.append(("resend", i.resend))
        for name, seconds in jobs:
            now = {"next_run_time": datetime.now(UTC)} if name in ("sync", "reap") else {}
            self._aps.add_job(
                housekeeping,
                IntervalTrigger(seconds=seconds),
                args=[name],
                id=f"housekeeping:{name}",
                replace_existing=True,
                **now,
            )
        # Left over from a run with (without) a broker.
        self._remove("housekeeping:dispatch" if self.submit else "housekeeping:resend")

    def _shutdown(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        with self._local_lock:
            threads = list(self._local.values())
        for thread in threads:  # local crawls: stopped (SIGINT), their runs end cancelled
            thread.join()

    def _remove(self, job_id: str) -> None:
        try:
            assert self._aps is not None
            self._aps.remove_job(job_id)
        except JobLookupError:
            pass

    # Jobs.

    def housekeeping(self, name: str) -> None:
        try:
            getattr(self, f"_{name}")()
        except Exception:  # a failing job must not stop the others; it runs again later
            logger.exception("housekeeping job %s failed", name)

    def _sync(self) -> None:
        """Site jobs in line with the watchlist."""
        aps = self._aps
        if aps is None:
            return
        config = self.app.config
        with self.app.db.session() as session:
            groups = {g.name: g for g in session.scalars(select(SiteGroup))}
            wanted = {
                site.id: effective(
                    site, groups.get(site.group_name or ""), config.schedule, config.schedule_jitter
                )
                for site in session.scalars(select(Site).where(Site.enabled.is_(True)))
            }
        existing = {job.id: job for job in aps.get_jobs() if job.id.startswith("site:")}
        for job_id in existing:
            if int(job_id.split(":")[1]) not in wanted:
                self._remove(job_id)
        for site_id, schedule in wanted.items():
            job_id = f"site:{site_id}"
            kwargs = {"site_id": site_id, "schedule": schedule.text, "jitter": schedule.jitter}
            job = existing.get(job_id)
            if job is not None and job.kwargs == kwargs:
                continue
            aps.add_job(
                fire_site,
                schedule.trigger(),
                kwargs=kwargs,
                id=job_id,
                name=f"crawl site {site_id} ({schedule.text})",
                replace_existing=True,
            )
            logger.info(
                "site %s scheduled: %s, jitter %s s", site_id, schedule.text, schedule.jitter
            )

    def _dispatch(self) -> None:
        """Without a broker: start queued runs as local crawl processes."""
        from monitor.crawls import execute_run

        with self._local_lock:
            for run_id, thread in list(self._local.items()):
                if not thread.is_alive():
                    del self._local[run_id]
            free = self.app.config.max_crawls - len(self._local)
        if free <= 0:
            return
        with self.app.db.session() as session:
            queued = list(
                session.scalars(
                    select(CrawlRun.id)
                    .where(CrawlRun.status == "queued", CrawlRun.worker.is_(None))
                    .order_by(CrawlRun.id)
                    .limit(free)
                )
            )
        for run_id in queued:
            thread = threading.Thread(
                target=self._execute, args=(execute_run, run_id), name=f"run-{run_id}", daemon=True
            )
            with self._local_lock:
                self._local[run_id] = thread
            thread.start()

    def _execute(self, execute_run: Any, run_id: int) -> None:
        try:
            execute_run(self.app, run_id, should_stop=self._stop.is_set)
        except Exception:
            logger.exception("run %s failed in its supervisor", run_id)

    def _resend(self) -> None:
        """With a broker: queued runs that no worker took for ``resend`` seconds are sent
        again (their message may be lost); a run is carried out once whatever happens."""
        assert self.submit is not None
        stale = utcnow() - timedelta(seconds=self.intervals.resend)
        with self.app.db.session() as session:
            waiting = list(
                session.scalars(
                    select(CrawlRun.id).where(
                        CrawlRun.status == "queued",
                        CrawlRun.worker.is_(None),
                        CrawlRun.created_at < stale,
                    )
                )
            )
        for run_id in waiting:
            try:
                self.submit(run_id)
                logger.warning("run %s was still waiting for a worker: sent again", run_id)
            except MonitorError as exc:
                logger.error("run %s not sent again: %s", run_id, exc)

    def _reap(self) -> None:
        lost = reap_lost_runs(self.app, timedelta(seconds=self.intervals.lost_after))
        if lost:
            logger.warning("runs lost (no progress): %s", lost)

    def _health(self) -> None:
        from monitor.health import check_sites

        for change in check_sites(self.app):
            logger.warning("site %s %s: %s", change.site, change.state, change.reason or "ok")

    def _alerts(self) -> None:
        from monitor.alerts import deliver, queue_alerts

        if not (self.app.config.smtp_url and self.app.config.mail_from):
            return  # mail not configured: nothing to send (monitor status says so)
        queue_alerts(self.app)
        deliver(self.app)  # victims' alerts and operators' notifications alike

    def _recheck(self) -> None:
        from monitor.tracking import recheck

        recheck(self.app)

    def _retention(self) -> None:
        from monitor.retention import enforce

        counts = enforce(self.app)
        if any(counts.values()):
            logger.info(
                "retention: deleted %s", ", ".join(f"{v} {k}" for k, v in counts.items() if v)
            )

    def _anchor(self) -> None:
        from monitor.audit import anchor

        anchor(self.app)

    # Starting runs.

    def start_run(self, site_id: int, trigger: str) -> int | None:
        """A queued run for the site, handed to the executor; None if one is active."""
        try:
            run_id = create_run(self.app, site_id, trigger)
        except RunActive as exc:
            logger.info("site %s: %s start skipped: %s", site_id, trigger, exc)
            return None
        except MonitorError as exc:
            logger.warning("site %s: cannot start a run: %s", site_id, exc)
            return None
        logger.info("site %s: %s start, run %s queued", site_id, trigger, run_id)
        if self.submit is not None:
            try:
                self.submit(run_id)
            except MonitorError as exc:  # the run must not hold the site's slot
                finish_run(self.app, run_id, f"error: not queued: {exc}"[:200])
                logger.error("site %s: run %s not queued: %s", site_id, run_id, exc)
                return None
        return run_id


def start_scheduler_thread(app: App) -> Scheduler:
    """The scheduler in a thread of this process (``monitor web --with-scheduler``, the
    demo), standing by while another scheduler holds the lock; ``stop()`` ends it."""
    from monitor import executors

    daemon = Scheduler(
        app,
        intervals=Intervals.parse(app.config.scheduler_intervals),
        submit=executors.remote_submitter(app),
    )
    threading.Thread(target=daemon.run, name="scheduler", daemon=True).start()
    return daemon
