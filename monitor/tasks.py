"""Scale-out: Celery workers carry out queued crawl runs, on any number of machines.

With ``MONITOR_BROKER_URL`` set (Redis or RabbitMQ) and the database on PostgreSQL, the
scheduler (and ``monitor site run-now``) only queue runs: ``send_run`` puts the run's id
on the ``crawls`` queue, and any ``monitor worker`` takes it and calls the same
supervisor as the embedded default (``monitor.crawls.execute_run``), in a thread of its
own per crawl (``--concurrency``). The guarantees hold across machines because they live
in the database: a run is claimed by one supervisor only (a message delivered twice
does nothing the second time), a site has one active run at most, and a worker killed
mid-run takes its crawl with it (the crawl dies with its supervisor) and leaves the run
to be reaped as lost by the scheduler; the hits it recorded stay. Messages are
acknowledged late: a task whose worker died goes back to the queue (after the broker's
visibility timeout) and finds its run ended; nothing runs twice. A queued run whose
message was lost (a broker restarted without persistence) is sent again by the
scheduler after a while; a duplicate is harmless.
"""

from __future__ import annotations

import functools
import logging
import os
import socket

from celery import Celery

from monitor.app import App, bootstrap
from monitor.config import Config
from monitor.errors import MonitorError

QUEUE = "crawls"
TASK = "monitor.execute_run"

logger = logging.getLogger(__name__)


@functools.cache
def celery_app(broker_url: str) -> Celery:
    celery = Celery("monitor", broker=broker_url)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )

    @celery.task(name=TASK)
    def execute(run_id: int) -> str:
        from monitor.crawls import execute_run

        run = execute_run(_worker_app(), run_id)
        logger.info("run %s: %s (%s)", run_id, run.status, run.finish_reason)
        return run.status

    return celery


@functools.cache
def _worker_app() -> App:
    """The worker process's App, from its environment (made once, shared by its threads)."""
    return bootstrap(Config.from_env())


class BrokerUnavailable(MonitorError):
    """The broker cannot take the run now."""


def send_run(config: Config, run_id: int) -> None:
    """Queue a run for the workers; BrokerUnavailable if the broker cannot be reached."""
    from kombu.exceptions import KombuError

    celery = celery_app(config.broker_url)
    try:
        celery.send_task(
            TASK, args=[run_id], queue=QUEUE, retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.5, "interval_step": 1},
        )  # fmt: skip
    except (KombuError, OSError) as exc:
        raise BrokerUnavailable(f"cannot reach the broker: {exc}") from exc


def run_worker(config: Config, *, concurrency: int, name: str | None = None) -> None:
    """Run a Celery worker in this process until it is stopped (SIGTERM: warm shutdown,
    the crawls in progress finish first)."""
    celery = celery_app(config.broker_url)
    celery.worker_main(
        argv=[
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            f"--queues={QUEUE}",
            f"--hostname={name or f'monitor-{os.getpid()}'}@{socket.gethostname()}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )
