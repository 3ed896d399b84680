"""Operations on the records that hang off a case, which a case workflow allows by state.

A case workflow's `operations:` map names, for each operation here, the case states it
may happen in (DESIGN.md §3: "everything that hangs off a case follows the case's
state"). An operation a workflow does not list is allowed in no state. Each operation is
registered with the words that finish "a case in <state> cannot ...", so a refusal
explains itself, as a guard's does.
"""

from referral.workflow.schema import Workflow

OPERATIONS: dict[str, str] = {
    "set_agenda": "be put on a panel agenda",
    "contribute": "take a panel contribution",
    "decide": "have a panel decision recorded",
    "record_minutes": "have panel minutes recorded",
    "send_information_requests": "have information requested from agencies",
    "answer_information_request": "have an information request answered",
    "request_consent": "have consent requested",
    "record_consent": "have consent recorded",
    "assign_intervention": "have an intervention assigned",
    "move_intervention": "have an intervention accepted, started, completed or withdrawn",
    "record_progress": "have progress recorded on an intervention",
    "record_review": "have a review recorded",
    "break_glass": "be opened by break-glass",
}


def refusal(workflow: Workflow, operation: str, state: str) -> str:
    """Why the operation may not happen now, in words: the state as its file labels it."""
    phrase = OPERATIONS.get(operation, f"have '{operation}' done")
    return f"a case in {workflow.state_label(state)} cannot {phrase}"
