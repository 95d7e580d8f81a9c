"""privacy: the audit log append-only and hash-chained; case notes; withdrawn cases

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
REFUSED = "audit_events is append-only: its rows cannot be changed or deleted"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    # Only the prefix the housekeeping prunes (monitor.audit.prune) may be deleted.
    f"""CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    WHEN OLD.seq IS NOT NULL AND OLD.seq > (SELECT prune_upto FROM audit_chain WHERE id = 1)
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
)

POSTGRES_FUNCTION = f"""
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.seq IS NULL OR OLD.seq <= (SELECT prune_upto FROM audit_chain WHERE id = 1) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'insufficient_privilege';
END
$$"""

POSTGRES_TRIGGERS = (
    POSTGRES_FUNCTION,
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()""",
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_audit_events_seq", ["seq"])
    # Plain ADD COLUMNs on cases: a batch copy would drop the old table, and with foreign
    # keys on, that deletes every hash entry (see 0004).
    op.add_column("cases", sa.Column("notes_enc", sa.LargeBinary(), nullable=True))
    op.add_column("cases", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        # The head: the last event's place and mac.
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        # The start: the last pruned event's place and mac (the genesis before any pruning).
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_mac", sa.String(length=64), nullable=False),
        # Events up to this place may be deleted (the prune in progress).
        sa.Column("prune_upto", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        chain,
        [
            {
                "id": 1,
                "seq": 0,
                "mac": GENESIS,
                "anchor_seq": 0,
                "anchor_mac": GENESIS,
                "prune_upto": 0,
            }
        ],
    )
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute("DROP TRIGGER audit_events_no_update")
    op.drop_table("audit_chain")
    op.drop_column("cases", "withdrawn_at")  # ALTER TABLE DROP COLUMN, no copy
    op.drop_column("cases", "notes_enc")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint("uq_audit_events_seq", type_="unique")
        batch.drop_column("mac")
        batch.drop_column("seq")
