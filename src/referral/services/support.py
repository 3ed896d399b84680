"""Interventions and progress: assign a provider, move the intervention, record sessions."""

from dataclasses import dataclass

from referral.db.tables import Intervention, ProgressNote
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound
from referral.domain.facts import GuardFacts
from referral.domain.vocabulary import InterventionKind
from referral.services import notifications
from referral.services.access import authorise, record, write_fields
from referral.services.flow import case_linked, fire_linked, load_case
from referral.services.uow import UnitOfWork

WORKFLOW = "intervention"


@dataclass(frozen=True)
class AssignIntervention:
    case_id: int
    kind: str
    provider_org_id: int
    plan: str


def assign_intervention(uow: UnitOfWork, actor: Actor, command: AssignIntervention) -> int:
    errors = {}
    if command.kind not in set(InterventionKind):
        errors["kind"] = f"Choose one of: {', '.join(InterventionKind)}."
    if not command.plan.strip():
        errors["plan"] = "Describe what the intervention should achieve."
    if errors:
        raise InvalidInput("the intervention has errors", errors)
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    decision = authorise(uow, actor, "intervention:assign", facts, case_id=case.id)
    scope = uow.scoped(actor)
    provider = scope.repo.organisation(command.provider_org_id)
    if provider is None:
        raise InvalidInput("no such provider in this network", {"provider_org_id": "unknown"})
    intervention = Intervention(
        case_id=case.id,
        provider_org_id=provider.id,
        state=uow.workflow(WORKFLOW).initial,
        created_at=uow.now,
    )
    values = {"kind": command.kind, "plan": command.plan.strip()}
    write_fields(uow, actor, intervention, facts, values, action="intervention:assign")
    scope.add(intervention)
    uow.flush()
    notifications.notify_assignment(uow, actor, case, intervention)
    uow.audit(
        record(
            actor,
            "intervention:assign",
            decision,
            case_id=case.id,
            target=f"intervention:{intervention.id}",
            categories=("support",),
            change=values,
        )
    )
    uow.commit()
    return intervention.id


def _intervention(uow: UnitOfWork, actor: Actor, intervention_id: int) -> Intervention:
    intervention = case_linked(uow, actor, Intervention, intervention_id)
    if intervention is None:
        raise NotFound(f"intervention {intervention_id} not found")
    return intervention


@dataclass(frozen=True)
class MoveIntervention:
    intervention_id: int
    trigger: str


def move_intervention(uow: UnitOfWork, actor: Actor, command: MoveIntervention) -> str:
    """Accept, decline, start, complete or withdraw an intervention."""
    intervention = _intervention(uow, actor, command.intervention_id)
    loaded = load_case(uow, actor, intervention.case_id)
    case, facts = loaded.case, loaded.facts
    guard_facts = GuardFacts(consent_state=loaded.guards.consent_state)
    state = fire_linked(
        uow,
        actor,
        intervention,
        WORKFLOW,
        command.trigger,
        facts,
        guard_facts,
        case_id=case.id,
        target=f"intervention:{intervention.id}",
        categories=("support",),
    )
    uow.commit()
    return state


@dataclass(frozen=True)
class RecordProgress:
    intervention_id: int
    body: str


def record_progress(uow: UnitOfWork, actor: Actor, command: RecordProgress) -> int:
    """A session or progress note by the provider delivering the intervention."""
    if not command.body.strip():
        raise InvalidInput("write the progress note", {"body": "required"})
    intervention = _intervention(uow, actor, command.intervention_id)
    loaded = load_case(uow, actor, intervention.case_id)
    case, facts = loaded.case, loaded.facts
    decision = authorise(
        uow,
        actor,
        "intervention:record",
        facts,
        case_id=case.id,
        target=f"intervention:{intervention.id}",
    )
    if intervention.state != "active":
        raise InvalidInput(
            "progress can only be recorded on an active intervention "
            f"(this one is {intervention.state})"
        )
    note = ProgressNote(
        intervention_id=intervention.id, author_user_id=actor.user_id, created_at=uow.now
    )
    write_fields(
        uow, actor, note, facts, {"body": command.body.strip()}, action="intervention:record"
    )
    uow.scoped(actor).add(note)
    uow.flush()
    uow.audit(
        record(
            actor,
            "intervention:record",
            decision,
            case_id=case.id,
            target=f"progress_note:{note.id}",
            categories=("support",),
            change={"body": command.body},
        )
    )
    uow.commit()
    return note.id
