"""Move cases and linked objects through their workflows, under policy, with audit.

The workflow package only says whether a move is allowed and where it goes; here the
move is persisted, the new deadline set, the timers of the new state scheduled (and
those of the old one cancelled), the notices of `notify` written (services.notifications)
and the audit entry written, in the caller's transaction. The worker fires timers
through these same functions (services.timers), as `system`.
"""

import json
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    bindparam,
    cast,
    exists,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import lazyload
from sqlalchemy.sql.functions import aggregate_strings

from referral.db import prepared
from referral.db.fields import categorised_columns, is_filled
from referral.db.repositories import current_connection, meeting_active, meeting_open
from referral.db.sealing import data_keys
from referral.db.tables import (
    AgendaItem,
    Case,
    Consent,
    ConsentScopeRow,
    DataKey,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    PanelMeeting,
    Subject,
)
from referral.domain import states
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.domain.facts import (
    CaseFacts,
    ConsentScope,
    GuardFacts,
    MeetingSlot,
    RecordFacts,
)
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.logging import get_logger
from referral.services import notifications, schedule, statistics, webhooks
from referral.services.access import authorise, record, refuse_unless_visible
from referral.services.case_status import STATUS_COLUMNS, AnyCase, CaseStatus
from referral.services.uow import STALE_MESSAGE, UnitOfWork
from referral.workflow.operations import Via, via_refusal
from referral.workflow.schema import Transition, Workflow

log = get_logger(__name__)


@dataclass(frozen=True)
class Moved:
    """The result of a transition, for the caller to report."""

    case_id: int
    from_state: str
    to_state: str
    version: int


@dataclass(frozen=True)
class LoadedCase:
    """A case the actor may see, with the facts its policy and its guards read."""

    case: Case
    facts: CaseFacts
    guards: GuardFacts


@dataclass(frozen=True)
class LoadedStatus:
    """A case's status columns the actor may see, with its policy and guard facts."""

    case: CaseStatus
    facts: CaseFacts
    guards: GuardFacts


def load_case(uow: UnitOfWork, actor: Actor, case_id: int) -> LoadedCase:
    """The case, if the actor may see it at all (otherwise "not found"), in one query.

    What `access.visible_case`, `case_facts` and `case_guard_facts` read in six round
    trips (the case, its meetings, interventions, consent and its scope, information
    requests, the open agenda), and the subject's wrapped data key the audit digest
    needs, come back in one row: a move costs its writes, not its reads. The guard facts
    are those of the moment of loading: a service that changes what a guard reads (a
    request, a consent, an agenda) before firing lets `fire_case` read them afresh.
    """
    row = _load_row(uow, actor, case_id, orm=True)
    case: Case = row[0]
    facts, guards = _facts_of(uow, actor, case, row)
    return LoadedCase(case, facts, guards)


def load_case_status(uow: UnitOfWork, actor: Actor, case_id: int) -> LoadedStatus:
    """As `load_case`, with the case's status columns only, for a move that changes nothing
    else: no ORM object is built, and `write_case` writes it with one Core UPDATE."""
    row = _load_row(uow, actor, case_id, orm=False)
    case = CaseStatus(*(row[i] for i in range(len(STATUS_COLUMNS))))
    facts, guards = _facts_of(uow, actor, case, row)
    return LoadedStatus(case, facts, guards)


def _load_row(uow: UnitOfWork, actor: Actor, case_id: int, *, orm: bool) -> Any:
    # The query names the actor's network itself (`network_id` below): built once and
    # bound per call, it cannot be a scope's statement, which is built per call.
    session = uow.unscoped("the query is bound to the actor's network by its own clause")
    statement = _load_statement(session.get_bind().dialect.name, orm)
    params = {"case_id": case_id, "network_id": actor.network_id, "user_id": actor.user_id}
    if orm:
        row = session.execute(statement, params).first()
    else:  # plain columns: on the cursor (db.prepared), without an execution context
        row = next(iter(prepared.named(current_connection(session), statement, params)), None)
    if row is None:
        raise NotFound("case {case} not found", case=case_id)
    data_keys(session).remember(case_id, row.key_id, row.key_wrapped, row.key_master)
    return row


