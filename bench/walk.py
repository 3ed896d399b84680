"""The reference path through the services beside SpiffWorkflow and a bare UPDATE floor.

    python bench/walk.py [--quick] [--cases N] [--transitions T] [--database-url URL]

In one scratch database (SQLite in a temporary file, durable commits as configured by
`make_engine`; or a PostgreSQL schema of its own) and in one process, it carries N cases
through, one after the other (a warm-up case first, untimed):

- referral: the reference path through the services, as the demo builds it
  (`referral.demo.MAIN_PATH`): submit -> screening -> information requests and answers
  -> panel -> consent -> support with an intervention and a progress note -> review ->
  exit -> follow-ups -> closed, each service call a unit of work of its own;
- SpiffWorkflow (the `bench` extra): the 11-step user-task process of bench/walk.bpmn;
  each step loads the workflow's serialized state, runs the task, and stores the state
  again, in a transaction of its own;
- floor: a bare `UPDATE ... SET state` per step (11 a case), a transaction each.

It prints steps/s, cases/s, CPU per step, SQL statements and transactions per case (an
event listener on the engine counts them) and the ratios. Then it times T transitions of
one case with their audit entry (`move_case`, support <-> review) against a bare
UPDATE + INSERT transaction on the same database (target in issue 10: <= 3x wall time).
`--quick`: 2 cases and 20 transitions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scratch import (  # bench/scratch.py: the script's folder is on sys.path
    database,
    shipped_runtime,
)
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Engine, event, func, select, text

from referral.config import Settings
from referral.db.migrate import upgrade
from referral.db.tables import AuditEntry
from referral.demo import MAIN_PATH, DemoWorld, seed_people
from referral.domain.actors import Actor
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging
from referral.services import lifecycle, panel, referrals
from referral.services.uow import UnitOfWork

C = TypeVar("C")
R = TypeVar("R")
BPMN = Path(__file__).resolve().parent / "walk.bpmn"
SPIFF_STEPS = 11
REFERRAL = referrals.SubmitReferral(
    subject=referrals.SubjectDetails(given_name="Walk", family_name="Bench", address="1 Road"),
    concern_summary="A synthetic concern for the benchmark.",
    concern_types=("hate_targeting_a_group",),
    narrative="A synthetic narrative. " * 20,
)


class SqlCounter:
    """Counts the statements and transactions an engine runs (BEGIN included on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.statements = self.transactions = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _begin(self, *_: Any) -> None:
        self.transactions += 1


@dataclass(frozen=True)
class Figures:
    name: str
    cases: int
    steps: int  # in all
    wall: float
    cpu: float
    statements: int
    transactions: int

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall

    @property
    def cases_per_s(self) -> float:
        return self.cases / self.wall


def measure(name: str, counter: SqlCounter, cases: int, one_case: Callable[[], int]) -> Figures:
    """Run `one_case` (which returns its step count) once to warm up, then `cases` times."""
    one_case()
    statements, transactions = counter.statements, counter.transactions
    wall, cpu = time.perf_counter(), time.process_time()
    steps = sum(one_case() for _ in range(cases))
    return Figures(
        name,
        cases,
        steps,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        counter.statements - statements,
        counter.transactions - transactions,
    )


# -- the three contenders -------------------------------------------------------------


class CountingWorld(DemoWorld):
    """The demo's world, counting service calls (each one unit of work)."""

    calls = 0

    def run(self, who: str, service: Callable[[UnitOfWork, Actor, C], R], command: C) -> R:
        self.calls += 1
        return super().run(who, service, command)


def referral_case(world: CountingWorld, stop: str = "closed") -> Callable[[], int]:
    def walk() -> int:
        before = world.calls
        case_id = world.run("referrer", referrals.submit_referral, REFERRAL)
        for state, step in MAIN_PATH:
            step(world, case_id)
            if state == stop:
                break
        return world.calls - before

    return walk


def spiff_case(engine: Engine) -> Callable[[], int]:
    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("referral_walk")
    serializer = BpmnWorkflowSerializer()
    with engine.begin() as db:
        db.execute(text("CREATE TABLE spiff_workflows (id INTEGER PRIMARY KEY, state TEXT)"))
    next_id = iter(range(1, 10**9))

    def walk() -> int:
        workflow_id = next(next_id)
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        with engine.begin() as db:
            state = serializer.serialize_json(workflow)
            db.execute(text("INSERT INTO spiff_workflows VALUES (:id, :s)"),
                       {"id": workflow_id, "s": state})  # fmt: skip
        steps = 0
        while True:
            with engine.begin() as db:
                stored = db.execute(
                    text("SELECT state FROM spiff_workflows WHERE id = :id"), {"id": workflow_id}
                ).scalar_one()
                workflow = serializer.deserialize_json(stored)
                if workflow.is_completed():
                    return steps
                task = workflow.get_next_task(state=TaskState.READY, manual=True)
                task.data["done_by"] = "coordinator"
                task.run()
                workflow.do_engine_steps()
                db.execute(
                    text("UPDATE spiff_workflows SET state = :s WHERE id = :id"),
                    {"id": workflow_id, "s": serializer.serialize_json(workflow)},
                )
            steps += 1

    return walk


def floor_case(engine: Engine) -> Callable[[], int]:
    with engine.begin() as db:
        db.execute(text("CREATE TABLE floor_cases (id INTEGER PRIMARY KEY, state TEXT, v INT)"))
    next_id = iter(range(1, 10**9))

    def walk() -> int:
        case_id = next(next_id)
        with engine.begin() as db:
            db.execute(
                text("INSERT INTO floor_cases VALUES (:id, 'submitted', 1)"), {"id": case_id}
            )
        for step in range(SPIFF_STEPS):
            with engine.begin() as db:
                db.execute(
                    text("UPDATE floor_cases SET state = :s, v = v + 1 WHERE id = :id"),
                    {"id": case_id, "s": f"step{step}"},
                )
        return SPIFF_STEPS

    return walk


# -- one transition against a bare UPDATE + INSERT -------------------------------------


@dataclass(frozen=True)
class Op:
    wall_ms: float
    cpu_ms: float
    statements: float


def time_op(counter: SqlCounter, action: Callable[[int], object], runs: int) -> Op:
    action(0)  # warm-up
    walls, cpus, statements = [], [], counter.statements
    for n in range(1, runs + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        action(n)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    per_op = (counter.statements - statements) / runs
    return Op(statistics.median(walls) * 1000, statistics.median(cpus) * 1000, per_op)


def transition(world: CountingWorld) -> Callable[[int], object]:
    case_id = world.run("referrer", referrals.submit_referral, REFERRAL)
    for state, step in MAIN_PATH:
        step(world, case_id)
        if state == "support":
            break

    def move(n: int) -> object:
        trigger = "start_review" if n % 2 == 0 else "continue_support"
        return world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, trigger))

    return move


