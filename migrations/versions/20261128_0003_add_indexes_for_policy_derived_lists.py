"""Add the indexes the policy-derived case lists need.

- cases (network_id, due_at, id): a network's cases in deadline order, so a list
  stops at the end of its page instead of sorting every match;
- consents (case_id, id): the current consent of a case (its latest) in one probe;
  replaces the index on case_id alone;
- interventions (provider_org_id, state, case_id): the cases assigned to an
  organisation, from the index alone; replaces the index on provider_org_id alone;
- meeting_attendees (user_id, meeting_id): the meetings an actor is invited to;
  replaces the index on user_id alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 15:58:52.898853
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_network_due", "cases", ["network_id", "due_at", "id"])
    op.drop_index("ix_consents_case_id", table_name="consents")
    op.create_index("ix_consents_case_latest", "consents", ["case_id", "id"])
    op.drop_index("ix_interventions_provider_org_id", table_name="interventions")
    op.create_index(
        "ix_interventions_provider_state_case",
        "interventions",
        ["provider_org_id", "state", "case_id"],
    )
    op.drop_index("ix_meeting_attendees_user_id", table_name="meeting_attendees")
    op.create_index(
        "ix_meeting_attendees_user_meeting", "meeting_attendees", ["user_id", "meeting_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_meeting_attendees_user_meeting", table_name="meeting_attendees")
    op.create_index("ix_meeting_attendees_user_id", "meeting_attendees", ["user_id"])
    op.drop_index("ix_interventions_provider_state_case", table_name="interventions")
    op.create_index("ix_interventions_provider_org_id", "interventions", ["provider_org_id"])
    op.drop_index("ix_consents_case_latest", table_name="consents")
    op.create_index("ix_consents_case_id", "consents", ["case_id"])
    op.drop_index("ix_cases_network_due", table_name="cases")