def _facts_of(
    uow: UnitOfWork, actor: Actor, case: AnyCase, row: Any
) -> tuple[CaseFacts, GuardFacts]:
    """The facts in a `_load_row` row; "not found" (audited) if the actor may not see it."""
    consent_state = row.consent_state or states.NO_CONSENT
    scope: frozenset[ConsentScope] = frozenset()
    if consent_state == states.consent_given():
        scope = frozenset(
            ConsentScope(Category(c), OrgKind(k), Purpose(p)) for c, k, p in _rows(row.scopes)
        )
    facts = CaseFacts(
        case_id=case.id,
        network_id=case.network_id,
        state=case.state,
        referrer_user_id=case.referrer_user_id,
        coordinator_user_id=case.coordinator_user_id,
        meetings=tuple(
            MeetingSlot(int(i), _utc(at), bool(invited)) for i, at, invited in _rows(row.meetings)
        ),
        provider_org_ids=frozenset(int(o) for o in (row.providers or "").split(",") if o),
        consent_state=consent_state,
        consent_scope=scope,
        asked_org_ids=frozenset(int(o) for o in (row.asked or "").split(",") if o),
    )
    request_states = tuple(s for s in (row.request_states or "").split(",") if s)
    guards = GuardFacts(
        consent_state=consent_state,
        information_request_states=request_states,
        information_deadline_passed=bool(request_states)
        and row.requests_due is not None
        and row.requests_due <= uow.now,
        on_open_agenda=bool(row.on_open_agenda),
    )
    refuse_unless_visible(uow, actor, facts)
    return facts, guards


_LOAD_STATEMENTS: dict[tuple[str, bool], Select[Any]] = {}


def _load_statement(dialect: str, orm: bool) -> Select[Any]:
    """`load_case`'s query, built once per dialect: its parameters are bound at run time."""
    statement = _LOAD_STATEMENTS.get((dialect, orm))
    if statement is None:
        statement = _LOAD_STATEMENTS[dialect, orm] = _build_load_statement(dialect, orm)
    return statement


def _json_rows(dialect: str, *columns: Any) -> Any:
    """An aggregate of several columns per row, as a JSON array of arrays."""
    if dialect == "sqlite":
        return func.json_group_array(func.json_array(*columns))
    return func.json_agg(func.json_build_array(*columns))


def _build_load_statement(dialect: str, orm: bool) -> Select[Any]:
    case_id = Case.id
    latest_consent = (
        select(Consent.id)
        .where(Consent.case_id == case_id)
        .order_by(Consent.id.desc())
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )
    consent_state = (
        select(Consent.state).where(Consent.id == latest_consent).correlate(Case).scalar_subquery()
    )
    scopes = (
        select(
            _json_rows(
                dialect, ConsentScopeRow.category, ConsentScopeRow.org_kind, ConsentScopeRow.purpose
            )
        )
        .where(ConsentScopeRow.consent_id == latest_consent)
        .correlate(Case)
        .scalar_subquery()
    )
    invited = exists().where(
        MeetingAttendee.meeting_id == PanelMeeting.id,
        MeetingAttendee.user_id == bindparam("user_id"),
    )
    meetings = (
        select(_json_rows(dialect, PanelMeeting.id, PanelMeeting.scheduled_for, invited))
        .join(AgendaItem, AgendaItem.meeting_id == PanelMeeting.id)
        .where(
            AgendaItem.case_id == case_id,
            meeting_active(PanelMeeting.state),
        )
        .correlate(Case)
        .scalar_subquery()
    )
    providers = (
        select(aggregate_strings(cast(Intervention.provider_org_id, String), ","))
        .where(
            Intervention.case_id == case_id,
            *(Intervention.state != state for state in states.inactive_interventions()),
        )
        .correlate(Case)
        .scalar_subquery()
    )
    asked = (
        select(aggregate_strings(cast(InformationRequest.organisation_id, String), ","))
        .where(
            InformationRequest.case_id == case_id,
            *(InformationRequest.state != state for state in states.settled_by_agency()),
        )
        .correlate(Case)
        .scalar_subquery()
    )
    request_states = (
        select(aggregate_strings(InformationRequest.state, ","))
        .where(InformationRequest.case_id == case_id)
        .correlate(Case)
        .scalar_subquery()
    )
    requests_due = (
        select(func.max(InformationRequest.due_at))
        .where(InformationRequest.case_id == case_id)
        .correlate(Case)
        .scalar_subquery()
    )
    on_open_agenda: ColumnElement[bool] = exists().where(
        AgendaItem.case_id == case_id,
        AgendaItem.meeting_id == PanelMeeting.id,
        meeting_open(PanelMeeting.state),
    )
    case: Any = [Case] if orm else [_CASES.c[name] for name in STATUS_COLUMNS]
    statement = (
        select(
            *case,
            consent_state.label("consent_state"),
            scopes.label("scopes"),
            meetings.label("meetings"),
            providers.label("providers"),
            asked.label("asked"),
            request_states.label("request_states"),
            requests_due.label("requests_due"),
            on_open_agenda.correlate(Case).label("on_open_agenda"),
            DataKey.id.label("key_id"),
            DataKey.wrapped.label("key_wrapped"),
            DataKey.master_key_id.label("key_master"),
        )
        .outerjoin(Subject, Subject.id == Case.subject_id)
        .outerjoin(DataKey, DataKey.id == Subject.data_key_id)
        .where(Case.id == bindparam("case_id"), Case.network_id == bindparam("network_id"))
    )
    # The subject's row is not built here: a move reads only its key (above); a service
    # that reads the subject loads it on first touch.
    return statement.options(lazyload(Case.subject)) if orm else statement


