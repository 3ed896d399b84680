"""Invariant 4: concurrent transitions on one case give one winner and clear conflicts;
concurrent writers never fork the audit chain."""

import threading
from collections import Counter

import pytest
from sqlalchemy import Engine, func, select

from referral.audit.verify import verify
from referral.db.engine import make_session_factory
from referral.db.tables import AuditEntry, Case
from referral.domain.errors import Conflict
from referral.services import referrals, screening
from referral.services.uow import Runtime
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING
from tests.factories import make_world, referral_command

RACES = 6
WRITERS = 4


@pytest.fixture
def committed_runtime(
    fresh_database: object, authz: object, workflows: object, clock: object
) -> Runtime:
    """A runtime on its own database whose commits are real, so threads see each other."""
    engine: Engine = fresh_database()  # type: ignore[operator]
    return Runtime(
        make_session_factory(engine, TEST_KEYRING), authz, workflows, WorkflowEngine(), clock
    )  # type: ignore[arg-type]


def race(runtime: Runtime, world: object, case_id: int) -> Counter[str]:
    barrier = threading.Barrier(WRITERS)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def writer(who: str) -> None:
        barrier.wait()
        try:
            world.run(who, screening.start_screening, screening.StartScreening(case_id))
            result = "won"
        except Conflict:
            result = "conflict"
        with lock:
            outcomes[result] += 1

    who = ["screener", "coordinator"] * (WRITERS // 2)
    threads = [threading.Thread(target=writer, args=(name,)) for name in who]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.postgres
def test_concurrent_transitions_have_one_winner_and_an_unbroken_chain(
    committed_runtime: Runtime,
) -> None:
    world = make_world(committed_runtime)
    case_ids = [
        int(world.run("referrer", referrals.submit_referral, referral_command()))
        for _ in range(RACES)
    ]
    for case_id in case_ids:
        assert race(committed_runtime, world, case_id) == Counter(won=1, conflict=WRITERS - 1)
    with committed_runtime.session_factory() as session:
        states = session.scalars(select(Case.state).where(Case.id.in_(case_ids))).all()
        assert set(states) == {"screening"}
        screenings = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "case:start_screening")
        )
        assert screenings == RACES
        result = verify(session)
        assert result.ok, result.problem


@pytest.mark.postgres
def test_concurrent_submissions_append_one_chain(committed_runtime: Runtime) -> None:
    world = make_world(committed_runtime)
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer() -> None:
        barrier.wait()
        try:
            for _ in range(5):
                world.run("referrer", referrals.submit_referral, referral_command())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with committed_runtime.session_factory() as session:
        result = verify(session)
        assert result.ok, result.problem
        # Each submission writes two entries; the same synthetic person referred again
        # also writes one `linkage:found` per submission that saw an earlier one (how
        # many did depends on the interleaving): every entry is in the one chain.
        found = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "linkage:found")
        )
        assert found is not None and found < WRITERS * 5
        assert result.entries == WRITERS * 5 * 2 + found


def test_sequential_second_transition_is_a_conflict(committed_runtime: Runtime) -> None:
    world = make_world(committed_runtime)
    case_id = int(world.run("referrer", referrals.submit_referral, referral_command()))
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    with pytest.raises(Conflict, match="a case in Screening cannot be picked up for screening"):
        world.run("coordinator", screening.start_screening, screening.StartScreening(case_id))
