"""hashing rules version of every stored hash

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 02:00:00.000000

Every hash is stored with the version of the rules that made it (decoding path and
algorithm parameters, ``HashAlgorithm.version``): hashes of different versions of
an algorithm are never compared. Rows made before this migration were made by
version 1 of the rules, except imported hash lists, which never said what made
them: those become 0, "computed elsewhere", matched against every version.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("hash_entries", "image_hashes"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("rules_version", sa.Integer(), server_default="1", nullable=False)
            )
    op.execute(sa.text("UPDATE hash_entries SET rules_version = 0 WHERE source = 'import'"))


def downgrade() -> None:
    for table in ("image_hashes", "hash_entries"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("rules_version")
