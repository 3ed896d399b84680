"""Index a case's audit entries by case and id, so its newest come first without a sort.

The case page shows a case's recent history: the newest entries of the case, drawn from
its RECENT_WINDOW newest (services.timeline). On SQLite an index on (case_id) already
holds each case's entries in rowid (id) order, so the newest are read backwards from
the index. PostgreSQL keeps equal keys in no such order: it read every entry the case
ever had (20,000 for a case read all day: 6 ms a page with nobody else about, 28 ms
under load) and sorted them to keep 200. On (case_id, id) both read only the newest.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 03:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_audit_log_case", table_name="audit_log")
    op.create_index("ix_audit_log_case", "audit_log", ["case_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_case", table_name="audit_log")
    op.create_index("ix_audit_log_case", "audit_log", ["case_id"])