def bare_transition(engine: Engine) -> Callable[[int], object]:
    with engine.begin() as db:
        db.execute(text("CREATE TABLE bare_cases (id INTEGER PRIMARY KEY, state TEXT, v INT)"))
        db.execute(text("CREATE TABLE bare_audit (id INTEGER PRIMARY KEY, case_id INT, "
                        "action TEXT, at TEXT, digest TEXT)"))  # fmt: skip
        db.execute(text("INSERT INTO bare_cases VALUES (1, 'support', 1)"))
    entry_id = iter(range(1, 10**9))

    def move(n: int) -> object:
        state = "review" if n % 2 == 0 else "support"
        with engine.begin() as db:
            db.execute(
                text("UPDATE bare_cases SET state = :s, v = v + 1 WHERE id = 1"), {"s": state}
            )
            db.execute(
                text("INSERT INTO bare_audit VALUES (:id, 1, :a, :t, :d)"),
                {"id": next(entry_id), "a": f"move:{state}", "t": str(time.time()), "d": "0" * 64},
            )
        return None

    return move


# -- the run ---------------------------------------------------------------------------


def show(row: Figures, per_case_steps: str) -> None:
    print(
        f"{row.name:<14}{per_case_steps:>10}{row.steps_per_s:>9.1f}{row.cases_per_s:>9.2f}"
        f"{row.cpu / row.steps * 1000:>13.1f}{row.statements / row.cases:>12.0f}"
        f"{row.transactions / row.cases:>11.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 cases, 20 transitions")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--transitions", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if args.quick:
        args.cases, args.transitions = 2, 20
    configure_logging(Settings(log_level="WARNING"))  # not a line per service call
    keyring = Keyring.from_config(f"bench:{new_master_key()}", None)
    with database(args.database_url) as (engine, backend):
        upgrade(engine)
        counter = SqlCounter(engine)
        runtime = shipped_runtime(engine, keyring)
        people = seed_people(runtime)
        world = CountingWorld(people.runtime, people.actors, people.org_ids)
        # Today: the walk's chair marks it as held, and a meeting is held on its day.
        meeting = panel.ScheduleMeeting(
            scheduled_for=runtime.clock(),
            chair_user_id=world.actors["chair"].user_id,
            attendee_user_ids=(world.actors["panel"].user_id,),
            location="Bench room",
        )
        world.meeting_id = world.run("coordinator", panel.schedule_meeting, meeting)
        if backend == "sqlite":
            with engine.connect() as db:
                mode = db.exec_driver_sql("PRAGMA synchronous").scalar()
                journal = db.exec_driver_sql("PRAGMA journal_mode").scalar()
            backend = f"sqlite (journal {journal}, synchronous {mode}: every commit durable)"
        print(f"{backend}: {args.cases} cases each, after one warm-up case")

        def audit_entries() -> int:
            with engine.connect() as db:
                return int(db.execute(select(func.count()).select_from(AuditEntry)).scalar_one())

        entries = audit_entries()
        ours = measure("referral", counter, args.cases, referral_case(world))
        per_case_entries = (audit_entries() - entries) / (args.cases + 1)
        spiff = measure("SpiffWorkflow", counter, args.cases, spiff_case(engine))
        floor = measure("floor", counter, args.cases, floor_case(engine))
        print(f"{'':<14}{'steps/case':>10}{'steps/s':>9}{'cases/s':>9}{'cpu ms/step':>13}"
              f"{'stmts/case':>12}{'txns/case':>11}")  # fmt: skip
        show(ours, f"{ours.steps // ours.cases} calls")
        show(spiff, f"{spiff.steps // spiff.cases}")
        show(floor, f"{floor.steps // floor.cases}")
        print(f"referral: {per_case_entries:.0f} audit entries a case")
        print(
            f"referral / SpiffWorkflow: {ours.steps_per_s / spiff.steps_per_s:.2f}x per step, "
            f"{ours.cases_per_s / spiff.cases_per_s:.2f}x per case (target: >= 1x per step); "
            f"referral / floor: {ours.steps_per_s / floor.steps_per_s:.2f}x per step"
        )

        moved = time_op(counter, transition(world), args.transitions)
        bare = time_op(counter, bare_transition(engine), args.transitions)
        print(f"one transition with its audit entry, median of {args.transitions}:")
        for name, op in (("move_case", moved), ("UPDATE+INSERT", bare)):
            print(f"  {name:<14}{op.wall_ms:>8.2f} ms wall {op.cpu_ms:>8.2f} ms cpu "
                  f"{op.statements:>5.1f} statements")  # fmt: skip
        print(
            f"  ratio: {moved.wall_ms / bare.wall_ms:.1f}x wall (target <= 3x), "
            f"{moved.cpu_ms / bare.cpu_ms:.1f}x cpu"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
