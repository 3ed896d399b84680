"""The work queue of those who screen and manage cases, and the network's organisations."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Label, Row, and_, func, or_, select, true, union_all
from sqlalchemy.orm import InstrumentedAttribute

from referral.db.base import AnySelect
from referral.db.repositories import CasePosition
from referral.db.tables import Case, InformationRequest, Organisation, SearchToken, Timer
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.calendar import add_days
from referral.domain.errors import InvalidInput, NotFound, PermissionDenied
from referral.domain.vocabulary import Category, ConcernType, Role
from referral.i18n import N_
from referral.services.access import record
from referral.services.scope import Scope, prepared_select
from referral.services.search import concern_value, tokens_of
from referral.services.uow import UnitOfWork
from referral.workflow.schema import WorkflowObject

DUE_SOON_DAYS = 2  # working days; `REFERRAL_DUE_SOON_DAYS` in the pages
QUEUE_LIMIT = 50
QUEUE_COLUMNS = (
    Case.id,
    Case.state,
    Case.due_at,
    Case.referring_org_kind,
    Case.submitted_at,
    Case.version,
    Case.reference,
)
# Counting every open case of a large network on each view costs more than the page: the
# count stops here and the page says "more than".
COUNT_CAP = 1000
# Ids are 32-bit integers in the database: a larger one in a position is no case's, and
# PostgreSQL would refuse to compare it with an id column.
MAX_CASE_ID = 2**31 - 1
STALE_PAGE = N_("This page link is out of date or damaged. Start again from the first page.")
# Who works the queue is the policy's to say: whoever may screen cases at all.
QUEUE_PERMISSION = ("case", "screen")
QUEUE_REFUSED = N_(
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
    reference: str = ""


# The queue's filters' choices, in the words the page shows.
DEADLINES = {"overdue": N_("Overdue"), "week": N_("Due within 7 days")}
ASSIGNEES = {"me": N_("Assigned to me"), "none": N_("Not assigned yet")}
CONCERNS = tuple(ConcernType)


@dataclass(frozen=True)
class ListQueue:
    state: str = ""
    limit: int = QUEUE_LIMIT
    due_soon_days: int = DUE_SOON_DAYS
    after: str = ""  # a position from a previous page's `next_after`
    deadline: str = ""  # a key of DEADLINES, or "" for any
    assignee: str = ""  # a key of ASSIGNEES, or "" for anyone
    concern: str = ""  # a concern type, or "" for any

    def filters(self) -> dict[str, str]:
        """The filters in force, as the page's query names them (for its links)."""
        chosen = {
            "state": self.state,
            "deadline": self.deadline,
            "assignee": self.assignee,
            "concern": self.concern,
        }
        return {name: value for name, value in chosen.items() if value}


@dataclass(frozen=True)
class WorkQueue:
    rows: list[QueueRow]
    total: int  # at most COUNT_CAP
    states: list[str]
    state: str
    now: datetime
    total_capped: bool = False  # there are more than `total`
    after: str = ""  # this page starts after that position ("" for the first page)
    next_after: str = ""  # the next page starts after this one ("" when this is the last)
    asked: ListQueue = ListQueue()
    deadlines: tuple[tuple[str, str], ...] = tuple(DEADLINES.items())
    assignees: tuple[tuple[str, str], ...] = tuple(ASSIGNEES.items())
    concerns: tuple[str, ...] = CONCERNS

    @property
    def filtered(self) -> bool:
        return bool(self.asked.filters())

    @property
    def base(self) -> str:
        """The queue's address with its filters, ready for `after=`."""
        query = urlencode(self.asked.filters())
        return f"/queue?{query}&" if query else "/queue?"


def position_of(due_at: datetime | None, case_id: int) -> str:
    """Where a page ends, in the case lists' order (deadline, then id): the next page's
    start. The work queue and the API's case list share the form."""
    # In UTC with a "Z": nothing in it a URL's query needs to escape ("+" reads as a space).
    due = due_at.astimezone(UTC).isoformat().replace("+00:00", "Z") if due_at is not None else ""
    return f"{due}~{case_id}"


