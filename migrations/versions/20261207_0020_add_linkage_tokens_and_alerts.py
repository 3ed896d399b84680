"""Add linkage tokens and repeat-referral alerts (privacy-preserving linkage).

Revision ID: 0020
Revises: 0021
Create Date: 2026-12-07 17:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "linkage_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("network_id", sa.Integer(), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_linkage_tokens_token", "linkage_tokens", ["token", "case_id", "network_id"])
    op.create_index("ix_linkage_tokens_case_id", "linkage_tokens", ["case_id"])
    op.create_table(
        "linkage_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("network_id", sa.Integer(), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("other_network_id", sa.Integer(), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("other_case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asked_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("case_id", "other_case_id"),
    )
    op.create_index("ix_linkage_alerts_case_id", "linkage_alerts", ["case_id"])
    op.create_index(
        "ix_linkage_alerts_network_status", "linkage_alerts", ["network_id", "status", "id"]
    )
    op.create_index("ix_linkage_alerts_other_case", "linkage_alerts", ["other_case_id"])


def downgrade() -> None:
    op.drop_table("linkage_alerts")
    op.drop_table("linkage_tokens")