def _rows(value: Any) -> list[list[Any]]:
    """The rows of a `_json_rows` aggregate: SQLite hands back text, psycopg a list."""
    if value is None:
        return []
    return list(json.loads(value) if isinstance(value, str) else value)


def _utc(value: Any) -> datetime:
    """A timestamp read out of a JSON aggregate (SQLite's text has no offset: it is UTC)."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


L = typing.TypeVar("L", InformationRequest, Intervention, Consent)


def case_linked(uow: UnitOfWork, actor: Actor, model: type[L], row_id: int) -> L | None:
    """A row that hangs off a case (a request, an intervention), if its case is in the
    actor's network: one query, where the scope's `get` reads the row, then its case."""
    scope = uow.scoped(actor)
    statement = (
        scope.select(model)
        .join(Case, Case.id == model.case_id)
        .where(model.id == row_id, scope.where(Case))
    )
    return typing.cast(L | None, scope.scalars(statement).first())


def _orm(uow: UnitOfWork, case: AnyCase) -> Case:
    """The case as an ORM object (to read its sealed fields), loading it if need be."""
    if isinstance(case, Case):
        return case
    found = uow.unscoped("the case came through the actor's scope").get(Case, case.id)
    if found is None:
        raise NotFound("case {case} not found", case=case.id)
    return found


def case_workflow(uow: UnitOfWork, case: AnyCase) -> Workflow:
    """The workflow version the case runs on: loaded side by side with the newest."""
    workflow = uow.workflow_at(case.workflow_name, case.workflow_version)
    if workflow is None:
        raise Conflict(
            "case {case} runs {workflow} version {version}, which is no longer loaded: put its "
            "file back beside the newest, or migrate the case (referral workflows migrate)",
            case=case.id,
            workflow=case.workflow_name,
            version=case.workflow_version,
        )
    return workflow


def trigger_via(uow: UnitOfWork, case: AnyCase, via: str) -> str:
    """The trigger the case's workflow fires `via` a service from the case's state; a
    conflict naming the state when the file gives it none there."""
    return _trigger_via(case_workflow(uow, case), via, case.state)


def linked_trigger_via(uow: UnitOfWork, workflow_name: str, via: str, state: str) -> str:
    """As `trigger_via`, for a linked record in `state` (a consent, a request)."""
    return _trigger_via(uow.workflow(workflow_name), via, state)


def _trigger_via(workflow: Workflow, via: str, state: str) -> str:
    transition = workflow.one_via(via, state)
    if transition is None:
        raise via_refusal(workflow, via, state)
    return transition.trigger


def permission_of(workflow: Workflow, trigger: str) -> str:
    permissions = {t.permission for t in workflow.transitions if t.trigger == trigger}
    if not permissions:
        raise InvalidInput(
            "unknown action '{trigger}' for workflow {name}", trigger=trigger, name=workflow.name
        )
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
    case: AnyCase,
    facts: CaseFacts,
    trigger: str,
    *,
    expected_version: int | None = None,
    categories: tuple[str, ...] = (),
    change: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    guards: GuardFacts | None = None,
) -> Moved:
    """Fire `trigger` on a case the actor can see; everything in the caller's transaction.

    `status` holds status fields the move sets on the case (its coordinator, say): set
    with the new state, they reach the database in the move's one UPDATE. `guards`: the
    guard facts `load_case` read, when nothing they depend on has changed since.
    """
    if expected_version is not None and expected_version != case.version:
        raise Conflict(
            "case {case} changed since you loaded it (version {loaded}, now {version}); "
            "reload it and try again",
            case=case.id,
            loaded=expected_version,
            version=case.version,
        )
    workflow = case_workflow(uow, case)
    permission = permission_of(workflow, trigger)
    decision = authorise(uow, actor, permission, facts, case_id=case.id)
    transition = workflow.transition(trigger, case.state)
    if transition is not None and transition.requires:
        missing = missing_requirements(_orm(uow, case), list(transition.requires))
        if missing:
            raise InvalidInput(
                "cannot {trigger}: fill in {fields} first",
                dict.fromkeys(missing, "required"),
                trigger=trigger,
                fields=", ".join(missing),
            )
    # Read (flushing what the caller changed first) before the case itself changes.
    if guards is None:
        guards = uow.repo.case_guard_facts(_orm(uow, case), uow.now)
    from_state = case.state
    to_state = uow.engine.fire(workflow, from_state, trigger, guards)
    # The moved case is written once, by `write_case`: the reads on the way (holidays,
    # recipients) must not flush it half-moved, each flush an UPDATE and a version.
    with uow.unscoped("no row is read or written here: reads must not flush").no_autoflush:
        for name, value in (status or {}).items():
            setattr(case, name, value)
        enter_state(uow, case, workflow, to_state)
        if transition is not None:  # the notices are flushed and committed with the move
            notifications.notify_transition(uow, actor, case, transition, from_state, to_state)
    write_case(uow, case)
    uow.flush()
    # The partners' webhooks, in the move's transaction too (delivered by the worker).
    transfer = workflow.meanings.get(webhooks.TRANSFERRED) == to_state
    webhooks.case_moved(
        uow, case.id, case.network_id, actor.network, trigger, from_state, to_state,
        transfer=transfer,
    )  # fmt: skip
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
    if from_state in workflow.open_states and to_state not in workflow.open_states:
        end_with_case(uow, actor, case)
    log.info(
        "case_moved", case_id=case.id, trigger=trigger, from_state=from_state, to_state=to_state
    )
    return Moved(case.id, from_state, to_state, case.version)


# The linked records a closing case may leave open: the model and its workflow's name.
_ENDED_WITH_CASE = ((Intervention, "intervention"), (InformationRequest, "information_request"))


def end_with_case(uow: UnitOfWork, actor: Actor, case: AnyCase) -> None:
    """A case that closes ends what still hangs open off it, in the same transaction: each
    linked record in a state its workflow ends via the case's closure (an intervention
    planned or under way, a request the agency has not answered). The network's system
    role makes each move, audited and notified as a move of its own."""
    system = system_actor(case.network_id, actor.network)
    scope = uow.scoped(system)
    facts: CaseFacts | None = None
    for model, name in _ENDED_WITH_CASE:
        workflow = uow.workflow(name)
        open_states = sorted({s for t in workflow.via(Via.CASE_CLOSURE) for s in t.source})
        if not open_states:
            continue
        rows = scope.all(
            scope.select(model).where(model.case_id == case.id, model.state.in_(open_states))
        )
        for row in rows:
            facts = facts or uow.repo.case_facts(_orm(uow, case), system)
            fire_linked(
                uow,
                system,
                row,
                name,
                _trigger_via(workflow, Via.CASE_CLOSURE, row.state),
                facts,
                GuardFacts(),
                case_id=case.id,
                target=f"{name}:{row.id}",
                change={"because": "the case closed"},
            )


_CASES = typing.cast(Table, Case.__table__)
# The status columns a move writes. A move that changed only these (most do) is written
# by one prebuilt Core UPDATE; anything else (a sealed field, a new case) by the ORM.
_MOVE_COLUMNS = (
    "state",
    "state_entered_at",
    "due_at",
    "closed_at",
    "coordinator_user_id",
    "outcome_for_referrer",
)
_WRITE_CASE = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("case_id"), _CASES.c.version == bindparam("seen_version"))
    .values({name: bindparam(name) for name in (*_MOVE_COLUMNS, "version")})
)


def write_case(uow: UnitOfWork, case: AnyCase) -> None:
    """Write the moved case now, its version check in the UPDATE itself.

    `UPDATE cases SET ... WHERE id = :id AND version = :seen`: when another transaction
    moved the case first, no row matches and the move is a Conflict (409), as the ORM's
    own version check would make it, without the ORM's unit of work. The case object is
    then marked as written, so the session flushes nothing more for it.
    """
    state = None if isinstance(case, CaseStatus) else inspect(case)
    if state is not None and (
        not state.persistent or not set(state.committed_state) <= set(_MOVE_COLUMNS)
    ):
        return  # the session's flush writes it, with the same version check
    values = {name: getattr(case, name) for name in _MOVE_COLUMNS}
    seen = case.version
    values["version"] = seen + 1
    session = uow.unscoped("the case came through the actor's scope: this writes it back")
    written = prepared.write(
        session.connection(), _WRITE_CASE, [{**values, "case_id": case.id, "seen_version": seen}]
    )
    if written != 1:
        raise Conflict(STALE_MESSAGE)
    case.version = values["version"]
    if state is not None:
        # As the ORM marks an object it has just flushed: all written, nothing to flush.
        # (Its public `set_committed_value` leaves the object flagged modified, and every
        # later flush of the unit of work would walk it again to find nothing to write.)
        state._commit_all(state.dict, session.identity_map)


def enter_state(uow: UnitOfWork, case: AnyCase, workflow: Workflow, state: str) -> None:
    """Move the case into `state`: its deadline (network holidays counted) and its timers."""
    left = case.state
    case.state = state
    case.state_entered_at = uow.now
    case.due_at = schedule.deadline(uow, case.network_id, workflow.due_for(state))
    if state in workflow.closed_states or state in workflow.final_states:
        case.closed_at = case.closed_at or uow.now
    statistics.follow_case(uow, case.id, workflow, state)
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
    about: RecordFacts | None = None,
) -> str:
    """Fire a trigger on a linked object (consent, request, meeting, intervention).
    `about`: the object as the policy's conditions see it, when they judge it (an
    intervention: `assigned` asks whether it is the actor's organisation's)."""
    workflow = uow.workflow(workflow_name)
    permission = permission_of(workflow, trigger)
    decision = authorise(uow, actor, permission, facts, case_id=case_id, target=target, about=about)
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
    if moved is not None and moved.via == Via.REQUEST_ANSWER:
        webhooks.request_answered(uow, actor.network_id, actor.network, case_id, obj)
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


def available_transitions(
    uow: UnitOfWork, actor: Actor, case: Case, facts: CaseFacts
) -> list[Transition]:
    """The transitions `actor` may fire on `case` now: guards pass, policy allows, fields filled.

    Read-only: nothing is audited, since nothing is attempted. A case pinned to a workflow
    version that is no longer loaded offers nothing until it is migrated.
    """
    workflow = uow.workflow_at(case.workflow_name, case.workflow_version)
    if workflow is None:
        return []
    guard_facts = uow.repo.case_guard_facts(case, uow.now)
    return [
        t
        for t in uow.engine.available(workflow, case.state, guard_facts)
        if uow.authz.permission(actor, t.permission, facts, uow.now).allowed
        and not missing_requirements(case, list(t.requires))
    ]