def parse_position(after: str) -> CasePosition | None:
    if not after:
        return None
    due_text, sep, id_text = after.rpartition("~")
    try:
        if not sep or not id_text.isdigit() or int(id_text) > MAX_CASE_ID:
            raise ValueError(after)
        due = datetime.fromisoformat(due_text) if due_text else None
        if due is not None and due.tzinfo is None:
            raise ValueError(after)  # every position given out names its zone (UTC)
    except ValueError:
        raise InvalidInput(STALE_PAGE, {"after": N_("Start from the first page.")}) from None
    return CasePosition(due, int(id_text))


# The case lists' order: nearest deadline first, no deadline last, then by id. In this
# form an index on (network_id, due_at, id) serves it on both backends, with no sort.
CASE_ORDER = (Case.due_at.asc().nulls_last(), Case.id)


def case_rows(
    scope: Scope,
    columns: Sequence[InstrumentedAttribute[Any] | Label[Any]],
    where: ColumnElement[bool],
    *,
    limit: int,
    offset: int = 0,
    after: CasePosition | None = None,
) -> Sequence[Row[Any]]:
    """One page of a case list: the named columns only, in `CASE_ORDER`.

    Columns, not `Case` objects: a list shows status data, and loading whole cases (each
    with its subject, each field's sealing hooks) cost several times the query itself.
    `where` carries the policy's filter, network included.
    """
    page = scope.select(*columns).where(where).order_by(*CASE_ORDER)
    if after is None:
        return scope.execute(page.limit(limit).offset(offset)).all()  # type: ignore[no-any-return]
    if after.due_at is None:  # among the cases with no deadline: one range of the index
        page = page.where(Case.due_at.is_(None), Case.id > after.case_id)
        return scope.execute(page.limit(limit).offset(offset)).all()  # type: ignore[no-any-return]
    # The cases after a deadline are "due later, or due then with a higher id, or due
    # never": as one OR, neither database reads it as a range of the index, and both
    # read (and sort) every later case of the network for one page, so the deeper the
    # page, the slower. Apart, each part is a range the index hands over in order, and
    # at most 2 x limit rows are merged.
    due, case_id = after.due_at, after.case_id
    dated = page.where(Case.due_at >= due, or_(Case.due_at > due, Case.id > case_id))
    undated = page.where(Case.due_at.is_(None))
    dated, undated = dated.limit(limit + offset), undated.limit(limit + offset)
    both = union_all(scope.select(dated.subquery()), scope.select(undated.subquery())).subquery()
    merged = scope.select(*both.c).order_by(both.c.due_at.asc().nulls_last(), both.c.id)
    return scope.execute(merged.limit(limit).offset(offset)).all()  # type: ignore[no-any-return]


def open_case_states(uow: UnitOfWork) -> list[str]:
    """Every open state of the loaded case workflows, in the order the workflows list them."""
    states: dict[str, None] = {}
    for workflow in uow.runtime.workflows.every():  # cases on earlier versions too
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
    if actor.roles == {Role.INVITED_OFFICIAL}:
        # An official summoned from elsewhere reaches one meeting's page, nothing more:
        # not even that the network has a queue.
        raise NotFound("page not found")
    if not may_work_queue(uow, actor):
        decision = uow.authz.decide(actor, *QUEUE_PERMISSION, None, uow.now)
        uow.refuse(record(actor, "case:queue", decision), PermissionDenied(QUEUE_REFUSED))
    states = open_case_states(uow)
    if query.state and query.state not in states:
        raise InvalidInput(
            "'{state}' is not an open state; choose one from the list",
            {"state": N_("Choose a state from the list.")},
            state=query.state,
        )
    scope = uow.scoped(actor)
    where = scope.case_filter(Category.STATUS, "read")
    where = where & Case.state.in_([query.state] if query.state else states)
    where = where & _filters(uow, scope, actor, query)
    after = parse_position(query.after)
    columns = (*QUEUE_COLUMNS, _overdue_requests(), _last_drift_alert())
    page = case_rows(scope, columns, where, limit=query.limit + 1, after=after)
    cases, more = page[: query.limit], len(page) > query.limit
    now = uow.now
    soon = add_days(
        now, query.due_soon_days, working=True, holidays=uow.repo.holidays(actor.network_id)
    )
    idle = idle_since(uow, {c.id: c.drift_alert for c in cases if c.drift_alert is not None})
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
            overdue_requests=c.overdue_requests,
            reference=c.reference,
        )
        for c in cases
    ]
    # A first page that holds the whole queue has counted it already.
    whole = after is None and not more
    total = len(cases) if whole else uow.repo.count_cases(where, cap=COUNT_CAP)
    return WorkQueue(
        rows,
        min(total, COUNT_CAP),
        states,
        query.state,
        now,
        total_capped=total > COUNT_CAP,
        after=query.after,
        next_after=position_of(cases[-1].due_at, cases[-1].id) if more and cases else "",
        asked=query,
    )


