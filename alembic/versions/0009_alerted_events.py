"""alerted events: which alert told the victim that a notice was sent or acted on

A removal (or a notice sent) is news for her even when no new copy was found: an alert
goes out for it, and each such step is told once (``alerted_events``). Steps already
told by the earlier rule (everything up to the case's last alert) are recorded as told
by that alert.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerted_events",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["notice_events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index(
        op.f("ix_alerted_events_outbox_id"), "alerted_events", ["outbox_id"], unique=False
    )
    op.execute(
        """
        INSERT INTO alerted_events (event_id, outbox_id)
        SELECT e.id, last.outbox_id
        FROM notice_events e
        JOIN notices n ON n.id = e.notice_id
        JOIN (
            SELECT o.case_id, o.id AS outbox_id, o.created_at
            FROM outbox o
            WHERE o.kind = 'alert' AND o.id = (
                SELECT max(o2.id) FROM outbox o2 WHERE o2.case_id = o.case_id AND o2.kind = 'alert'
            )
        ) last ON last.case_id = n.case_id
        WHERE e.status IN ('sent', 'removed') AND e.at <= last.created_at
        """
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alerted_events_outbox_id"), table_name="alerted_events")
    op.drop_table("alerted_events")
