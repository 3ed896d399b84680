"""`referral tick`, `referral worker` and `referral holidays` as separate processes on a
real database; on PostgreSQL, three workers at once and one killed mid-batch.

The timers are made through the services with a test clock set weeks back, so they are
due by the real clock the worker processes read.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, func, select, text

from referral.audit.verify import verify
from referral.db.engine import make_session_factory
from referral.db.tables import AuditEntry, InformationRequest, Organisation, Timer
from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind
from referral.services import information, screening
from referral.services.timers import ClockRules, tick
from referral.services.uow import Runtime
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING, TEST_MASTER_KEYS, TestClock
from tests.factories import make_world, submit

WORKERS = 3
CASES = 4
AGENCIES = 50  # CASES * AGENCIES timers, each due
WAIT = 60  # seconds any one step may take before the test gives up


@pytest.fixture
def database(fresh_database: object, authz: object, workflows: object) -> tuple[Engine, Runtime]:
    """A database of its own with real commits, and a clock set weeks back."""
    engine: Engine = fresh_database()  # type: ignore[operator]
    clock = TestClock(datetime.now(UTC) - timedelta(days=60))
    factory = make_session_factory(engine, TEST_KEYRING)
    return engine, Runtime(factory, authz, workflows, WorkflowEngine(), clock)  # type: ignore[arg-type]


def url_of(engine: Engine, application_name: str = "") -> str:
    """The URL a subprocess reaches this test's database (and schema) by."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        query = {"options": f"-csearch_path={schema}"}
        if application_name:
            query["application_name"] = application_name
        url = url.update_query_dict(query)
    return url.render_as_string(hide_password=False)


def referral_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "REFERRAL_DATABASE_URL": url,
        "REFERRAL_MASTER_KEYS": TEST_MASTER_KEYS,
        "REFERRAL_LOG_LEVEL": "WARNING",
        "REFERRAL_DRIFT_DAYS": "0",
    }


def start(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "referral", *args],
        env=referral_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "referral", *args],
        env=referral_env(url),
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def requests_due(world: DemoWorld, cases: int, agencies: int) -> list[int]:
    """`cases` cases asking `agencies` agencies each: one overdue timer per request."""
    runtime = world.runtime
    network_id = world.actors["coordinator"].network_id
    with runtime.session_factory() as session, session.begin():
        orgs = [
            Organisation(network_id=network_id, name=f"Agency {i}", kind=OrgKind.YOUTH)
            for i in range(agencies)
        ]
        session.add_all(orgs)
        session.flush()
        org_ids = tuple(o.id for o in orgs)
    ids: list[int] = []
    for _ in range(cases):
        ids.extend(in_information_gathering(world, org_ids))
    return ids


def in_information_gathering(world: DemoWorld, org_ids: tuple[int, ...]) -> list[int]:
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "gather_information"),
    )
    command = information.SendInformationRequests(case_id, org_ids, "Known?")
    return list(world.run("coordinator", information.send_information_requests, command))


def assert_each_fired_exactly_once(runtime: Runtime, request_ids: list[int]) -> None:
    with runtime.session_factory() as session:
        states = Counter(session.scalars(select(Timer.state).where(Timer.kind == "transition")))
        assert states == Counter(fired=len(request_ids))
        requests = Counter(
            session.scalars(
                select(InformationRequest.state).where(InformationRequest.id.in_(request_ids))
            )
        )
        assert requests == Counter(overdue=len(request_ids))
        moves = Counter(
            session.scalars(select(AuditEntry.target).where(AuditEntry.actor_role == "system"))
        )
        assert moves == Counter(f"information_request:{i}" for i in request_ids)
        result = verify(session)
        assert result.ok, result.problem


def fired(stdout: str) -> int:
    return int(stdout.split(" fired")[0].split()[-1])


