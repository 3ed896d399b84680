"""Sequence audit entries per network: a queue, one chain per network, a head per chain.

- audit_log gains `id` (the queue order, autoincrement primary key) and `chain`; seq,
  prev_hash and hash become NULL while an entry is queued. seq is unique per chain.
  Every entry written so far keeps its seq and hashes, in the chain named "legacy"
  (id = seq), and verifies as before; new entries go to "network:<id>" or "national".
- audit_head holds one row per chain; the old single head becomes the legacy chain's.
- The triggers still refuse DELETE (and TRUNCATE on PostgreSQL) and every UPDATE but
  one: a queued entry may be sequenced exactly once (seq, prev_hash and hash from NULL
  to values, every other column unchanged).

The tables are rebuilt and their rows copied: SQLite cannot change a primary key in
place, and one path for both backends is one path to test.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Every column but the three the sequencer fills: none of them may ever change.
FIXED = (
    "id", "chain", "at", "actor_user_id", "actor_org_id", "actor_role", "network_id", "action",
    "case_id", "target", "categories", "allowed", "rule", "purpose", "legal_basis",
    "request_id", "workflow_hash", "policy_hash", "change_digest",
)  # fmt: skip
COPIED = FIXED[2:]  # the columns the old table had, besides seq, prev_hash and hash
PLACED = ("seq", "prev_hash", "hash")

SEQUENCED_ONCE = (
    " AND ".join(f"OLD.{c} IS NULL" for c in PLACED)
    + " AND "
    + " AND ".join(f"NEW.{c} IS NOT NULL" for c in PLACED)
)

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    WHEN NOT ({SEQUENCED_ONCE} AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in FIXED)})
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
]

_OLD_ROW = ", ".join(f"OLD.{c}" for c in FIXED)
_NEW_ROW = ", ".join(f"NEW.{c}" for c in FIXED)
POSTGRES_TRIGGERS = [
    """CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$""",
    f"""CREATE FUNCTION audit_log_sequence_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND {SEQUENCED_ONCE}
         AND ROW({_NEW_ROW}) IS NOT DISTINCT FROM ROW({_OLD_ROW}) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
    END $$""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_sequence_once()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()""",
]

OLD_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"""
    for verb in ("UPDATE", "DELETE")
]
OLD_POSTGRES_TRIGGERS = [
    POSTGRES_TRIGGERS[0],
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()""",
    POSTGRES_TRIGGERS[3],
]
INDEXES = {
    "ix_audit_log_case": ["case_id"],
    "ix_audit_log_actor": ["actor_user_id"],
    "ix_audit_log_target": ["target"],
}


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _drop_protection() -> None:
    if _postgres():
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_sequence_once()")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def _set_aside(table: str, constraints: Sequence[str]) -> str:
    """Rename `table` (and, on PostgreSQL, its constraints, whose names are schema-wide)."""
    aside = f"{table}_before_0007"
    if _postgres():
        for name in constraints:
            op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name} TO {name}_before_0007")
    op.rename_table(table, aside)
    return aside


def upgrade() -> None:
    _drop_protection()
    for name in INDEXES:
        op.drop_index(name, table_name="audit_log")
    old_log = _set_aside("audit_log", ["pk_audit_log", "uq_audit_log_hash"])
    old_head = _set_aside("audit_head", ["pk_audit_head"])
    op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", SEQ, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_org_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=200), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("categories", sa.String(length=200), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("legal_basis", sa.String(length=24), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_hash", sa.String(length=64), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("change_digest", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("chain", "seq", name=op.f("uq_audit_log_chain")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    columns = ", ".join(COPIED)
    op.execute(
        f"INSERT INTO audit_log (id, chain, seq, {columns}, prev_hash, hash) "  # noqa: S608
        f"SELECT seq, 'legacy', seq, {columns}, prev_hash, hash FROM {old_log} ORDER BY seq"
    )
    op.execute(
        f"INSERT INTO audit_head (chain, seq, hash) SELECT 'legacy', seq, hash FROM {old_head}"  # noqa: S608
    )
    op.drop_table(old_log)
    op.drop_table(old_head)
    if _postgres():  # new entries are numbered after the copied ones
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), "
            "coalesce(max(id), 0) + 1, false) FROM audit_log"
        )
    for name, on in INDEXES.items():
        op.create_index(name, "audit_log", on)
    op.create_index(
        "ix_audit_log_queued",
        "audit_log",
        ["chain", "id"],
        sqlite_where=sa.text("seq IS NULL"),
        postgresql_where=sa.text("seq IS NULL"),
    )
    for statement in POSTGRES_TRIGGERS if _postgres() else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    """Back to one chain: possible only while every entry is in the legacy chain."""
    others = op.get_bind().scalar(sa.text("SELECT count(*) FROM audit_log WHERE chain <> 'legacy'"))
    if others:
        raise RuntimeError(
            f"{others} audit entries are in per-network chains, which revision 0006 cannot "
            "hold: restore a backup taken before 0007 instead"
        )
    _drop_protection()
    op.drop_index("ix_audit_log_queued", table_name="audit_log")
    for name in INDEXES:
        op.drop_index(name, table_name="audit_log")
    with op.batch_alter_table("audit_log", recreate="always") as batch_op:
        batch_op.drop_constraint("uq_audit_log_chain", type_="unique")
        batch_op.drop_constraint("pk_audit_log", type_="primary")
        batch_op.drop_column("id")
        batch_op.drop_column("chain")
        batch_op.alter_column("seq", existing_type=SEQ, nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch_op.create_primary_key("pk_audit_log", ["seq"])
    with op.batch_alter_table("audit_head", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("id", sa.Integer(), nullable=False, server_default="1"))
        batch_op.drop_constraint("pk_audit_head", type_="primary")
        batch_op.drop_column("chain")
        batch_op.create_primary_key("pk_audit_head", ["id"])
    for name, on in INDEXES.items():
        op.create_index(name, "audit_log", on)
    for statement in OLD_POSTGRES_TRIGGERS if _postgres() else OLD_SQLITE_TRIGGERS:
        op.execute(statement)
