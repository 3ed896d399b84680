"""What the clock owes an object that enters a state: its deadline and its timers.

Called in the transaction of the move (services.flow), so a move and its timers commit
together or not at all. Entering a state cancels the timers still pending from the state
left, and schedules one timer per `timer` transition leaving the new state, plus a drift
check when the object is one people are expected to work on (see `drifts`).
"""

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update

from referral.db import prepared
from referral.db.tables import Timer
from referral.domain.calendar import add_days, add_period
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via
from referral.workflow.schema import Due, Transition, Workflow, WorkflowObject

TRANSITION = "transition"
DRIFT = "drift"
PENDING, FIRED, CANCELLED, FAILED = "pending", "fired", "cancelled", "failed"


# Drift alerts watch the work people do: cases and interventions.
DRIFT_OBJECTS = frozenset({WorkflowObject.CASE, WorkflowObject.INTERVENTION})


_TIMERS = cast(Table, Timer.__table__)

# The statements of `enter`, built once (a move runs them every time): Core on the table,
# so neither the ORM's unit of work nor a statement built afresh costs a move anything.
#
# A timer a worker is firing right now is locked: cancelling skips it rather than wait
# (waiting could deadlock with the worker, which locks the timer, then the object). The
# worker's move then conflicts with this one, and the timer, found pending on its next
# claim with the object moved on, is cancelled there. SQLite ignores the lock clause.
_CANCEL = (
    update(_TIMERS)
    .where(
        _TIMERS.c.id.in_(
            select(_TIMERS.c.id)
            .where(
                _TIMERS.c.object_kind == bindparam("kind_of"),
                _TIMERS.c.object_id == bindparam("id_of"),
                _TIMERS.c.state == PENDING,
            )
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(state=CANCELLED, note=bindparam("why"))
)
# The columns `enter` fills, each a parameter: built once, run on the driver's cursor.
_SCHEDULED_COLUMNS = (
    "network_id", "case_id", "object_kind", "object_id", "workflow", "source_state",
    "trigger", "kind", "due_at", "run_after", "state", "attempts", "last_error", "note",
    "created_at", "fired_at",
)  # fmt: skip
_SCHEDULE = insert(_TIMERS).values({name: bindparam(name) for name in _SCHEDULED_COLUMNS})


def deadline(
    uow: UnitOfWork, network_id: int, due: Due | None, since: datetime | None = None
) -> datetime | None:
    """When `due` runs out if counted from `since` (default now), with the network's
    holidays. A migrated case counts from when it entered its state, not from the
    migration, so that moving it to a new version neither extends nor cuts its time."""
    if due is None:
        return None
    holidays = uow.repo.holidays(network_id) if due.working else frozenset()
    return add_days(since or uow.now, due.days, working=due.working, holidays=holidays)


def timed_transitions(workflow: Workflow, state: str) -> list[Transition]:
    """Transitions leaving `state` that the worker fires on a timer."""
    return [
        t
        for t in workflow.transitions_from(state)
        # Erasure is the retention service's (each closed state's `retain_months`): it
        # destroys the subject's key, which a bare transition cannot. `workflows check`
        # refuses a timer on it; none is scheduled should one slip through.
        if t.timer is not None and t.via != Via.ERASURE
    ]


def drifts(workflow: Workflow, state: str) -> bool:
    """Whether an object in `state` should show activity: an open state of a case or an
    intervention that no timer leaves (a state waiting on the clock is not drifting)."""
    return (
        workflow.object in DRIFT_OBJECTS
        and state in workflow.open_states
        and not any(t.timer is not None for t in workflow.transitions_from(state))
    )


def enter(
    uow: UnitOfWork,
    workflow: Workflow,
    *,
    object_id: int,
    state: str,
    network_id: int,
    case_id: int | None,
    left: str | None,
    since: datetime | None = None,
) -> None:
    """Schedule the timers of `state` for an object entering it (from `left`, if any:
    the timers still pending are cancelled), counted from `since` (default now: a
    migrated case's timers count from when it entered its state)."""
    kind = str(workflow.object)
    # The object entering the state was found through its mover's scope (a person's, or
    # the system's of the object's network): its timers are that network's.
    why = "the timers belong to the object's network, given by the caller"
    connection = uow.unscoped(why).connection()
    if left is not None:
        note = f"left {left} for {state}"[:200]
        prepared.write(connection, _CANCEL, [{"kind_of": kind, "id_of": object_id, "why": note}])
    now = uow.now
    start = since or now
    rows: list[dict[str, Any]] = []

    def add(timer_kind: str, trigger: str, due_at: datetime) -> None:
        rows.append(
            {
                "network_id": network_id,
                "case_id": case_id,
                "object_kind": kind,
                "object_id": object_id,
                "workflow": workflow.name,
                "source_state": state,
                "trigger": trigger,
                "kind": timer_kind,
                "due_at": due_at,
                "run_after": due_at,
                "state": PENDING,
                "attempts": 0,
                "last_error": "",
                "note": "",
                "created_at": now,
                "fired_at": None,
            }
        )

    for transition in timed_transitions(workflow, state):
        timer = transition.timer
        assert timer is not None
        holidays = uow.repo.holidays(network_id) if timer.working else frozenset()
        due_at = add_period(
            start, days=timer.days, months=timer.months, working=timer.working, holidays=holidays
        )
        add(TRANSITION, transition.trigger, due_at)
    if drifts(workflow, state):
        # A drift check's run_after is the start of the quiet spell: it comes due
        # `drift_days` later (a setting of the worker, so changing it applies at once).
        add(DRIFT, DRIFT, start)
    if rows:
        prepared.write(connection, _SCHEDULE, rows)