def test_tick_fires_each_due_timer_once_and_says_what_it_did(
    database: tuple[Engine, Runtime],
) -> None:
    engine, runtime = database
    ids = requests_due(make_world(runtime), cases=1, agencies=3)
    first = run(url_of(engine), "tick")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        "3 fired, 0 cancelled, 0 failed, 0 drift alert(s), 0 drift check(s) deferred, "
        "0 case(s) erased, 0 transfer(s) expired"
    )
    again = run(url_of(engine), "tick")
    assert again.returncode == 0 and fired(again.stdout) == 0
    assert_each_fired_exactly_once(runtime, ids)


def test_worker_fires_due_timers_and_stops_cleanly_on_sigterm(
    database: tuple[Engine, Runtime],
) -> None:
    engine, runtime = database
    ids = requests_due(make_world(runtime), cases=1, agencies=2)
    worker = start(url_of(engine), "worker", "--interval", "0.1")
    try:
        deadline = time.monotonic() + WAIT
        while pending(runtime) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=WAIT)
    finally:
        worker.kill()
    assert worker.returncode == 0, stderr
    assert "worker stopped: 2 fired" in stderr
    assert_each_fired_exactly_once(runtime, ids)


def pending(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        query = select(func.count()).select_from(Timer).where(Timer.state == "pending")
        return int(session.scalar(query.where(Timer.kind == "transition")) or 0)


def test_holidays_import_and_list_round_trip(
    database: tuple[Engine, Runtime], tmp_path: Path
) -> None:
    engine, runtime = database
    make_world(runtime)
    calendar = tmp_path / "holidays.csv"
    calendar.write_text("# Demo City\n2026-12-25,Christmas Day\n2026-12-26,Boxing Day\n")
    imported = run(url_of(engine), "holidays", "import", "demo-city", str(calendar))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("demo-city: 2 added, 0 relabelled, 0 removed")
    calendar.write_text("2026-12-25,Christmas\n")
    replaced = run(url_of(engine), "holidays", "import", "demo-city", str(calendar), "--replace")
    assert replaced.stdout.startswith("demo-city: 0 added, 1 relabelled, 1 removed")
    listed = run(url_of(engine), "holidays", "list", "demo-city")
    assert listed.stdout == "2026-12-25,Christmas\n"
    with runtime.session_factory() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "network:holidays"))
        assert [(e.actor_role, e.target) for e in entries] == [("system", "network:1")] * 2


def test_holidays_import_names_the_file_and_line_of_a_bad_date(
    database: tuple[Engine, Runtime], tmp_path: Path
) -> None:
    engine, runtime = database
    make_world(runtime)
    calendar = tmp_path / "holidays.csv"
    calendar.write_text("2026-12-25,Christmas Day\n2026-02-30,No such day\n")
    result = run(url_of(engine), "holidays", "import", "demo-city", str(calendar))
    assert result.returncode == 1
    assert f"{calendar}: line 2: '2026-02-30' is not a date" in result.stderr
    calendar.write_text("2026-12-25,Christmas Day\n")
    unknown = run(url_of(engine), "holidays", "import", "nowhere", str(calendar))
    assert unknown.returncode == 1 and "no network 'nowhere'" in unknown.stderr


# -- PostgreSQL: several workers at once --------------------------------------------------


