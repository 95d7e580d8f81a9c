"""alert pause: cases.alerts_paused_until, set by the pause link in an alert

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (see 0004: a batch-mode copy of ``cases`` cascades on SQLite).
    op.add_column(
        "cases", sa.Column("alerts_paused_until", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("cases", "alerts_paused_until")
