"""Add transfer proposals: a case's handover from one network to another.

Revision ID: 0019
Revises: 0023
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status = 'proposed'")


def upgrade() -> None:
    op.create_table(
        "transfer_proposals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("from_network_id", sa.Integer(), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("to_network_id", sa.Integer(), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("from_state", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=False),
        sa.Column("received_case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True),
    )
    # One open proposal per case, held by the database too (two coordinators at once).
    op.create_index(
        "ix_transfer_proposals_open_case",
        "transfer_proposals",
        ["case_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(
        "ix_transfer_proposals_to", "transfer_proposals", ["to_network_id", "status", "id"]
    )
    op.create_index(
        "ix_transfer_proposals_from", "transfer_proposals", ["from_network_id", "status", "id"]
    )
    op.create_index("ix_transfer_proposals_due", "transfer_proposals", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("transfer_proposals")
