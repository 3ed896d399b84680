"""The work queue of those who screen and manage cases, and the network's organisations."""

from dataclasses import dataclass
from datetime import datetime

from referral.authz.filters import case_filter
from referral.db.tables import Case, Organisation
from referral.domain.actors import Actor
from referral.domain.calendar import add_days
from referral.domain.errors import InvalidInput, PermissionDenied
from referral.domain.vocabulary import Category
from referral.services.access import record
from referral.services.uow import UnitOfWork
from referral.workflow.schema import WorkflowObject

DUE_SOON_DAYS = 2  # working days; `REFERRAL_DUE_SOON_DAYS` in the pages
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
    # Set while a drift alert is unanswered: no recorded change to the case since then.
    idle_since: datetime | None = None
    # Information requests past their deadline with no answer yet.
    overdue_requests: int = 0


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
    due_soon_days: int = DUE_SOON_DAYS


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
    """Open cases the actor may see, nearest deadline first; overdue, due soon (within
    `due_soon_days` working days of the network), overdue information requests and
    drifting cases marked."""
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
    soon = add_days(
        now, query.due_soon_days, working=True, holidays=uow.repo.holidays(actor.network_id)
    )
    ids = [c.id for c in cases]
    idle, late_requests = idle_since(uow, ids), uow.repo.overdue_requests(ids)
    rows = [
        QueueRow(
            case_id=c.id,
            state=c.state,
            due_at=c.due_at,
            referring_org_kind=c.referring_org_kind,
            submitted_at=c.submitted_at,
            version=c.version,
            overdue=c.due_at is not None and c.due_at < now,
            due_soon=c.due_at is not None and now <= c.due_at <= soon,
            idle_since=idle.get(c.id),
            overdue_requests=late_requests.get(c.id, 0),
        )
        for c in cases
    ]
    return WorkQueue(rows, uow.repo.count_cases(where), states, query.state, now)


def idle_since(uow: UnitOfWork, case_ids: list[int]) -> dict[int, datetime]:
    """Cases whose latest drift alert came after their latest change: since when idle."""
    alerts = uow.repo.drift_alerts(case_ids)
    if not alerts:
        return {}
    changed = uow.repo.last_case_activity(list(alerts))
    return {
        case_id: changed[case_id]
        for case_id, alerted in alerts.items()
        if case_id in changed and changed[case_id] < alerted
    }


@dataclass(frozen=True)
class OrganisationOption:
    id: int
    name: str
    kind: str


def network_organisations(uow: UnitOfWork, actor: Actor) -> list[OrganisationOption]:
    """The agencies of the actor's own network, by kind then name: no personal data."""
    scope = uow.scoped(actor)
    rows = scope.all(
        scope.select(Organisation).order_by(Organisation.kind, Organisation.name, Organisation.id)
    )
    return [OrganisationOption(o.id, o.name, o.kind) for o in rows]
