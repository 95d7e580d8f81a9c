"""videos: crawled videos' frame hashes and digests, reference videos' frames, hits' time ranges

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "images", sa.Column("kind", sa.String(8), nullable=False, server_default="image")
    )
    op.add_column("images", sa.Column("md5", sa.String(32), nullable=True))
    op.add_column("images", sa.Column("duration", sa.Float(), nullable=True))
    op.add_column("images", sa.Column("frames", sa.JSON(), nullable=True))
    op.create_index("ix_images_md5", "images", ["md5"])
    op.add_column("hash_entries", sa.Column("frames", sa.JSON(), nullable=True))
    op.add_column("page_states", sa.Column("videos", sa.JSON(), nullable=True))
    for name in ("query_start", "query_end", "ref_start", "ref_end"):
        op.add_column("hits", sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hits") as batch:
        for name in ("query_start", "query_end", "ref_start", "ref_end"):
            batch.drop_column(name)
    with op.batch_alter_table("page_states") as batch:
        batch.drop_column("videos")
    with op.batch_alter_table("hash_entries") as batch:
        batch.drop_column("frames")
    op.drop_index("ix_images_md5", "images")
    with op.batch_alter_table("images") as batch:
        for name in ("frames", "duration", "md5", "kind"):
            batch.drop_column(name)
