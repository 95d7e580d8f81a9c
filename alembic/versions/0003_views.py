"""views: the decision rule's extra hashes of reference and crawled images

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 04:00:00.000000

The decision rule (``monitor.hashing.rule``) hashes more than the whole image:
a reference image is enrolled with extra views (crops of it), and a crawled
image is looked up with several (flips, rotations, trimmed borders, regions).

- ``hash_entries.view``: which view of the reference image the hash is of
  ("original" for every hash made before, and for imported lists);
  ``hash_entries.group_key``: a random token shared by the hashes of one enrolled
  image (so the rule can weigh several algorithms on the same image; it says
  nothing about the image). NULL for imported lists that do not group.
- ``image_hashes.view``: the crawled image's views are stored like its plain
  hashes, so bytes seen again are not decoded again; the unique key becomes
  (image, algorithm, view). ``images.views_version``: the rule version that made
  them (NULL: plain hashes only, from before).
- ``hits.view``: the view of the crawled image that matched.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hash_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("view", sa.String(length=40), server_default="original", nullable=False)
        )
        batch_op.add_column(sa.Column("group_key", sa.String(length=32), nullable=True))
    with op.batch_alter_table("image_hashes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("view", sa.String(length=40), server_default="original", nullable=False)
        )
        batch_op.drop_constraint("uq_image_hash", type_="unique")
        batch_op.create_unique_constraint("uq_image_hash", ["image_id", "algorithm", "view"])
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("views_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("view", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_column("view")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("views_version")
    op.execute(sa.text("DELETE FROM image_hashes WHERE view <> 'original'"))
    with op.batch_alter_table("image_hashes", schema=None) as batch_op:
        batch_op.drop_constraint("uq_image_hash", type_="unique")
        batch_op.create_unique_constraint("uq_image_hash", ["image_id", "algorithm"])
        batch_op.drop_column("view")
    with op.batch_alter_table("hash_entries", schema=None) as batch_op:
        batch_op.drop_column("group_key")
        batch_op.drop_column("view")
