"""Moving running cases from one version of their workflow to another.

`referral workflows migrate referral --from 3 --to 4 --map old=new` plans each case of
version 3 (in one network or all): where it stands in version 4, whether it may go there,
and what its deadline and timers become. A dry run stops there; a real run moves each
case that may go in a transaction of its own, with an audit entry, and leaves every
refused case exactly as it was.

A case may go when its state has a counterpart in the new version (the same name, or
the one the mapping gives), the move neither closes an open case nor reopens a closed
one, and what still hangs open off it (requests an agency may answer, interventions
under way, consent asked for) may still be acted on in the new state. Its deadline and
timers are those of the new state, counted from when the case entered its state, so a
migration neither extends nor cuts anyone's time. Guards need nothing: they are asked
afresh at each move, against the version the case then runs.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import lazyload

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Permission
from referral.db.tables import Case, Consent, InformationRequest, Intervention, Network, Timer
from referral.domain import states
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.services import schedule, statistics
from referral.services.access import authorise
from referral.services.uow import STALE_MESSAGE, Runtime, UnitOfWork
from referral.workflow.operations import Via
from referral.workflow.schema import Workflow, WorkflowObject

ACTION = "case:migrate"
OPERATOR_RULE = "operator command: referral workflows migrate"


@dataclass(frozen=True)
class MigrateCases:
    workflow: str
    from_version: int
    to_version: int
    mapping: Mapping[str, str] = field(default_factory=dict)  # old state -> new state
    network_id: int | None = None  # None: every network (the operator's command)
    dry_run: bool = True


@dataclass(frozen=True)
class CaseMigration:
    """One case's line of the report: numbers and state names only, nothing personal."""

    case_id: int
    network: str
    from_state: str
    to_state: str | None
    refused: str = ""  # why the case stays where it is; empty when it moves
    due_before: datetime | None = None
    due_after: datetime | None = None
    timers_kept: tuple[str, ...] = ()  # pending before, scheduled again in the new state
    timers_cancelled: tuple[str, ...] = ()
    timers_added: tuple[str, ...] = ()

    @property
    def moves(self) -> bool:
        return not self.refused


@dataclass
class MigrationReport:
    command: MigrateCases
    lines: list[CaseMigration] = field(default_factory=list)

    @property
    def moved(self) -> int:
        return sum(line.moves for line in self.lines)

    @property
    def refused(self) -> int:
        return len(self.lines) - self.moved


@dataclass(frozen=True)
class _Versions:
    source: Workflow | None  # None: the file of the old version is no longer loaded
    target: Workflow


# What hangs open off a case, and the operation of the case workflow that acts on it.
@dataclass(frozen=True)
class _Live:
    operation: str
    words: str  # "open information request(s)"


_REQUESTS = _Live("answer_information_request", "open information request(s)")
_INTERVENTIONS = _Live("move_intervention", "intervention(s) planned or under way")
_CONSENTS = _Live("record_consent", "consent request(s) awaiting an answer")


def plan(uow: UnitOfWork, command: MigrateCases) -> MigrationReport:
    """Every case of the old version, each with where it would go or why it cannot.
    Reads only: a dry run is this."""
    versions = _versions(uow, command)
    report = MigrationReport(command)
    names = _network_names(uow)
    for case in _cases(uow, command):
        live = _live_records(uow, case.id)
        line = _plan_case(
            uow, versions, command, case, names[case.network_id], live,
            lambda: _pending_timers(uow, case.id),  # noqa: B023 - called at once, in the loop
        )  # fmt: skip
        report.lines.append(line)
    return report


def plan_for(uow: UnitOfWork, actor: Actor, command: MigrateCases) -> MigrationReport:
    """A dry run over the actor's own network (a coordinator's or an admin's page)."""
    authorise(uow, actor, Permission.WORKFLOW_MIGRATE, None)
    return plan(uow, replace(command, network_id=actor.network_id, dry_run=True))