def _filters(uow: UnitOfWork, scope: Scope, actor: Actor, query: ListQueue) -> ColumnElement[bool]:
    """The deadline, assignee and concern-type filters, in SQL. A concern type is sealed
    with the case: it is matched through the blind index (services.search), and only on
    cases whose concern the actor may read."""
    clauses: list[ColumnElement[bool]] = []
    now = uow.now
    if query.deadline == "overdue":
        clauses.append(Case.due_at < now)
    elif query.deadline == "week":
        clauses.append(Case.due_at >= now)
        clauses.append(Case.due_at <= now + timedelta(days=7))
    elif query.deadline:
        raise InvalidInput(
            "choose a deadline from the list", {"deadline": N_("Choose from the list.")}
        )
    if query.assignee == "me":
        clauses.append(Case.coordinator_user_id == actor.user_id)
    elif query.assignee == "none":
        clauses.append(Case.coordinator_user_id.is_(None))
    elif query.assignee:
        raise InvalidInput(
            "choose whose cases from the list", {"assignee": N_("Choose from the list.")}
        )
    if query.concern:
        if query.concern not in CONCERNS:
            raise InvalidInput(
                "choose a type of concern from the list", {"concern": N_("Choose from the list.")}
            )
        token = tokens_of(uow, actor.network_id, {concern_value(query.concern)})[0]
        tagged = select(SearchToken.case_id).where(
            scope.where(SearchToken), SearchToken.token == token
        )
        clauses.append(scope.case_filter(Category.CONCERN, "read"))
        clauses.append(Case.id.in_(tagged))
    return and_(true(), *clauses)


# Two per-row facts of the queue, as correlated subqueries of the page's one statement
# (each an index lookup per row): two round trips fewer on every view.
def _overdue_requests() -> Label[int]:
    """How many of the case's information requests are overdue (and still unanswered)."""
    return (
        select(func.count())
        .where(
            InformationRequest.case_id == Case.id,
            InformationRequest.state == states.name(states.REQUEST, "overdue"),
        )
        .correlate(Case)
        .scalar_subquery()
        .label("overdue_requests")
    )


def _last_drift_alert() -> Label[datetime | None]:
    """When the case's latest drift alert fired, if it has one."""
    return (
        select(func.max(Timer.fired_at))
        .where(
            Timer.object_kind == "case",
            Timer.object_id == Case.id,
            Timer.state == "fired",
            Timer.kind == "drift",
        )
        .correlate(Case)
        .scalar_subquery()
        .label("drift_alert")
    )


def idle_since(uow: UnitOfWork, alerts: dict[int, datetime]) -> dict[int, datetime]:
    """Of the cases with a drift alert (case id -> its latest), those with no change since
    it: since when they are idle."""
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
    rows = uow.scoped(actor).rows(Organisation, _organisations_query())
    return [OrganisationOption(row["id"], row["name"], row["kind"]) for row in rows]


@cache
def _organisations_query() -> AnySelect:
    """The network's agencies, built once per process (the scope binds the network)."""
    columns = (Organisation.id, Organisation.name, Organisation.kind)
    return prepared_select(*columns).order_by(Organisation.kind, Organisation.name, Organisation.id)
