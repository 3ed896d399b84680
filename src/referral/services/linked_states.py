"""The states of linked records' workflows that the code reads by name.

A case workflow's states and every workflow's triggers may be renamed in its file: the
code finds them by `via` and labels. A linked record's states may not be yet: the
policy's conditions and a few services read them (a consent `given`, a request
`answered`, an intervention `withdrawn`, a meeting `cancelled`). Renaming one would
quietly change who may see what, so a deployment whose files lack any of them refuses
to start, naming the file and the state (`referral workflows check` says the same).
"""

from collections.abc import Iterable

from referral.authz.conditions import GIVEN, INACTIVE_INTERVENTION_STATES, NOT_SOUGHT
from referral.db.repositories import OPEN_MEETING_STATES
from referral.domain.errors import ConfigurationError
from referral.domain.facts import INACTIVE_MEETING_STATES, SETTLED_BY_AGENCY_STATES
from referral.workflow.schema import Workflow, WorkflowObject

REQUESTED, REFUSED, OVERDUE, ACTIVE = "requested", "refused", "overdue", "active"

READ_BY_CODE: dict[WorkflowObject, frozenset[str]] = {
    WorkflowObject.CONSENT: frozenset({NOT_SOUGHT, REQUESTED, GIVEN, REFUSED}),
    WorkflowObject.INFORMATION_REQUEST: frozenset({REQUESTED, OVERDUE, *SETTLED_BY_AGENCY_STATES}),
    WorkflowObject.INTERVENTION: frozenset({ACTIVE, *INACTIVE_INTERVENTION_STATES}),
    WorkflowObject.PANEL_MEETING: frozenset({*OPEN_MEETING_STATES, *INACTIVE_MEETING_STATES}),
}


def missing_states(workflows: Iterable[Workflow]) -> list[str]:
    """One sentence per state the code reads that a linked workflow's file lacks."""
    problems = []
    for workflow in workflows:
        kind = workflow.object.value.replace("_", " ")
        for state in sorted(READ_BY_CODE.get(workflow.object, frozenset())):
            if state not in workflow.state_names:
                problems.append(
                    f"{workflow.path}: states: the code reads a {kind} in state '{state}',"
                    " which this file does not declare (a linked record's states may not be"
                    " renamed)"
                )
    return problems


def require_states(workflows: Iterable[Workflow]) -> None:
    problems = missing_states(workflows)
    if problems:
        raise ConfigurationError("\n".join(problems))
