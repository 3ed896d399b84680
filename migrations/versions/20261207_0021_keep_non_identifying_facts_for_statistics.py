"""Keep the non-identifying facts national statistics count: age band, concern types,
and when a case first reached screening, panel and support (case_statistics); and the
last publication, which the page reads (statistics_publications).

The age band and concern types are otherwise sealed with the subject's key; they are
taken at submission, so that aggregates never open a sealed field. Cases submitted
before this migration are not counted (their facts are sealed); stage times count from
the cases submitted after it.

Revision ID: 0021
Revises: 0024
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_statistics",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quarter", sa.String(8), nullable=False),
        sa.Column("org_kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.Column("concern_mask", sa.Integer(), nullable=False),
        sa.Column("screening_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("panel_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("support_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_statistics_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_case_statistics_network_id_networks")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_statistics")),
    )
    op.create_index(
        op.f("ix_case_statistics_network_id"), "case_statistics", ["network_id"], unique=False
    )
    op.create_table(
        "statistics_publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statistics_publications")),
    )


def downgrade() -> None:
    op.drop_table("statistics_publications")
    op.drop_index(op.f("ix_case_statistics_network_id"), table_name="case_statistics")
    op.drop_table("case_statistics")
