"""Operations on the records that hang off a case, which a case workflow allows by state.

A case workflow's `operations:` map names, for each operation here, the case states it
may happen in (DESIGN.md §3: "everything that hangs off a case follows the case's
state"). An operation a workflow does not list is allowed in no state. Each operation is
registered with the words that finish "a case in <state> cannot ...", so a refusal
explains itself, as a guard's does.
"""

from enum import StrEnum

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


class Via(StrEnum):
    """The services that fire transitions of their own, named by a transition's `via`.

    A transition without `via` is a bare button (services/lifecycle.py); one with it is
    fired only by its service, and the pages offer it only through that service's form.
    Services ask the file for "the transition via X from this state", so a network may
    rename any state or trigger. Those in CHOICES offer a choice among several transitions
    from one state; the others fire at most one from any state. VIAS holds the words that
    finish "a case in <state> cannot ...".
    """

    SUBMISSION = "submission"
    SCREENING_START = "screening_start"
    SCREENING_OUTCOME = "screening_outcome"
    AGENDA = "agenda"
    PANEL_DECISION = "panel_decision"  # its `outcome` is the word the decision records
    CONSENT_REFUSAL = "consent_refusal"
    CONSENT_WITHDRAWAL = "consent_withdrawal"
    ERASURE = "erasure"
    MINUTES = "minutes"  # a panel meeting's minutes form
    # The moves of linked records their services make: a consent record asked for, given,
    # refused or withdrawn; an information request answered or declined.
    CONSENT_REQUEST = "consent_request"
    CONSENT_GIVE = "consent_give"
    CONSENT_REFUSE = "consent_refuse"
    CONSENT_WITHDRAW = "consent_withdraw"
    REQUEST_ANSWER = "request_answer"
    REQUEST_DECLINE = "request_decline"
    # A linked record's move the system makes when its case closes.
    CASE_CLOSURE = "case_closure"
    # A case handed over to another network, once that network accepts (services.transfers).
    HANDOVER = "handover"


VIAS: dict[str, str] = {
    Via.SUBMISSION: "be submitted",
    Via.SCREENING_START: "be picked up for screening",
    Via.SCREENING_OUTCOME: "have a screening outcome recorded",
    Via.AGENDA: "be taken to a panel",
    Via.PANEL_DECISION: "have a panel decision recorded",
    Via.CONSENT_REFUSAL: "be closed for refused consent",
    Via.CONSENT_WITHDRAWAL: "be closed for withdrawn consent",
    Via.ERASURE: "be erased",
    Via.MINUTES: "have its minutes approved",
    Via.CONSENT_REQUEST: "be asked for",
    Via.CONSENT_GIVE: "be given",
    Via.CONSENT_REFUSE: "be refused",
    Via.CONSENT_WITHDRAW: "be withdrawn",
    Via.REQUEST_ANSWER: "be answered",
    Via.REQUEST_DECLINE: "be declined",
    Via.CASE_CLOSURE: "be ended with its case",
    Via.HANDOVER: "be handed over to another network",
}
CHOICES = frozenset({Via.SCREENING_OUTCOME, Via.PANEL_DECISION})
# Buttons on the case page that their own service fires (it does a little more than move).
BUTTONS = frozenset({Via.SUBMISSION, Via.SCREENING_START, Via.ERASURE})


def refusal(workflow: Workflow, operation: str, state: str) -> str:
    """Why the operation may not happen now, in words: the state as its file labels it."""
    phrase = OPERATIONS.get(operation, f"have '{operation}' done")
    return f"a case in {workflow.state_label(state)} cannot {phrase}"


def via_refusal(workflow: Workflow, via: str, state: str) -> str:
    """Why nothing `via` may fire now: the file gives the state no such transition."""
    phrase = VIAS.get(via, f"be moved by '{via}'")
    kind = workflow.object.value.replace("_", " ")
    return f"a {kind} in {workflow.state_label(state)} cannot {phrase}"
