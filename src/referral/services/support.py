"""Interventions and progress: assign a provider, move the intervention, record sessions.

An operation on one intervention loads it and its case, and asks the policy about *that*
intervention before anything else: another organisation's intervention on a case the
provider works on is "not found", as an intervention of a case they cannot see is.
Only then are the input, the permission and the intervention's state looked at.
"""

from dataclasses import dataclass

from referral.db.tables import Intervention, ProgressNote
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.domain.facts import GuardFacts, RecordFacts
from referral.domain.vocabulary import Category, InterventionKind
from referral.services import case_operations, notifications
from referral.services.access import (
    authorise,
    record,
    refuse_unless_record_visible,
    write_fields,
)
from referral.services.flow import LoadedCase, case_linked, fire_linked, load_case
from referral.services.linked import intervention_facts
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
    case_operations.require(uow, case, "assign_intervention")
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


@dataclass(frozen=True)
class _Visible:
    """An intervention the actor may see, its case, and the intervention as conditions see it."""

    intervention: Intervention
    loaded: LoadedCase
    about: RecordFacts


def _intervention(uow: UnitOfWork, actor: Actor, intervention_id: int) -> _Visible:
    """The intervention, if the actor may see it: in their network, on a case they may see,
    and readable to them asked about this intervention; otherwise "not found" (audited)."""
    intervention = case_linked(uow, actor, Intervention, intervention_id)
    if intervention is None:
        raise NotFound("intervention {intervention} not found", intervention=intervention_id)
    loaded = load_case(uow, actor, intervention.case_id)
    about = intervention_facts(intervention.id, intervention.provider_org_id, intervention.state)
    refuse_unless_record_visible(uow, actor, loaded.facts, about, Category.SUPPORT)
    return _Visible(intervention, loaded, about)


@dataclass(frozen=True)
class MoveIntervention:
    intervention_id: int
    trigger: str


def move_intervention(uow: UnitOfWork, actor: Actor, command: MoveIntervention) -> str:
    """Accept, decline, start, complete or withdraw an intervention."""
    visible = _intervention(uow, actor, command.intervention_id)
    intervention, loaded = visible.intervention, visible.loaded
    case, facts = loaded.case, loaded.facts
    case_operations.require(uow, case, "move_intervention")
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
        about=visible.about,
    )
    uow.commit()
    return state


@dataclass(frozen=True)
class RecordProgress:
    intervention_id: int
    body: str


def record_progress(uow: UnitOfWork, actor: Actor, command: RecordProgress) -> int:
    """A session or progress note by the provider delivering the intervention."""
    visible = _intervention(uow, actor, command.intervention_id)
    intervention, case, facts = visible.intervention, visible.loaded.case, visible.loaded.facts
    if not command.body.strip():
        raise InvalidInput("write the progress note", {"body": "required"})
    decision = authorise(
        uow,
        actor,
        "intervention:record",
        facts,
        case_id=case.id,
        target=f"intervention:{intervention.id}",
        about=visible.about,
    )
    case_operations.require(uow, case, "record_progress")
    active = states.name(states.INTERVENTION, "active")  # sessions are delivered in it
    if intervention.state != active:
        # The intervention's state, not the note, is what is wrong: a conflict (409).
        workflow = uow.workflow(WORKFLOW)
        raise Conflict(
            "progress can only be recorded on an intervention in state “{active}”; this one is "
            "“{state}”",
            active=workflow.state_label(active),
            state=workflow.state_label(intervention.state),
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
