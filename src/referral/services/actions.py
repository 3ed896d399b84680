"""The case page: what a viewer sees of a case, and what they may do to it now.

Every "may" here is a policy decision or a workflow fact, made before any template
runs: a template only shows what this module offers.
"""

from dataclasses import dataclass, field
from typing import Any

from referral.db.tables import Case, InformationRequest, User
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.errors import NotFound
from referral.domain.facts import CaseFacts
from referral.domain.vocabulary import Category, InterventionKind
from referral.i18n import N_
from referral.services import (
    breakglass,
    case_operations,
    information,
    lifecycle,
    linkage,
    referrals,
    transfers,
)
from referral.services.consent import METHODS
from referral.services.flow import available_transitions
from referral.services.queue import OrganisationOption, network_organisations
from referral.services.referrals import CaseView, FieldView
from referral.services.timeline import HistoryPage, load_timeline
from referral.services.uow import UnitOfWork
from referral.workflow.operations import BUTTONS, Via
from referral.workflow.schema import Transition

# Status fields the summary shows; the other status columns are internal ids and hashes.
SUMMARY_FIELDS = (
    "state",
    "due_at",
    "submitted_at",
    "state_entered_at",
    "referring_org_kind",
    "closed_at",
    "outcome_for_referrer",
)
CONSENT_CATEGORIES = tuple(c for c in Category if c not in (Category.STATUS, Category.CRIMINAL))


@dataclass(frozen=True)
class MoveOption:
    """A button: a transition with no data of its own that the viewer may fire now."""

    trigger: str
    label: str
    dest: str
    tells_referrer: bool
    destructive: bool
    erases: bool  # wants a fresh second factor (services.second_factor)


@dataclass(frozen=True)
class Section:
    """The fields of one category, and why the viewer sees them or not."""

    category: Category
    fields: list[FieldView]
    why: str = ""  # why the viewer sees the category, or why not (authz.explain)
    hidden: bool = False


@dataclass(frozen=True)
class ScreeningForm:
    outcomes: list[str]
    labels: dict[str, str]  # each outcome's words, from the workflow file
    may_write_notes: bool
    may_message_referrer: bool


@dataclass(frozen=True)
class CasePage:
    view: CaseView
    summary: dict[str, FieldView]
    sections: list[Section]
    timeline: HistoryPage | None
    moves: list[MoveOption]
    forms: frozenset[str]
    screening: ScreeningForm | None = None
    open_requests: list[dict[str, Any]] = field(default_factory=list)
    organisations: list[OrganisationOption] = field(default_factory=list)
    intervention_kinds: tuple[str, ...] = tuple(InterventionKind)
    review_kinds: tuple[str, ...] = lifecycle.REVIEW_KINDS
    consent_methods: tuple[str, ...] = METHODS
    consent_categories: tuple[str, ...] = CONSENT_CATEGORIES
    break_glass_categories: list[str] = field(default_factory=list)  # hidden, may be opened
    # The summary the page opens on: what the state means, what the workflow does next
    # from it, and who holds the case (None: the viewer may not read its status).
    state_description: str = ""
    next_steps: list[str] = field(default_factory=list)
    holder: str | None = None
    # Possible earlier referrals of the subject, and other networks' questions about this
    # case (services.linkage): status level only.
    links: list[linkage.LinkView] = field(default_factory=list)
    # (slug, name) of the networks a handover may go to, when the form is offered.
    transfer_networks: list[tuple[str, str]] = field(default_factory=list)

    @property
    def org_names(self) -> dict[int, str]:
        return {o.id: o.name for o in self.organisations}

    @property
    def org_kinds(self) -> list[str]:
        return sorted({o.kind for o in self.organisations})


def case_page(uow: UnitOfWork, actor: Actor, case_id: int) -> CasePage:
    """Everything the case page shows this actor. 404 if the case is not theirs to see.

    It may follow a refused form in the same request: whatever that attempt left in
    the session is dropped first, so this read can never commit half a change. A unit
    that only reads holds no change: its transaction (the snapshot its actor and viewer
    were read in) goes on, without a second connection.
    """
    if not uow.read_only:
        uow.rollback()
    view, case, facts = referrals.case_view(uow, actor, case_id)
    transitions = available_transitions(uow, actor, case, facts)
    forms = _forms(uow, actor, case, facts, {t.via for t in transitions})
    answerable = _answerable(uow, actor, view, facts) if "answer_request" in forms else []
    if not answerable:  # the policy lets them answer requests, but none of these
        forms -= {"answer_request"}
    page = CasePage(
        view=view,
        summary={name: view.fields[name] for name in SUMMARY_FIELDS},
        sections=_sections(view),
        timeline=load_timeline(uow, actor, case, facts),
        # A transition its own service fires is a button only where that service needs
        # nothing more than the click; the others have forms (or the meeting's page).
        moves=[
            _move_option(t)
            for t in transitions
            if (t.via is None or t.via in BUTTONS) and not _replaced_by_handover(uow, case, t)
        ],
        forms=forms,
        screening=_screening_form(uow, actor, facts, transitions),
        open_requests=answerable,
        organisations=network_organisations(uow, actor),
        break_glass_categories=breakglass.openable(uow, actor, facts, set(view.hidden))
        if case_operations.allowed(uow, case, "break_glass")
        else [],
        **_summary(uow, actor, view, case),
        links=linkage.links_on_page(uow, actor, case, facts),
        transfer_networks=transfers.receiving_networks(uow, actor) if "hand_over" in forms else [],
    )
    uow.commit()
    return page


