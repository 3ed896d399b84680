"""Operations on the records that hang off a case, which a case workflow allows by state.

A case workflow's `operations:` map names, for each operation here, the case states it
may happen in (DESIGN.md §3: "everything that hangs off a case follows the case's
state"). An operation a workflow does not list is allowed in no state. Each operation is
registered with the sentence "a case in {state} cannot ...", so a refusal explains
itself, as a guard's does; the sentence is a message of the catalogues (N_), shown in the
reader's language with the state filled in.
"""

from enum import StrEnum

from referral.domain.errors import Conflict
from referral.i18n import N_
from referral.workflow.schema import Workflow

OPERATIONS: dict[str, str] = {
    "set_agenda": N_("a case in {state} cannot be put on a panel agenda"),
    "contribute": N_("a case in {state} cannot take a panel contribution"),
    "decide": N_("a case in {state} cannot have a panel decision recorded"),
    "record_minutes": N_("a case in {state} cannot have panel minutes recorded"),
    "send_information_requests": N_(
        "a case in {state} cannot have information requested from agencies"
    ),
    "answer_information_request": N_(
        "a case in {state} cannot have an information request answered"
    ),
    "request_consent": N_("a case in {state} cannot have consent requested"),
    "record_consent": N_("a case in {state} cannot have consent recorded"),
    "assign_intervention": N_("a case in {state} cannot have an intervention assigned"),
    "move_intervention": N_(
        "a case in {state} cannot have an intervention accepted, started, completed or withdrawn"
    ),
    "record_progress": N_("a case in {state} cannot have progress recorded on an intervention"),
    "record_review": N_("a case in {state} cannot have a review recorded"),
    "break_glass": N_("a case in {state} cannot be opened by break-glass"),
}


class Via(StrEnum):
    """The services that fire transitions of their own, named by a transition's `via`.

    A transition without `via` is a bare button (services/lifecycle.py); one with it is
    fired only by its service, and the pages offer it only through that service's form.
    Services ask the file for "the transition via X from this state", so a network may
    rename any state or trigger. Those in CHOICES offer a choice among several transitions
    from one state; the others fire at most one from any state. VIAS holds the words that
    say "a <kind> in <state> cannot ...".
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
    Via.SUBMISSION: N_("a {kind} in {state} cannot be submitted"),
    Via.SCREENING_START: N_("a {kind} in {state} cannot be picked up for screening"),
    Via.SCREENING_OUTCOME: N_("a {kind} in {state} cannot have a screening outcome recorded"),
    Via.AGENDA: N_("a {kind} in {state} cannot be taken to a panel"),
    Via.PANEL_DECISION: N_("a {kind} in {state} cannot have a panel decision recorded"),
    Via.CONSENT_REFUSAL: N_("a {kind} in {state} cannot be closed for refused consent"),
    Via.CONSENT_WITHDRAWAL: N_("a {kind} in {state} cannot be closed for withdrawn consent"),
    Via.ERASURE: N_("a {kind} in {state} cannot be erased"),
    Via.MINUTES: N_("a {kind} in {state} cannot have its minutes approved"),
    Via.CONSENT_REQUEST: N_("a {kind} in {state} cannot be asked for"),
    Via.CONSENT_GIVE: N_("a {kind} in {state} cannot be given"),
    Via.CONSENT_REFUSE: N_("a {kind} in {state} cannot be refused"),
    Via.CONSENT_WITHDRAW: N_("a {kind} in {state} cannot be withdrawn"),
    Via.REQUEST_ANSWER: N_("a {kind} in {state} cannot be answered"),
    Via.REQUEST_DECLINE: N_("a {kind} in {state} cannot be declined"),
    Via.CASE_CLOSURE: N_("a {kind} in {state} cannot be ended with its case"),
    Via.HANDOVER: N_("a {kind} in {state} cannot be handed over to another network"),
}
CHOICES = frozenset({Via.SCREENING_OUTCOME, Via.PANEL_DECISION})
# Buttons on the case page that their own service fires (it does a little more than move).
BUTTONS = frozenset({Via.SUBMISSION, Via.SCREENING_START, Via.ERASURE})


def refusal(workflow: Workflow, operation: str, state: str) -> Conflict:
    """Why the operation may not happen now, in words: the state as its file labels it
    (the label stays in the file's words)."""
    label = workflow.state_label(state)
    if operation not in OPERATIONS:
        return Conflict(
            "a case in {state} cannot have '{operation}' done", state=label, operation=operation
        )
    return Conflict(OPERATIONS[operation], state=label)


def via_refusal(workflow: Workflow, via: str, state: str) -> Conflict:
    """Why nothing `via` may fire now: the file gives the state no such transition. The
    kind of record and the state's label stay in English words for now."""
    kind = workflow.object.value.replace("_", " ")
    label = workflow.state_label(state)
    if via not in VIAS:
        return Conflict(
            "a {kind} in {state} cannot be moved by '{via}'", kind=kind, state=label, via=via
        )
    return Conflict(VIAS[via], kind=kind, state=label)
