"""alerts: victims' alert preferences, an outbox with a delivery log, announced hits

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 19:20:00.000000

- ``cases.alerts`` (never | immediate | daily | weekly), ``cases.alert_to_enc`` (an
  advocate's address instead of hers, encrypted), ``cases.country`` (helplines).
- ``outbox``: emails to send, with attempts and the time of the next one (retries with
  backoff while the SMTP server is down); recipient and body encrypted.
- ``alerted_hits``: which message announced a hit (a hit is never announced twice).
- ``deliveries``: every attempt to send, and its outcome.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (see 0004: a batch-mode copy of ``cases`` cascades on SQLite).
    op.add_column(
        "cases", sa.Column("alerts", sa.String(length=16), server_default="never", nullable=False)
    )
    op.add_column("cases", sa.Column("alert_to_enc", sa.LargeBinary(), nullable=True))
    op.add_column("cases", sa.Column("country", sa.String(length=2), nullable=True))
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_enc", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_outbox_case_id"), "outbox", ["case_id"], unique=False)
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "alerted_hits",
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("hit_id"),
    )
    op.create_index(op.f("ix_alerted_hits_outbox_id"), "alerted_hits", ["outbox_id"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_deliveries_outbox_id"), "deliveries", ["outbox_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_outbox_id"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_alerted_hits_outbox_id"), table_name="alerted_hits")
    op.drop_table("alerted_hits")
    op.drop_index("ix_outbox_status_next", table_name="outbox")
    op.drop_index(op.f("ix_outbox_case_id"), table_name="outbox")
    op.drop_table("outbox")
    for column in ("country", "alert_to_enc", "alerts"):
        op.drop_column("cases", column)