def _summary(uow: UnitOfWork, actor: Actor, view: CaseView, case: Case) -> dict[str, Any]:
    """The page's opening lines, from the status fields the viewer reads and the
    workflow's own words: the state's description and the steps it leads to."""
    if Category.STATUS in view.hidden:
        return {}
    workflow = uow.workflow_read(case.workflow_name, case.workflow_version)
    state = next((s for s in workflow.states if s.name == case.state), None)
    # Where the case goes next, in the states' words: not the exits open from every state
    # (withdrawal, transfer), nor erasure or what a timer does by itself.
    steps = [
        workflow.state_label(t.dest)
        for t in workflow.transitions_from(case.state)
        if not t.destructive
        and t.timer is None
        and t.via != Via.ERASURE
        and not workflow.open_states <= set(t.source)
    ]
    holder = N_("No one named: the network's coordinators")
    if case.coordinator_user_id is not None:
        user = uow.scoped(actor).get(User, case.coordinator_user_id)
        holder = user.display_name if user is not None else N_("A coordinator of another network")
    return {
        "state_description": state.description if state is not None else "",
        "next_steps": list(dict.fromkeys(steps)),
        "holder": holder,
    }


def _sections(view: CaseView) -> list[Section]:
    sections = []
    for category in Category:
        if category == Category.STATUS:
            continue
        fields = [f for f in view.fields.values() if f.category == category]
        if fields:
            why = view.why.get(category, "")
            sections.append(Section(category, fields, why, category in view.hidden))
    return sections


def _replaced_by_handover(uow: UnitOfWork, case: Case, transition: Transition) -> bool:
    """A bare move to where a handover leads (the old "Transfer to another network") is
    not a button: the handover form, which asks the other network first, replaces it."""
    if transition.via is not None:
        return False
    workflow = uow.workflow_read(case.workflow_name, case.workflow_version)
    return any(t.via == Via.HANDOVER and t.dest == transition.dest for t in workflow.transitions)


def _move_option(transition: Transition) -> MoveOption:
    return MoveOption(
        trigger=transition.trigger,
        label=transition.shown_as,
        dest=transition.dest,
        # Only lifecycle.move_case carries a message to the referrer with the move.
        tells_referrer="referrer" in transition.notify and transition.via is None,
        destructive=transition.destructive,
        erases=transition.via == Via.ERASURE,
    )


def _may(uow: UnitOfWork, actor: Actor, obj: str, act: str, facts: CaseFacts) -> bool:
    return uow.authz.decide(actor, obj, act, facts, uow.now).allowed


def _forms(
    uow: UnitOfWork, actor: Actor, case: Case, facts: CaseFacts, vias: set[str | None]
) -> frozenset[str]:
    """The names of the forms this actor may use on this case now: each where the case's
    workflow allows its operation in the case's state, and the policy lets the actor."""
    workflow = uow.workflow_read(case.workflow_name, case.workflow_version)
    open_case = case.state in workflow.open_states
    consent_state = facts.consent_state

    def allowed(operation: str) -> bool:
        return case_operations.allowed(uow, case, operation)

    checks = {
        "deconfliction": open_case and _may(uow, actor, Category.CRIMINAL, "write", facts),
        "send_requests": allowed("send_information_requests")
        and _may(uow, actor, "information_request", "send", facts),
        "answer_request": allowed("answer_information_request")
        and _may(uow, actor, "information_request", "answer", facts),
        "request_consent": allowed("request_consent")
        and consent_state not in states.names(states.CONSENT, "requested", "given")
        and _may(uow, actor, "consent", "request", facts),
        "record_consent": allowed("record_consent")
        and consent_state == states.name(states.CONSENT, "requested")
        and _may(uow, actor, "consent", "record", facts),
        # Withdrawing consent means something only once it was asked for or given.
        "consent_withdrawal": Via.CONSENT_WITHDRAWAL in vias
        and consent_state in states.names(states.CONSENT, "requested", "given"),
        # A handover is proposed here; the move itself waits for the other network.
        "hand_over": Via.HANDOVER in vias,
        "assign_intervention": allowed("assign_intervention")
        and _may(uow, actor, "intervention", "assign", facts),
        "record_review": allowed("record_review") and _may(uow, actor, "case", "manage", facts),
    }
    return frozenset(name for name, offered in checks.items() if offered)


def _screening_form(
    uow: UnitOfWork, actor: Actor, facts: CaseFacts, transitions: list[Transition]
) -> ScreeningForm | None:
    outcomes = [t for t in transitions if t.via == Via.SCREENING_OUTCOME]
    if not outcomes:
        return None
    return ScreeningForm(
        outcomes=[t.trigger for t in outcomes],
        labels={t.trigger: t.shown_as for t in outcomes},
        may_write_notes=_may(uow, actor, Category.ASSESSMENT, "write", facts),
        may_message_referrer=_may(uow, actor, Category.STATUS, "write", facts),
    )


def _answerable(
    uow: UnitOfWork, actor: Actor, view: CaseView, facts: CaseFacts
) -> list[dict[str, Any]]:
    """The case's open requests this actor may answer: a screener is offered the police's
    request, not health's; the coordinator, who records answers for any agency, all."""
    requests = view.linked.get("information_requests", [])
    return [
        r
        for r in requests
        if r["state"] in states.open_requests() and information.may_answer(uow, actor, r, facts)
    ]


@dataclass(frozen=True)
class AnswerRequest:
    case_id: int
    request_id: int
    answer: str
    declined: bool = False


def answer_request(uow: UnitOfWork, actor: Actor, command: AnswerRequest) -> str:
    """Record an agency's answer to a request, reached from the case it belongs to."""
    request = uow.scoped(actor).get(InformationRequest, command.request_id)
    if request is None or request.case_id != command.case_id:
        raise NotFound(
            "information request {request} not found on this case", request=command.request_id
        )
    return information.record_answer(
        uow, actor, information.RecordAnswer(command.request_id, command.answer, command.declined)
    )
