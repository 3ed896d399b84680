"""Network protocols (versioned), their acknowledgements, and review dates.

Revision ID: 0018
Revises: 0022
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("networks") as batch:
        # The sharing agreement's review date, and when the dpo was last reminded of it.
        batch.add_column(sa.Column("agreement_review_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("agreement_reminded_on", sa.Date(), nullable=True))
    op.create_table(
        "network_protocols",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("network_id", sa.Integer(), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("review_on", sa.Date(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("network_id", "version"),
    )
    op.create_table(
        "protocol_acknowledgements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("network_id", sa.Integer(), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column(
            "protocol_id", sa.Integer(), sa.ForeignKey("network_protocols.id"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("protocol_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("protocol_acknowledgements")
    op.drop_table("network_protocols")
    with op.batch_alter_table("networks") as batch:
        batch.drop_column("agreement_reminded_on")
        batch.drop_column("agreement_review_on")
