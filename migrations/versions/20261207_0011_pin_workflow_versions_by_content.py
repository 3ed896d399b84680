"""Pin each workflow version to the content it was first loaded with.

A case runs on the workflow content it started with. A file edited without raising its
`version` would make running cases follow rules they did not start on; with the content's
hash recorded per version, loading such a file is refused and names the file. Existing
cases seed the table: each version is pinned to the content its earliest case started on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflow_versions",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("first_loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_workflow_versions")),
    )
    # Running cases pin the content they started with: the earliest case of each version
    # speaks for it, so a file edited before this upgrade is still caught at the next start.
    op.execute(
        """
        INSERT INTO workflow_versions (name, version, content_hash, first_loaded_at)
        SELECT c.workflow_name, c.workflow_version, c.workflow_hash, c.created_at
        FROM cases c
        WHERE c.workflow_hash <> ''
          AND c.id = (
            SELECT MIN(e.id) FROM cases e
            WHERE e.workflow_name = c.workflow_name
              AND e.workflow_version = c.workflow_version
              AND e.workflow_hash <> ''
          )
        """
    )


def downgrade() -> None:
    op.drop_table("workflow_versions")
