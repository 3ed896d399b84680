"""Give networks a kind (city, national, training), a time zone and languages.

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-07 16:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("networks") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="city"))
        batch.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="Europe/London")
        )
        batch.add_column(
            sa.Column("languages", sa.String(200), nullable=False, server_default="en")
        )


def downgrade() -> None:
    with op.batch_alter_table("networks") as batch:
        batch.drop_column("languages")
        batch.drop_column("time_zone")
        batch.drop_column("kind")