def waiting_on_locks(engine: Engine, tag: str) -> set[str]:
    """The application names of this test's worker connections that wait for a lock."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT application_name FROM pg_stat_activity "
                "WHERE application_name LIKE :tag AND wait_event_type = 'Lock'"
            ),
            {"tag": f"{tag}-%"},
        )
        return {row[0] for row in rows}


def start_workers_behind_a_held_chain_head(
    engine: Engine, blocker: Connection, count: int
) -> list[subprocess.Popen[str]]:
    """Start `count` `referral tick` processes while `blocker` holds the audit log: each
    claims a timer, fires it and then waits to queue its audit entry, mid-transaction.

    No request waits on a chain head any more; a SHARE lock on the table stops INSERTs.
    """
    tag = f"clock-{uuid.uuid4().hex[:8]}"
    blocker.execute(text("LOCK TABLE audit_log IN SHARE MODE"))
    workers = [start(url_of(engine, f"{tag}-{i}"), "tick") for i in range(count)]
    deadline = time.monotonic() + WAIT
    while len(waiting_on_locks(engine, tag)) < count:
        assert time.monotonic() < deadline, "the workers never reached the chain head"
        if any(w.poll() is not None for w in workers):
            # Stop the others before reading their output: they wait on the held lock, and
            # reading a running worker's output would wait with them, forever.
            for w in workers:
                w.kill()
            raise AssertionError([w.communicate(timeout=WAIT) for w in workers])
        time.sleep(0.05)
    return workers


@pytest.mark.postgres
def test_three_workers_fire_hundreds_of_due_timers_each_exactly_once(
    database: tuple[Engine, Runtime],
) -> None:
    engine, runtime = database
    ids = requests_due(make_world(runtime), CASES, AGENCIES)
    with engine.connect() as blocker, blocker.begin():
        workers = start_workers_behind_a_held_chain_head(engine, blocker, WORKERS)
    outputs = [w.communicate(timeout=WAIT) for w in workers]
    assert [w.returncode for w in workers] == [0] * WORKERS, outputs
    counts = [fired(out) for out, _ in outputs]
    assert sum(counts) == len(ids) == CASES * AGENCIES
    assert all(count >= 1 for count in counts), counts  # all three took part
    assert_each_fired_exactly_once(runtime, ids)


@pytest.mark.postgres
def test_a_worker_killed_mid_batch_loses_nothing_and_fires_nothing_twice(
    database: tuple[Engine, Runtime],
) -> None:
    engine, runtime = database
    ids = requests_due(make_world(runtime), CASES, AGENCIES)
    with engine.connect() as blocker, blocker.begin():
        workers = start_workers_behind_a_held_chain_head(engine, blocker, WORKERS)
        victim, survivors = workers[0], workers[1:]
        victim.send_signal(signal.SIGKILL)  # holding a claimed timer, its move uncommitted
        victim.communicate(timeout=WAIT)
    outputs = [w.communicate(timeout=WAIT) for w in survivors]
    assert [w.returncode for w in survivors] == [0, 0], outputs
    # The victim's timer was locked until its server process saw it die: a later tick
    # takes it (a cron run, here in-process on the real clock).
    real_clock = Runtime(runtime.session_factory, runtime.authz, runtime.workflows, runtime.engine)
    deadline = time.monotonic() + WAIT
    while pending(runtime):
        assert time.monotonic() < deadline, "a timer stayed pending"
        tick(real_clock, ClockRules(drift_days=0))
        time.sleep(0.05)
    with runtime.session_factory() as session:
        victims = select(func.count()).where(AuditEntry.request_id == f"tick-{victim.pid}")
        assert session.scalar(victims.select_from(AuditEntry)) == 0  # it committed nothing
    assert_each_fired_exactly_once(runtime, ids)


@pytest.mark.postgres
def test_a_persons_move_does_not_wait_for_a_timer_a_worker_holds(
    database: tuple[Engine, Runtime],
) -> None:
    engine, runtime = database
    world = make_world(runtime)
    [request_id] = requests_due(world, cases=1, agencies=1)
    done = threading.Event()

    def answer() -> None:
        command = information.RecordAnswer(request_id, "Not known to us.")
        world.run("coordinator", information.record_answer, command)
        done.set()

    with engine.connect() as worker, worker.begin():
        claimed = select(Timer).where(
            Timer.object_kind == "information_request", Timer.object_id == request_id
        )
        worker.execute(claimed.with_for_update())  # a worker about to fire it
        person = threading.Thread(target=answer)
        person.start()
        person.join(timeout=WAIT)
        assert done.is_set(), "the person's move waited for the worker's timer"
    # The worker's turn: the request moved on, so its timer is cancelled, not fired.
    real_clock = Runtime(runtime.session_factory, runtime.authz, runtime.workflows, runtime.engine)
    assert tick(real_clock, ClockRules(drift_days=0)).cancelled == 1
    with runtime.session_factory() as session:
        mine = (Timer.object_kind == "information_request", Timer.object_id == request_id)
        notes = session.scalars(select(Timer.note).where(*mine))
        assert list(notes) == ["moved on to answered"]
