"""Add meeting summons: an official from another organisation, network or the national
level invited to one panel meeting, for a window, until its minutes are approved.

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-07 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting_summons",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("network_id", sa.Integer(), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("meeting_id", sa.Integer(), sa.ForeignKey("panel_meetings.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("org_kind", sa.String(32), nullable=False),
        sa.Column("invited_by_user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.UniqueConstraint("meeting_id", "user_id"),
    )
    # `summoned` and the landing page start from the official: their summons, then the
    # meetings; the clock looks for live summons whose window has passed.
    op.create_index("ix_meeting_summons_user_meeting", "meeting_summons", ["user_id", "meeting_id"])
    op.create_index("ix_meeting_summons_window_end", "meeting_summons", ["window_end"])


def downgrade() -> None:
    op.drop_index("ix_meeting_summons_window_end", table_name="meeting_summons")
    op.drop_index("ix_meeting_summons_user_meeting", table_name="meeting_summons")
    op.drop_table("meeting_summons")
