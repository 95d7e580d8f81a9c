"""review: analysts' decisions on hits, rejections that teach, auto-confirmed exact copies

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 19:00:00.000000

- ``hits.decided_by`` / ``decided_at`` / ``reason_enc``: who confirmed or rejected a
  hit ("auto:exact" for exact copies confirmed without review), when, and the
  analyst's reason (encrypted like all free text about a case).
- ``rejections``: (image, hash entry) pairs an analyst rejected; the crawl never
  raises a hit for them again.
- ``cases.auto_confirm_exact``: confirm new hits on byte-for-byte copies at once.
- ``hash_entries.sha256``: the sha256 of the file an entry was hashed from (NULL for
  imported lists), which is what "byte-for-byte copy" is checked against.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, not batch mode: on SQLite, batch mode may copy a table and drop
    # the old one, and with foreign keys on, dropping ``cases`` deletes every hash entry.
    op.add_column("hits", sa.Column("decided_by", sa.String(length=200), nullable=True))
    op.add_column("hits", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("hits", sa.Column("reason_enc", sa.LargeBinary(), nullable=True))
    op.add_column(
        "cases",
        sa.Column("auto_confirm_exact", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("hash_entries", sa.Column("sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("hash_entry_id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["hash_entry_id"], ["hash_entries.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id", "hash_entry_id", name="uq_rejection"),
    )
    op.create_index(
        op.f("ix_rejections_hash_entry_id"), "rejections", ["hash_entry_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_rejections_hash_entry_id"), table_name="rejections")
    op.drop_table("rejections")
    for table, column in (
        ("hash_entries", "sha256"),
        ("cases", "auto_confirm_exact"),
        ("hits", "reason_enc"),
        ("hits", "decided_at"),
        ("hits", "decided_by"),
    ):
        op.drop_column(table, column)  # ALTER TABLE DROP COLUMN (SQLite 3.35+), no copy
