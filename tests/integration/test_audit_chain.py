"""Invariant 3: the chain verifies after any sequence of operations; the database refuses
edits; a tampered or deleted entry is found and named."""

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from referral.audit.sequencer import sequence_pending
from referral.audit.verify import verify
from referral.db.engine import make_session_factory
from referral.services.uow import Runtime
from tests.conftest import TEST_KEYRING
from tests.factories import audit_count, make_world, schedule, to_support

# The chain of the network the factories' world works in.
CHAIN = "network:1"


@pytest.fixture
def populated(runtime: Runtime) -> Runtime:
    world = make_world(runtime)
    to_support(world, schedule(world, runtime))
    sequence_pending(runtime.session_factory)  # what the sequencer thread does after commit
    return runtime


def test_chain_verifies_after_a_whole_case(populated: Runtime) -> None:
    with populated.session_factory() as session:
        result = verify(session)
        assert result.ok, result.problem
        assert result.entries == audit_count(session) >= 15
        assert result.queued == 0


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET action = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1"],
)
def test_database_refuses_to_edit_the_log(populated: Runtime, statement: str) -> None:
    with populated.session_factory() as session:
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement))
        assert verify(session).ok


@pytest.mark.postgres
def test_postgres_refuses_to_truncate_the_log(populated: Runtime) -> None:
    with populated.session_factory() as session:
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text("TRUNCATE audit_log"))
        assert verify(session).ok


def drop_protection(engine: Engine, backend: str) -> None:
    with engine.begin() as connection:
        if backend == "sqlite":
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
            connection.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))


MINE = f"chain = '{CHAIN}'"
TAMPERING = {
    "altered": (
        f"UPDATE audit_log SET categories = 'identity' WHERE {MINE} AND seq = 5",
        5,
        "altered",
    ),
    "deleted": (f"DELETE FROM audit_log WHERE {MINE} AND seq = 5", 5, "missing"),
    "truncated": (f"DELETE FROM audit_log WHERE {MINE} AND seq > 10", 11, "removed"),
    # Two entries trade places: each keeps its own hash, so only the order betrays them.
    "swapped": (
        f"UPDATE audit_log SET seq = -5 WHERE {MINE} AND seq = 5;"
        f"UPDATE audit_log SET seq = 5 WHERE {MINE} AND seq = 6;"
        f"UPDATE audit_log SET seq = 6 WHERE {MINE} AND seq = -5",
        5,
        "reordered",
    ),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_behind_the_application_is_found_and_named(
    fresh_database: object, authz: object, workflows: object, clock: object, backend: str, kind: str
) -> None:
    from referral.workflow.machine import WorkflowEngine

    engine: Engine = fresh_database()  # type: ignore[operator]
    runtime = Runtime(
        make_session_factory(engine, TEST_KEYRING), authz, workflows, WorkflowEngine(), clock
    )  # type: ignore[arg-type]
    world = make_world(runtime)
    to_support(world, schedule(world, runtime))
    sequence_pending(runtime.session_factory)
    statement, bad_seq, words = TAMPERING[kind]
    drop_protection(engine, backend)
    with engine.begin() as connection:
        for part in statement.split(";"):
            connection.execute(text(part))
    with runtime.session_factory() as session:
        result = verify(session)
    assert not result.ok
    assert (result.chain, result.first_bad_seq) == (CHAIN, bad_seq)
    assert words in result.problem
