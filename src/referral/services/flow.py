"""Move cases and linked objects through their workflows, under policy, with audit.

The workflow package only says whether a move is allowed and where it goes; here the
move is persisted, the new deadline set, the timers of the new state scheduled (and
those of the old one cancelled), the notices of `notify` written (services.notifications)
and the audit entry written, in the caller's transaction. The worker fires timers
through these same functions (services.timers), as `system`.
"""

from dataclasses import dataclass
from typing import Any

from referral.db.fields import categorised_columns, is_filled
from referral.db.tables import Case
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, InvalidInput
from referral.domain.facts import CaseFacts, GuardFacts
from referral.logging import get_logger
from referral.services import notifications, schedule
from referral.services.access import authorise, record
from referral.services.uow import UnitOfWork
from referral.workflow.schema import Workflow

log = get_logger(__name__)


@dataclass(frozen=True)
class Moved:
    """The result of a transition, for the caller to report."""

    case_id: int
    from_state: str
    to_state: str
    version: int


def case_workflow(uow: UnitOfWork, case: Case) -> Workflow:
    workflow = uow.workflow(case.workflow_name)
    if workflow.version != case.workflow_version:
        raise Conflict(
            f"case {case.id} runs {case.workflow_name} version {case.workflow_version}, "
            f"but version {workflow.version} is loaded: migrate the case first"
        )
    return workflow


def permission_of(workflow: Workflow, trigger: str) -> str:
    permissions = {t.permission for t in workflow.transitions if t.trigger == trigger}
    if not permissions:
        raise InvalidInput(f"unknown action '{trigger}' for workflow {workflow.name}")
    return sorted(permissions)[0]


def missing_requirements(case: Case, requires: list[str]) -> list[str]:
    """Names from `requires` (fields or whole categories) that hold nothing yet."""
    missing = []
    for requirement in requires:
        values = [
            getattr(obj, name)
            for obj in (case, case.subject)
            for name, category in categorised_columns(type(obj)).items()
            if requirement in (name, category)
        ]
        if not any(is_filled(v) for v in values):
            missing.append(requirement)
    return missing


def fire_case(
    uow: UnitOfWork,
    actor: Actor,
    case: Case,
    facts: CaseFacts,
    trigger: str,
    *,
    expected_version: int | None = None,
    categories: tuple[str, ...] = (),
    change: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
) -> Moved:
    """Fire `trigger` on a case the actor can see; everything in the caller's transaction.

    `status` holds status fields the move sets on the case (its coordinator, say): set
    with the new state, they reach the database in the move's one UPDATE.
    """
    if expected_version is not None and expected_version != case.version:
        raise Conflict(
            f"case {case.id} changed since you loaded it (version {expected_version}, "
            f"now {case.version}); reload it and try again"
        )
    workflow = case_workflow(uow, case)
    permission = permission_of(workflow, trigger)
    decision = authorise(uow, actor, permission, facts, case_id=case.id)
    transition = workflow.transition(trigger, case.state)
    if transition is not None:
        missing = missing_requirements(case, list(transition.requires))
        if missing:
            raise InvalidInput(
                f"cannot {trigger}: fill in {', '.join(missing)} first",
                dict.fromkeys(missing, "required"),
            )
    guard_facts = uow.repo.case_guard_facts(case, uow.now)
    from_state = case.state
    to_state = uow.engine.fire(workflow, from_state, trigger, guard_facts)
    for name, value in (status or {}).items():
        setattr(case, name, value)
    enter_state(uow, case, workflow, to_state)
    if transition is not None:  # the notices are flushed and committed with the move
        notifications.notify_transition(uow, actor, case, transition, from_state, to_state)
    uow.flush()
    uow.audit(
        record(
            actor,
            f"case:{trigger}",
            decision,
            case_id=case.id,
            categories=("status", *categories),
            change={"from": from_state, "to": to_state, **(change or {})},
            workflow_hash=case.workflow_hash,
        )
    )
    log.info(
        "case_moved", case_id=case.id, trigger=trigger, from_state=from_state, to_state=to_state
    )
    return Moved(case.id, from_state, to_state, case.version)


def enter_state(uow: UnitOfWork, case: Case, workflow: Workflow, state: str) -> None:
    """Move the case into `state`: its deadline (network holidays counted) and its timers."""
    left = case.state
    case.state = state
    case.state_entered_at = uow.now
    case.due_at = schedule.deadline(uow, case.network_id, workflow.due_for(state))
    if state in workflow.closed_states or state in workflow.final_states:
        case.closed_at = case.closed_at or uow.now
    schedule.enter(
        uow,
        workflow,
        object_id=case.id,
        state=state,
        network_id=case.network_id,
        case_id=case.id,
        left=left,
    )


def fire_linked(
    uow: UnitOfWork,
    actor: Actor,
    obj: Any,
    workflow_name: str,
    trigger: str,
    facts: CaseFacts | None,
    guard_facts: GuardFacts,
    *,
    case_id: int | None,
    target: str,
    change: dict[str, Any] | None = None,
    categories: tuple[str, ...] = (),
) -> str:
    """Fire a trigger on a linked object (consent, request, meeting, intervention)."""
    workflow = uow.workflow(workflow_name)
    permission = permission_of(workflow, trigger)
    decision = authorise(uow, actor, permission, facts, case_id=case_id, target=target)
    from_state = obj.state
    obj.state = uow.engine.fire(workflow, from_state, trigger, guard_facts)
    schedule.enter(
        uow,
        workflow,
        object_id=obj.id,
        state=obj.state,
        network_id=actor.network_id,
        case_id=case_id,
        left=from_state,
    )
    moved = workflow.transition(trigger, from_state)
    if moved is not None:
        notifications.notify_linked(uow, actor, obj, workflow, moved, case_id)
    uow.flush()
    uow.audit(
        record(
            actor,
            permission,
            decision,
            case_id=case_id,
            target=target,
            categories=categories,
            change={"from": from_state, "to": obj.state, **(change or {})},
            workflow_hash=workflow.content_hash,
        )
    )
    return str(obj.state)


def available_transitions(uow: UnitOfWork, actor: Actor, case: Case, facts: CaseFacts) -> list[Any]:
    """The transitions `actor` may fire on `case` now: guards pass, policy allows, fields filled.

    Read-only: nothing is audited, since nothing is attempted. A case pinned to a workflow
    version that is no longer loaded offers nothing until it is migrated.
    """
    workflow = uow.workflow(case.workflow_name)
    if workflow.version != case.workflow_version:
        return []
    guard_facts = uow.repo.case_guard_facts(case, uow.now)
    return [
        t
        for t in uow.engine.available(workflow, case.state, guard_facts)
        if uow.authz.permission(actor, t.permission, facts, uow.now).allowed
        and not missing_requirements(case, list(t.requires))
    ]