def migrate(
    runtime: Runtime,
    command: MigrateCases,
    *,
    request_id: str = "migrate",
    progress: Callable[[CaseMigration], None] | None = None,
) -> MigrationReport:
    """A dry run's plan; or each case of the old version judged and, if it may go, moved
    in a transaction of its own, so what is written is judged on what is there."""
    with UnitOfWork(runtime, request_id=request_id) as uow:
        if command.dry_run:
            return plan(uow, command)
        versions = _versions(uow, command)
        names = _network_names(uow)
        ids = [case.id for case in _cases(uow, command)]
    report = MigrationReport(command)
    for case_id in ids:
        line = _move(runtime, command, versions, case_id, names, request_id)
        report.lines.append(line)
        if progress is not None:
            progress(line)
    return report


def report_line(line: CaseMigration) -> str:
    """One case's line of the report, in words."""
    where = f"case {line.case_id}" + (f" ({line.network})" if line.network else "")
    if not line.moves:
        return f"{where}: {line.from_state}: refused: {line.refused}".replace(": :", ":")
    parts = [f"{where}: {line.from_state} -> {line.to_state}"]
    if line.due_before != line.due_after:
        parts.append(f"deadline {_day(line.due_before)} -> {_day(line.due_after)}")
    for words, timers in (
        ("timers kept", line.timers_kept),
        ("cancelled", line.timers_cancelled),
        ("added", line.timers_added),
    ):
        if timers:
            parts.append(f"{words}: {', '.join(timers)}")
    return "; ".join(parts)


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "none"


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """`OLD=NEW` pairs, each state named once."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise InvalidInput("--map {pair!r}: write it as OLD_STATE=NEW_STATE", pair=pair)
        if old in mapping:
            raise InvalidInput(
                "--map {pair!r}: state '{old}' is already mapped", pair=pair, old=old
            )
        mapping[old] = new
    return mapping


def _versions(uow: UnitOfWork, command: MigrateCases) -> _Versions:
    name = command.workflow
    loaded = uow.runtime.workflows.versions(name)
    if not loaded:
        raise NotFound("no workflow '{name}' is loaded", name=name)
    target = uow.workflow_at(name, command.to_version)
    if target is None:
        raise NotFound(
            "{name} version {to_version} is not loaded (loaded: {loaded})",
            name=name,
            to_version=command.to_version,
            loaded=", ".join(map(str, loaded)),
        )
    if target.object is not WorkflowObject.CASE:
        raise InvalidInput("{name} is not a case workflow: only cases carry a version", name=name)
    if command.from_version == command.to_version:
        raise InvalidInput(
            "the cases already run {name} version {to_version}",
            name=name,
            to_version=command.to_version,
        )
    source = uow.workflow_at(name, command.from_version)
    problems = [
        f"--map {old}={new}: version {command.to_version} has no state '{new}'"
        for old, new in command.mapping.items()
        if new not in target.state_names
    ]
    if source is not None:
        problems += [
            f"--map {old}={new}: version {command.from_version} has no state '{old}'"
            for old, new in command.mapping.items()
            if old not in source.state_names
        ]
    if problems:
        listed = "\n".join(problems)  # each problem is a sentence of its own
        raise InvalidInput(listed)
    return _Versions(source, target)


def _network_names(uow: UnitOfWork) -> dict[int, str]:
    session = uow.unscoped("the report names each case's network by its slug")
    return {row.id: row.slug for row in session.execute(select(Network.id, Network.slug))}


def _cases(uow: UnitOfWork, command: MigrateCases) -> Sequence[Case]:
    session = uow.unscoped("an operator's migration reads the cases of every network it names")
    query = (
        select(Case)
        .options(lazyload(Case.subject))  # the plan reads states and dates, no one's data
        .where(
            Case.workflow_name == command.workflow,
            Case.workflow_version == command.from_version,
        )
        .order_by(Case.id)
    )
    if command.network_id is not None:
        query = query.where(Case.network_id == command.network_id)
    return session.scalars(query).all()


def _plan_case(
    uow: UnitOfWork,
    versions: _Versions,
    command: MigrateCases,
    case: Case,
    network: str,
    live: dict["_Live", int],
    pending_timers: Callable[[], Iterable[str]],
) -> CaseMigration:
    """Where the case goes and what becomes of its deadline and timers, or why it stays.
    `pending_timers` is asked only for a case that may go (a move cancels them as it asks)."""
    target_wf = versions.target
    target = command.mapping.get(case.state, case.state)
    refused = _refusal(versions, command, case, target, live)
    if refused:
        return CaseMigration(case.id, network, case.state, None, refused, case.due_at)
    pending = set(pending_timers())
    timed = {t.trigger for t in schedule.timed_transitions(target_wf, target)}
    if schedule.drifts(target_wf, target):
        timed.add(schedule.DRIFT)
    due_after = schedule.deadline(
        uow, case.network_id, target_wf.due_for(target), since=case.state_entered_at
    )
    return CaseMigration(
        case.id,
        network,
        case.state,
        target,
        due_before=case.due_at,
        due_after=due_after,
        timers_kept=tuple(sorted(pending & timed)),
        timers_cancelled=tuple(sorted(pending - timed)),
        timers_added=tuple(sorted(timed - pending)),
    )


def _refusal(
    versions: _Versions, command: MigrateCases, case: Case, target: str, live: dict["_Live", int]
) -> str:
    """Why the case may not go to `target` in the new version; empty when it may."""
    new, version = versions.target, command.to_version
    if target not in new.state_names:
        return (
            f"version {version} has no state '{case.state}': map it with --map {case.state}=STATE"
        )
    closed = case.closed_at is not None
    closes = target in new.closed_states or target in new.final_states
    if closed != closes:
        done = "close the open case" if closes else "reopen the closed case"
        return f"'{target}' would {done}: a migration only changes where a case stands"
    for kind, count in live.items():
        could = versions.source is None or versions.source.allows(kind.operation, case.state)
        if count and could and not new.allows(kind.operation, target):
            return (
                f"its {count} {kind.words} could no longer be acted on in"
                f" '{target}' of version {version}"
            )
    return ""


def _live_records(uow: UnitOfWork, case_id: int) -> dict[_Live, int]:
    """How many records of each kind still hang open off the case: one statement."""
    session = uow.unscoped("the case was found by the migration; these hang off it")
    row = session.execute(select(*_live_columns(uow)), {"case_id": case_id}).one()
    return _live_counts(row)


def _live_counts(row: Sequence[Any]) -> dict[_Live, int]:
    return {_REQUESTS: row[0], _INTERVENTIONS: row[1], _CONSENTS: row[2]}


def _live_columns(uow: UnitOfWork) -> tuple[Any, ...]:
    intervention = uow.workflow("intervention")
    live_interventions = tuple(
        s for s in intervention.state_names if intervention.one_via(Via.CASE_CLOSURE, s)
    )
    requested = states.name(states.CONSENT, "requested")
    return _live_columns_of(states.open_requests(), live_interventions, requested)


@lru_cache(maxsize=8)
def _live_columns_of(
    open_requests: tuple[str, ...], live_interventions: tuple[str, ...], requested: str
) -> tuple[Any, ...]:
    """Built once per set of state names: a migration asks them for every case."""

    def count(model: type[InformationRequest | Intervention | Consent], where: Any) -> Any:
        query = select(func.count()).select_from(model)
        return query.where(model.case_id == bindparam("case_id"), where).scalar_subquery()

    return (
        count(InformationRequest, InformationRequest.state.in_(open_requests)),
        count(Intervention, Intervention.state.in_(live_interventions)),
        count(Consent, Consent.state == requested),
    )


_PENDING_TIMERS = select(Timer.trigger).where(
    Timer.object_kind == str(WorkflowObject.CASE),
    Timer.object_id == bindparam("case_id"),
    Timer.state == schedule.PENDING,
)


def _pending_timers(uow: UnitOfWork, case_id: int) -> list[str]:
    session = uow.unscoped("the case was found by the migration; these are its timers")
    return list(session.scalars(_PENDING_TIMERS, {"case_id": case_id}))


def _move(
    runtime: Runtime,
    command: MigrateCases,
    versions: _Versions,
    case_id: int,
    names: dict[int, str],
    request_id: str,
) -> CaseMigration:
    """Judge and move one case in a transaction of its own: the case and what hangs open
    off it in one statement, its pending timers cancelled as they are read; a refusal or
    a race leaves it as it was."""
    try:
        with UnitOfWork(runtime, request_id=request_id) as uow:
            session = uow.unscoped("an operator's migration moves the case it planned")
            statement = (
                select(Case, *_live_columns(uow))
                .options(lazyload(Case.subject))
                .where(Case.id == bindparam("case_id"))
                .with_for_update(of=Case)
            )
            row = session.execute(statement, {"case_id": case_id}).one_or_none()
            if row is None or row[0].workflow_version != command.from_version:
                return CaseMigration(case_id, "", "", None, "the case changed; run it again")
            case, network = row[0], names[row[0].network_id]
            note = f"migrated to {versions.target.name} v{versions.target.version}"
            line = _plan_case(
                uow, versions, command, case, network, _live_counts(row[1:]),
                lambda: _cancel_pending(uow, case_id, note),
            )  # fmt: skip
            if line.moves:
                _write(uow, versions.target, case, line, network, command.from_version)
                uow.commit()
            return line
    except Conflict as exc:
        return CaseMigration(case_id, "", "", None, exc.message)


_TIMERS = cast(Table, Timer.__table__)
_CASES = cast(Table, Case.__table__)
# Core statements built once (a migration runs them for every case): the ORM's bulk
# UPDATE path would cost a case more than the statements themselves.
_CANCEL_PENDING = (
    update(_TIMERS)
    .where(
        _TIMERS.c.object_kind == str(WorkflowObject.CASE),
        _TIMERS.c.object_id == bindparam("moving"),
        _TIMERS.c.state == schedule.PENDING,
    )
    .values(state=schedule.CANCELLED, note=bindparam("note"))
    .returning(_TIMERS.c.trigger)
)
_MOVE_CASE = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("moving"), _CASES.c.version == bindparam("seen"))
    .values(
        state=bindparam("state"),
        workflow_version=bindparam("workflow_version"),
        workflow_hash=bindparam("workflow_hash"),
        due_at=bindparam("due_at"),
        version=bindparam("new_version"),
    )
)


def _cancel_pending(uow: UnitOfWork, case_id: int, note: str) -> list[str]:
    """Cancel the case's pending timers; their triggers (the new state's are made anew)."""
    connection = uow.unscoped("the case was found by the migration").connection()
    cancelled = connection.execute(_CANCEL_PENDING, {"moving": case_id, "note": note[:200]})
    return list(cancelled.scalars())


def _write(
    uow: UnitOfWork,
    target_wf: Workflow,
    case: Case,
    line: CaseMigration,
    network: str,
    from_version: int,
) -> None:
    assert line.to_state is not None
    connection = uow.unscoped("an operator's migration moves the case it planned").connection()
    values = {
        "moving": case.id,
        "seen": case.version,
        "state": line.to_state,
        "workflow_version": target_wf.version,
        "workflow_hash": target_wf.content_hash,
        "due_at": line.due_after,
        "new_version": case.version + 1,
    }
    if connection.execute(_MOVE_CASE, values).rowcount != 1:
        raise Conflict(STALE_MESSAGE)
    connection.execute(statistics.FOLLOW_MIGRATION, values)  # the outcome national counts
    schedule.enter(
        uow,
        target_wf,
        object_id=case.id,
        state=line.to_state,
        network_id=case.network_id,
        case_id=case.id,
        left=None,  # its pending timers were cancelled as they were read
        since=case.state_entered_at,
    )
    uow.audit(
        AuditRecord(
            action=ACTION,
            allowed=True,
            actor=system_actor(case.network_id, network),
            case_id=case.id,
            categories=("status",),
            rule=OPERATOR_RULE,
            change={
                "workflow": target_wf.name,
                "from_version": from_version,
                "to_version": target_wf.version,
                "from": line.from_state,
                "to": line.to_state,
                "due_before": _iso(line.due_before),
                "due_after": _iso(line.due_after),
                "timers_kept": list(line.timers_kept),
                "timers_cancelled": list(line.timers_cancelled),
                "timers_added": list(line.timers_added),
            },
            workflow_hash=target_wf.content_hash,
        )
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
