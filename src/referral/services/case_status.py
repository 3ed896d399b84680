"""A case's status columns, read without the ORM: what a bare move reads and writes.

A move that only changes the case's status (`lifecycle.move_case`: review, exit, follow
up, close) has no use for the case as an ORM object: building it, watching its
attributes and flushing it cost more than the move's own statements. `flow.load_case_status`
reads this instead and `flow.write_case` writes it back with one Core UPDATE, the version
check in its WHERE clause. Everything else a service changes on a case goes through the
ORM `Case` (sealed fields are sealed by the ORM's events).
"""

from dataclasses import dataclass, fields
from datetime import datetime

from referral.db.tables import Case


@dataclass(slots=True)
class CaseStatus:
    id: int
    network_id: int
    reference: str
    subject_id: int
    state: str
    workflow_name: str
    workflow_version: int
    workflow_hash: str
    version: int
    referrer_user_id: int
    coordinator_user_id: int | None
    state_entered_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    outcome_for_referrer: str


STATUS_COLUMNS = tuple(f.name for f in fields(CaseStatus))

# A case as a move sees it: the ORM object, or its status columns alone.
AnyCase = Case | CaseStatus
