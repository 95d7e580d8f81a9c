"""scheduling: per-site schedules and budgets, one active run per site, the scheduler's
lock and APScheduler's job store

- ``sites``: ``schedule`` ("every 6h" or a crontab line), ``jitter``, ``group_name``,
  ``time_budget`` (seconds); ``enabled`` false means paused.
- ``crawl_runs``: ``trigger``, ``worker``, ``cancel_requested``, and a partial unique
  index: at most one queued or running run per site. Older duplicates (from before
  this rule) are marked failed first, the newest kept.
- ``site_groups``: a group's schedule and jitter, for its sites that have none.
- ``scheduler_locks``: the one active scheduler per database.
- ``apscheduler_jobs``: APScheduler 3.x's SQLAlchemyJobStore table.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    # Plain ADD COLUMNs (see 0004: a batch-mode copy of a parent table cascades on SQLite).
    op.add_column("sites", sa.Column("schedule", sa.String(length=100), nullable=True))
    op.add_column("sites", sa.Column("jitter", sa.Integer(), nullable=True))
    op.add_column("sites", sa.Column("group_name", sa.String(length=100), nullable=True))
    op.add_column("sites", sa.Column("time_budget", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_sites_group_name"), "sites", ["group_name"], unique=False)
    op.add_column(
        "crawl_runs",
        sa.Column("trigger", sa.String(length=16), server_default="manual", nullable=False),
    )
    op.add_column("crawl_runs", sa.Column("worker", sa.String(length=200), nullable=True))
    op.add_column(
        "crawl_runs",
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        f"""
        UPDATE crawl_runs SET status = 'failed', finish_reason = 'lost: superseded'
        WHERE {ACTIVE} AND id NOT IN (
            SELECT max(id) FROM crawl_runs WHERE {ACTIVE} GROUP BY site_id
        )
        """
    )
    op.create_index(
        "uq_crawl_runs_active_site",
        "crawl_runs",
        ["site_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_table(
        "site_groups",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=True),
        sa.Column("jitter", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "scheduler_locks",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_apscheduler_jobs_next_run_time"),
        "apscheduler_jobs",
        ["next_run_time"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_apscheduler_jobs_next_run_time"), table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")
    op.drop_table("scheduler_locks")
    op.drop_table("site_groups")
    op.drop_index("uq_crawl_runs_active_site", table_name="crawl_runs")
    for column in ("cancel_requested", "worker", "trigger"):
        op.drop_column("crawl_runs", column)
    op.drop_index(op.f("ix_sites_group_name"), table_name="sites")
    for column in ("time_budget", "group_name", "jitter", "schedule"):
        op.drop_column("sites", column)
