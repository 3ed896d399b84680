"""Index an audit entry's place and hash once it is placed, and a target only when named.

A request inserts its audit entries queued: seq, prev_hash and hash NULL. The unique
constraints on (chain, seq) and on hash still took an index entry for each NULL at
insert, and the target index one for each empty target (most entries name none): three
index pages more in every request's write, on SQLite a commit a third larger (a move
wrote 13.6 pages of write-ahead log, the bare UPDATE + INSERT it is measured against 2.1).

- uq_audit_log_chain and uq_audit_log_hash become unique indexes WHERE seq (hash) IS NOT
  NULL: exactly as unique as before (NULLs were never compared), filled by the sequencer,
  which writes a chain's entries side by side in one batch.
- ix_audit_log_target becomes an index WHERE target <> '': the entries that name a
  subject or an intervention, the only ones looked up by target.

Queries on (chain, seq) say `seq IS NOT NULL` (or compare seq), so both databases use
the partial index. SQLite keeps table-level UNIQUE constraints in the table itself: the
table is rebuilt and its rows copied, as in revision 0007, with the append-only triggers
dropped for the copy and created again after it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:00:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The triggers and the table's shape are revision 0007's: one definition of each.
_spec = importlib.util.spec_from_file_location(
    "revision_0007", Path(__file__).with_name("20261201_0007_sequence_audit_entries_per_network.py")
)
assert _spec is not None and _spec.loader is not None
_r0007 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_r0007)
SEQ = _r0007.SEQ
COLUMNS = ("id", "chain", "seq", *_r0007.COPIED, "prev_hash", "hash")
PLACED = {"uq_audit_log_chain": ["chain", "seq"], "uq_audit_log_hash": ["hash"]}
OTHER_INDEXES = {"ix_audit_log_case": ["case_id"], "ix_audit_log_actor": ["actor_user_id"]}


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _where(condition: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def _create_table(name: str, *, unique_constraints: bool) -> None:
    constraints: list[sa.SchemaItem] = [sa.PrimaryKeyConstraint("id", name=f"pk_{name}")]
    if unique_constraints:
        constraints += [
            sa.UniqueConstraint("chain", "seq", name="uq_audit_log_chain"),
            sa.UniqueConstraint("hash", name="uq_audit_log_hash"),
        ]
    op.create_table(
        name,
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
        *constraints,
    )


def _rebuild_sqlite(*, unique_constraints: bool) -> None:
    """Copy the log into a table of the new shape (SQLite cannot drop or add a table-level
    constraint in place), with its triggers and the indexes neither revision changes."""
    for name in (*OTHER_INDEXES, "ix_audit_log_queued"):
        op.drop_index(name, table_name="audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    _create_table("audit_log_0009", unique_constraints=unique_constraints)
    columns = ", ".join(COLUMNS)
    op.execute(
        f"INSERT INTO audit_log_0009 ({columns}) SELECT {columns} FROM audit_log ORDER BY id"  # noqa: S608
    )
    op.drop_table("audit_log")
    op.rename_table("audit_log_0009", "audit_log")
    for statement in _r0007.SQLITE_TRIGGERS:
        op.execute(statement)
    for name, on in OTHER_INDEXES.items():
        op.create_index(name, "audit_log", on)
    op.create_index("ix_audit_log_queued", "audit_log", ["chain", "id"], **_where("seq IS NULL"))


def upgrade() -> None:
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    if _postgres():
        for name in PLACED:
            op.drop_constraint(name, "audit_log", type_="unique")
    else:
        _rebuild_sqlite(unique_constraints=False)
    op.create_index("uq_audit_log_chain", "audit_log", PLACED["uq_audit_log_chain"],
                    unique=True, **_where("seq IS NOT NULL"))  # fmt: skip
    op.create_index("uq_audit_log_hash", "audit_log", PLACED["uq_audit_log_hash"],
                    unique=True, **_where("hash IS NOT NULL"))  # fmt: skip
    op.create_index("ix_audit_log_target", "audit_log", ["target"], **_where("target <> ''"))


def downgrade() -> None:
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    for name in PLACED:
        op.drop_index(name, table_name="audit_log")
    if _postgres():
        for name, on in PLACED.items():
            op.create_unique_constraint(name, "audit_log", on)
    else:
        _rebuild_sqlite(unique_constraints=True)
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
