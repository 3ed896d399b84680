"""The work queue of those who screen and manage cases, and the network's organisations."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from referral.authz.filters import case_filter
from referral.db.tables import Case, Organisation
from referral.db.uow import UnitOfWork
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, PermissionDenied
from referral.domain.vocabulary import Category
from referral.services.access import record
from referral.workflow.schema import WorkflowObject

DUE_SOON = timedelta(days=2)
QUEUE_LIMIT = 200
# Who works the queue is the policy's to say: whoever may screen cases at all.
QUEUE_PERMISSION = ("case", "screen")
QUEUE_REFUSED = (
    "The work queue is for the network's coordinators and screeners. "
    "Your own referrals are under My referrals."
)


@dataclass(frozen=True)
class QueueRow:
    """One open case: status data only, with how close its deadline is."""

    case_id: int
    state: str
    due_at: datetime | None
    referring_org_kind: str
    submitted_at: datetime | None
    version: int
    overdue: bool
    due_soon: bool


@dataclass(frozen=True)
class WorkQueue:
    rows: list[QueueRow]
    total: int
    states: list[str]
    state: str
    now: datetime


@dataclass(frozen=True)
class ListQueue:
    state: str = ""
    limit: int = QUEUE_LIMIT


def open_case_states(uow: UnitOfWork) -> list[str]:
    """Every open state of the loaded case workflows, in the order the workflows list them."""
    states: dict[str, None] = {}
    for workflow in uow.runtime.workflows.values():
        if workflow.object == WorkflowObject.CASE:
            states.update((s, None) for s in workflow.state_names if s in workflow.open_states)
    return list(states)


def may_work_queue(uow: UnitOfWork, actor: Actor) -> bool:
    """True when some rule of the policy lets the actor screen cases."""
    return any(rule.allows for rule in uow.authz.rules_for(actor, *QUEUE_PERMISSION))


def work_queue(uow: UnitOfWork, actor: Actor, query: ListQueue) -> WorkQueue:
    """Open cases the actor may see, nearest deadline first; overdue and due-soon marked."""
    if not may_work_queue(uow, actor):
        decision = uow.authz.decide(actor, *QUEUE_PERMISSION, None, uow.now)
        uow.refuse(record(actor, "case:queue", decision), PermissionDenied(QUEUE_REFUSED))
    states = open_case_states(uow)
    if query.state and query.state not in states:
        raise InvalidInput(
            f"'{query.state}' is not an open state; choose one from the list",
            {"state": "Choose a state from the list."},
        )
    where = case_filter(uow.authz, actor, Category.STATUS, "read", uow.now)
    where = where & Case.state.in_([query.state] if query.state else states)
    cases = uow.repo.cases(where, limit=query.limit)
    now = uow.now
    rows = [
        QueueRow(
            case_id=c.id,
            state=c.state,
            due_at=c.due_at,
            referring_org_kind=c.referring_org_kind,
            submitted_at=c.submitted_at,
            version=c.version,
            overdue=c.due_at is not None and c.due_at < now,
            due_soon=c.due_at is not None and now <= c.due_at <= now + DUE_SOON,
        )
        for c in cases
    ]
    return WorkQueue(rows, uow.repo.count_cases(where), states, query.state, now)


@dataclass(frozen=True)
class OrganisationOption:
    id: int
    name: str
    kind: str


def network_organisations(uow: UnitOfWork, actor: Actor) -> list[OrganisationOption]:
    """The agencies of the actor's own network, by kind then name: no personal data."""
    rows = uow.session.scalars(
        select(Organisation)
        .where(Organisation.network_id == actor.network_id)
        .order_by(Organisation.kind, Organisation.name, Organisation.id)
    ).all()
    return [OrganisationOption(o.id, o.name, o.kind) for o in rows]
