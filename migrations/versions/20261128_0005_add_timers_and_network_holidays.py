"""Add timers (what the clock fires, and when) and per-network holiday calendars.

- timers: one row per timer of an object in a state: scheduled on entering the state,
  cancelled on leaving it, fired once by the worker (`referral worker` / `referral tick`);
  workers claim pending rows by (state, run_after);
- network_holidays: days that working-day deadlines skip, per network.

Objects already waiting in a state with a timer get no row: their timers start with
their next move. Existing deadlines stay as they were computed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_network_holidays_network_id_networks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_holidays")),
        sa.UniqueConstraint("network_id", "day", name=op.f("uq_network_holidays_network_id")),
    )
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("object_kind", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("source_state", sa.String(length=40), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_timers_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_timers_network_id_networks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_state_run_after", ["state", "run_after"], unique=False)
        batch_op.create_index(
            "ix_timers_object", ["object_kind", "object_id", "state"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_object")
        batch_op.drop_index("ix_timers_state_run_after")

    op.drop_table("timers")
    op.drop_table("network_holidays")
