"""Consent: ask the person (or a guardian for a child), record the answer and its
scope, and honour a withdrawal by closing the case."""

from dataclasses import dataclass
from datetime import date

from referral.db.tables import Consent, ConsentScopeRow
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.calendar import add_months
from referral.domain.errors import Conflict, InvalidInput
from referral.domain.facts import ConsentScope, GuardFacts
from referral.services import case_operations
from referral.services.flow import (
    Moved,
    case_workflow,
    fire_case,
    fire_linked,
    linked_trigger_via,
    load_case,
    trigger_via,
)
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via

WORKFLOW = "consent"
ADULT_AGE = 18
CONSENT_VALID_MONTHS = 12
METHODS = ("in_person", "phone", "written", "video")


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class RequestConsent:
    case_id: int


def request_consent(uow: UnitOfWork, actor: Actor, command: RequestConsent) -> int:
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    case_operations.require(uow, case, "request_consent")
    current = facts.consent_state  # the state of the case's latest consent
    if current in states.names(states.CONSENT, "requested", "given"):
        raise Conflict(
            "consent is already {current} for case {case}", current=current, case=case.id
        )
    consent = Consent(
        case_id=case.id,
        state=uow.workflow(WORKFLOW).initial,
        recorded_by=actor.user_id,
        requested_at=uow.now,
    )
    uow.scoped(actor).add(consent)
    uow.flush()
    fire_linked(
        uow,
        actor,
        consent,
        WORKFLOW,
        linked_trigger_via(uow, WORKFLOW, Via.CONSENT_REQUEST, consent.state),
        facts,
        GuardFacts(),
        case_id=case.id,
        target=f"consent:{consent.id}",
        categories=("consent",),
    )
    uow.commit()
    return consent.id


@dataclass(frozen=True)
class RecordConsent:
    case_id: int
    given: bool
    method: str
    scope: tuple[ConsentScope, ...] = ()
    given_by: str = "subject"
    guardian_name: str = ""
    notes: str = ""


def _validate(command: RecordConsent, born: date | None, today: date) -> dict[str, str]:
    errors = {}
    if command.method not in METHODS:
        errors["method"] = f"Choose how consent was asked: {', '.join(METHODS)}."
    if command.given_by not in ("subject", "guardian"):
        errors["given_by"] = "Consent is given by the person or by a guardian."
    if command.given_by == "guardian" and not command.guardian_name.strip():
        errors["guardian_name"] = "Name the guardian who answered."
    if command.given_by == "subject" and born and age_on(born, today) < ADULT_AGE:
        errors["given_by"] = "The person is a child: a parent or guardian must answer."
    if command.given and not command.scope:
        errors["scope"] = "Say which information may be shared with whom."
    return errors


def record_consent(uow: UnitOfWork, actor: Actor, command: RecordConsent) -> Moved | None:
    """Record the answer; a refusal while consent is pending closes the case."""
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    case_operations.require(uow, case, "record_consent")
    errors = _validate(command, case.subject.date_of_birth, uow.now.date())
    if errors:
        raise InvalidInput("the consent record has errors", errors)
    consent = uow.repo.current_consent(case.id)
    if consent is None or consent.state != states.name(states.CONSENT, "requested"):
        raise Conflict("consent has not been requested for case {case}", case=case.id)
    consent.method, consent.given_by = command.method, command.given_by
    consent.guardian_name, consent.notes = command.guardian_name.strip(), command.notes
    consent.decided_at = uow.now
    if command.given:
        consent.expires_at = add_months(uow.now, CONSENT_VALID_MONTHS)
        consent.scopes = [
            ConsentScopeRow(category=s.category, org_kind=s.org_kind, purpose=s.purpose)
            for s in sorted(set(command.scope), key=str)
        ]
    scope_text = sorted(f"{s.category}>{s.org_kind}>{s.purpose}" for s in command.scope)
    fire_linked(
        uow,
        actor,
        consent,
        WORKFLOW,
        linked_trigger_via(
            uow, WORKFLOW, Via.CONSENT_GIVE if command.given else Via.CONSENT_REFUSE, consent.state
        ),
        facts,
        GuardFacts(),
        case_id=case.id,
        target=f"consent:{consent.id}",
        categories=("consent",),
        change={"given_by": command.given_by, "method": command.method, "scope": scope_text},
    )
    moved = None
    # A refusal closes the case where its workflow says so from its state (the file's
    # transition via the consent refusal); during support the panel decides what next.
    closing = case_workflow(uow, case).one_via(Via.CONSENT_REFUSAL, case.state)
    if not command.given and closing is not None:
        moved = fire_case(uow, actor, case, facts, closing.trigger, categories=("consent",))
    uow.commit()
    return moved


@dataclass(frozen=True)
class WithdrawConsent:
    case_id: int
    notes: str = ""


def withdraw_consent(uow: UnitOfWork, actor: Actor, command: WithdrawConsent) -> Moved:
    """The person withdraws: the consent ends and the case closes, whatever its stage."""
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    trigger = trigger_via(uow, case, Via.CONSENT_WITHDRAWAL)  # before anything changes
    consent = uow.repo.current_consent(case.id)
    # Withdrawing means something only once consent was asked for or given (the case
    # page offers it only then, services.actions).
    if consent is None:
        raise Conflict(
            "Consent has not been asked for this case yet: there is no consent to withdraw."
        )
    if consent.state not in states.names(states.CONSENT, "requested", "given"):
        raise Conflict(
            "There is no consent asked for or given on this case now: nothing to withdraw."
        )
    if consent is not None and consent.state == states.consent_given():
        consent.withdrawn_at = uow.now
        if command.notes.strip():
            consent.notes = f"{consent.notes}\n{command.notes.strip()}".strip()
        fire_linked(
            uow,
            actor,
            consent,
            WORKFLOW,
            linked_trigger_via(uow, WORKFLOW, Via.CONSENT_WITHDRAW, consent.state),
            facts,
            GuardFacts(),
            case_id=case.id,
            target=f"consent:{consent.id}",
            categories=("consent",),
        )
    moved = fire_case(uow, actor, case, facts, trigger, categories=("consent",))
    uow.commit()
    return moved
