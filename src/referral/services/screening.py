"""Screening: the gateway assessment, police deconfliction, and its outcome."""

from dataclasses import dataclass

from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.services.access import record, write_fields
from referral.services.flow import Moved, case_workflow, fire_case, load_case, trigger_via
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via


@dataclass(frozen=True)
class StartScreening:
    case_id: int
    expected_version: int | None = None


def start_screening(uow: UnitOfWork, actor: Actor, command: StartScreening) -> Moved:
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    # The coordinator who picks a case up manages it. Set with the move: one UPDATE, and
    # the version the move returns is the case's current one.
    takes_it = case.coordinator_user_id is None and "coordinator" in actor.roles
    moved = fire_case(
        uow,
        actor,
        case,
        facts,
        trigger_via(uow, case, Via.SCREENING_START),
        expected_version=command.expected_version,
        status={"coordinator_user_id": actor.user_id} if takes_it else None,
        guards=loaded.guards,
    )
    uow.commit()
    return moved


@dataclass(frozen=True)
class RecordDeconfliction:
    """The police gateway's check against police systems: criminal-category data."""

    case_id: int
    criminal_information: str
    deconfliction_result: str


def record_deconfliction(uow: UnitOfWork, actor: Actor, command: RecordDeconfliction) -> None:
    if not command.deconfliction_result.strip():
        raise InvalidInput("record the deconfliction result", {"deconfliction_result": "required"})
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    values = {
        "criminal_information": command.criminal_information,
        "deconfliction_result": command.deconfliction_result,
    }
    decision_categories = write_fields(uow, actor, case, facts, values, action="case:deconflict")
    uow.flush()
    decision = uow.authz.decide(actor, "criminal", "write", facts, uow.now)
    uow.audit(
        record(
            actor,
            "case:record_deconfliction",
            decision,
            case_id=case.id,
            categories=tuple(sorted(decision_categories)),
            change=values,
        )
    )
    uow.commit()


@dataclass(frozen=True)
class RecordScreeningOutcome:
    case_id: int
    outcome: str
    screening_notes: str = ""
    outcome_for_referrer: str = ""
    expected_version: int | None = None


def record_screening_outcome(
    uow: UnitOfWork, actor: Actor, command: RecordScreeningOutcome
) -> Moved:
    """Close, signpost, hand to police, or gather information (the outcomes are the case
    workflow's transitions via the screening outcome); notes are assessment data."""
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    outcomes = [t.trigger for t in case_workflow(uow, case).via(Via.SCREENING_OUTCOME)]
    if command.outcome not in outcomes:
        raise InvalidInput(
            "unknown screening outcome '{outcome}'; choose one of {choices}",
            {"outcome": "unknown"},
            outcome=command.outcome,
            choices=", ".join(outcomes),
        )
    values = {
        "screening_notes": command.screening_notes.strip(),
        "outcome_for_referrer": command.outcome_for_referrer.strip(),
    }
    filled = {name: value for name, value in values.items() if value}
    touched = write_fields(uow, actor, case, facts, filled, action="case:screen")
    moved = fire_case(
        uow,
        actor,
        case,
        facts,
        command.outcome,
        expected_version=command.expected_version,
        categories=tuple(sorted(touched)),
        change=filled,
        guards=loaded.guards,  # the notes and the message change nothing a guard reads
    )
    uow.commit()
    return moved
