"""hash quality: PDQ's quality of each hash entry, where known

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hash_entries", sa.Column("quality", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hash_entries") as batch:
        batch.drop_column("quality")
