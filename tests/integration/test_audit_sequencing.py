"""Requests queue their audit entries; the sequencer places them, once, in one chain per
network; the database refuses any other change; nothing queued is lost; a request never
waits on a chain head."""

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from referral.audit.chain import GENESIS_HASH, AuditRecord
from referral.audit.sequencer import queued_count, sequence, sequence_pending
from referral.audit.verify import ChainHead, verify
from referral.db.engine import make_session_factory
from referral.db.tables import AuditEntry, AuditHead
from referral.domain.actors import Actor
from referral.domain.errors import ReferralError
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TEST_KEYRING
from tests.integration.test_audit_chain import drop_protection

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def actor_in(network_id: int) -> Actor:
    return Actor(
        10 + network_id, 20 + network_id, "police", network_id, f"net-{network_id}", frozenset()
    )


def request(runtime: Runtime, actor: Actor | None, entries: int = 1) -> None:
    """What a request does: its change's entries queued at commit, in its transaction."""
    with UnitOfWork(runtime, request_id="req") as uow:
        for _ in range(entries):
            uow.audit(AuditRecord("case:read", True, actor, case_id=7, categories=("status",)))
        uow.commit()


def placed(session: Session) -> dict[str, list[int]]:
    rows = session.execute(
        select(AuditEntry.chain, AuditEntry.seq)
        .where(AuditEntry.seq.is_not(None))
        .order_by(AuditEntry.chain, AuditEntry.seq)
    )
    chains: dict[str, list[int]] = {}
    for chain, seq in rows:
        chains.setdefault(chain, []).append(seq)
    return chains


def test_queued_entries_are_sequenced_into_one_chain_per_network(runtime: Runtime) -> None:
    request(runtime, actor_in(1), entries=3)
    request(runtime, actor_in(2), entries=2)
    request(runtime, None)
    request(runtime, actor_in(1))
    with runtime.session_factory() as session:
        assert queued_count(session) == 7  # committed, not yet anywhere in a chain
        assert sequence(session) == 7
        assert queued_count(session) == 0
        assert placed(session) == {
            "national": [1],
            "network:1": [1, 2, 3, 4],
            "network:2": [1, 2],
        }
        result = verify(session, sequence_first=False)
        assert result.ok, result.problem
        assert result.entries == 7
        assert result.head("network:2").seq == 2
        first = session.scalar(
            select(AuditEntry.prev_hash).where(AuditEntry.chain == "network:2", AuditEntry.seq == 1)
        )
        assert first == GENESIS_HASH  # every chain starts from its own genesis


def test_the_sequencer_places_in_queue_order_and_keeps_going_after_a_batch(
    runtime: Runtime,
) -> None:
    request(runtime, actor_in(1), entries=5)
    with runtime.session_factory() as session:
        assert sequence(session, batch=2) == 5
        ids = session.scalars(
            select(AuditEntry.id).where(AuditEntry.chain == "network:1").order_by(AuditEntry.seq)
        ).all()
        assert ids == sorted(ids)
        assert verify(session).ok


def _one(session: Session, where: str) -> int:
    return int(session.scalar(text(f"SELECT min(id) FROM audit_log WHERE {where}")))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'x' WHERE id = :id",
        "UPDATE audit_log SET seq = 99, prev_hash = :h, hash = :h, action = 'x' WHERE id = :id",
        "UPDATE audit_log SET seq = 99 WHERE id = :id",  # a place with no hash
        "DELETE FROM audit_log WHERE id = :id",
    ],
)
def test_database_refuses_to_change_a_queued_entry(runtime: Runtime, statement: str) -> None:
    request(runtime, actor_in(1))
    with runtime.session_factory() as session:
        queued = _one(session, "seq IS NULL")
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement), {"id": queued, "h": "f" * 64})
        assert queued_count(session) == 1


def test_database_refuses_to_sequence_an_entry_twice(runtime: Runtime) -> None:
    request(runtime, actor_in(1))
    with runtime.session_factory() as session:
        sequence(session)
        entry = _one(session, "seq IS NOT NULL AND chain = 'network:1'")
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(
                text("UPDATE audit_log SET seq = 2, prev_hash = :h, hash = :h WHERE id = :id"),
                {"id": entry, "h": "e" * 64},
            )
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entry})
        assert verify(session).ok


def test_a_refusal_is_queued_and_sequenced_like_any_entry(runtime: Runtime) -> None:
    with pytest.raises(ReferralError), UnitOfWork(runtime, request_id="denied") as uow:
        uow.refuse(AuditRecord("case:read", False, actor_in(3)), ReferralError("refused"))
    with runtime.session_factory() as session:
        sequence(session)
        denied = session.scalars(select(AuditEntry).where(AuditEntry.request_id == "denied")).one()
        assert (denied.chain, denied.seq, denied.allowed) == ("network:3", 1, False)


# Committed for real: threads and processes see each other.


@pytest.fixture
def committed(
    fresh_database: Callable[[], Engine], authz: object, workflows: object, clock: object
) -> tuple[Runtime, Engine]:
    from referral.workflow.machine import WorkflowEngine

    engine = fresh_database()
    factory = make_session_factory(engine, TEST_KEYRING)
    return Runtime(factory, authz, workflows, WorkflowEngine(), clock), engine  # type: ignore[arg-type]


def test_verify_since_a_checkpoint_reads_only_what_came_after(
    committed: tuple[Runtime, Engine], backend: str
) -> None:
    runtime, engine = committed
    request(runtime, actor_in(1), entries=6)
    sequence_pending(runtime.session_factory)
    with runtime.session_factory() as session:
        trusted = {h.chain: h for h in verify(session).heads}
    request(runtime, actor_in(1), entries=4)
    request(runtime, actor_in(2), entries=2)  # a chain the checkpoint does not know
    sequence_pending(runtime.session_factory)
    drop_protection(engine, backend)
    with engine.begin() as connection:  # before the checkpoint: --since does not read it
        connection.execute(
            text("UPDATE audit_log SET action = 'x' WHERE chain = 'network:1' AND seq = 2")
        )
    with runtime.session_factory() as session:
        since = verify(session, since=trusted)
        assert since.ok, since.problem
        assert since.entries == 6  # 4 after the checkpoint, and the new chain's 2
        assert since.head("network:1") == ChainHead("network:1", 10, since.head("network:1").hash)
        everything = verify(session)
        assert (everything.chain, everything.first_bad_seq) == ("network:1", 2)
    with engine.begin() as connection:  # after the checkpoint: found and named
        connection.execute(
            text("UPDATE audit_log SET action = 'x' WHERE chain = 'network:1' AND seq = 8")
        )
    with runtime.session_factory() as session:
        since = verify(session, since=trusted)
    assert (since.chain, since.first_bad_seq) == ("network:1", 8)
    assert "altered" in since.problem


def test_a_plan_whose_chain_moved_on_meanwhile_is_planned_again(
    committed: tuple[Runtime, Engine],
) -> None:
    """A round hashes queued entries in a read, then writes their places: if another
    sequencer placed entries in between, the hashes start from a stale head and must not
    be written (the append-only rules would refuse them anyway)."""
    runtime, _ = committed
    request(runtime, actor_in(1), entries=3)
    interfered: list[bool] = []

    def lookup() -> Session:
        reader = runtime.session_factory()

        @event.listens_for(reader, "after_rollback")
        def meanwhile(_: Session) -> None:  # the plan is made: another sequencer runs
            if not interfered:
                interfered.append(True)
                request(runtime, actor_in(1), entries=2)
                with runtime.session_factory() as other:
                    assert sequence(other) == 5
                    other.commit()

        return reader

    assert sequence_pending(runtime.session_factory, lookup=lookup) == 0
    assert interfered
    with runtime.session_factory() as session:
        result = verify(session)
        assert queued_count(session) == 0
    assert result.ok and result.entries == 5


@pytest.mark.postgres
def test_no_request_waits_for_a_chain_head_another_holds(
    committed: tuple[Runtime, Engine],
) -> None:
    runtime, engine = committed
    request(runtime, actor_in(1))
    request(runtime, actor_in(2))
    sequence_pending(runtime.session_factory)
    request(runtime, actor_in(1))
    request(runtime, actor_in(2))
    done: list[str] = []

    def requests() -> None:
        request(runtime, actor_in(2))  # another network
        done.append("network B")
        request(runtime, actor_in(1))  # the held chain's own network
        done.append("network A")

    with engine.connect() as holder, holder.begin():
        holder.execute(
            select(AuditHead).where(AuditHead.chain == "network:1").with_for_update()
        ).one()
        worker = threading.Thread(target=requests)
        worker.start()
        worker.join(timeout=30)
        assert done == ["network B", "network A"], "a request waited on a chain head"
        # A sequencer skips the held chain instead of waiting, and places the others.
        assert sequence_pending(runtime.session_factory) == 2
        with runtime.session_factory() as session:
            assert queued_count(session) == 2  # network A's, for whoever holds its head
    assert sequence_pending(runtime.session_factory) == 2
    with runtime.session_factory() as session:
        result = verify(session)
    assert result.ok and result.entries == 6


KILLED_SCRIPT = """
import time
from referral.audit.chain import AuditRecord
from referral.bootstrap import build_runtime
from referral.config import get_settings
from referral.services.uow import UnitOfWork

runtime = build_runtime(get_settings())
for n in range(20):
    with UnitOfWork(runtime, request_id=f"killed-{n}") as uow:
        uow.audit(AuditRecord("case:read", True, None, case_id=n, categories=("status",)))
        uow.commit()
print("committed", flush=True)
time.sleep(600)
"""


def test_a_process_killed_before_sequencing_loses_no_entry(demo_copy: dict[str, str]) -> None:
    import os
    import signal
    import sqlite3
    import subprocess
    import sys

    from tests.conftest import TEST_MASTER_KEYS
    from tests.integration.conftest import referral

    env = {
        **os.environ,
        **demo_copy,
        "REFERRAL_MASTER_KEYS": TEST_MASTER_KEYS,
        "REFERRAL_AUDIT_SEQUENCER_INTERVAL_MS": "0",
    }
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_SCRIPT], env=env, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "committed"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    killed = "SELECT count(*), count(seq) FROM audit_log WHERE request_id LIKE 'killed-%'"
    with sqlite3.connect(demo_copy["path"]) as db:
        assert db.execute(killed).fetchone() == (20, 0)  # committed, still queued
    result = referral("audit", "verify", env=demo_copy)
    assert result.returncode == 0, result.stderr
    assert "audit chain verified" in result.stdout
    with sqlite3.connect(demo_copy["path"]) as db:
        assert db.execute(killed).fetchone() == (20, 20)  # every one placed, and verified
        assert db.execute("SELECT count(*) FROM audit_log WHERE seq IS NULL").fetchone() == (0,)


def test_the_background_sequencer_places_what_requests_queue(
    committed: tuple[Runtime, Engine],
) -> None:
    import time

    from referral.services.audit_sequencing import background_sequencer

    runtime, _ = committed
    assert background_sequencer(runtime, 0) is None  # turned off
    sequencer = background_sequencer(runtime, 50)
    assert sequencer is not None
    sequencer.start()
    try:
        request(runtime, actor_in(1), entries=3)
        request(runtime, actor_in(2))
        deadline = time.monotonic() + 60
        while True:
            with runtime.session_factory() as session:
                if queued_count(session) == 0:
                    break
            assert time.monotonic() < deadline, "the sequencer never placed the entries"
            time.sleep(0.05)
    finally:
        sequencer.stop()
    with runtime.session_factory() as session:
        result = verify(session, sequence_first=False)
    assert result.ok and result.entries == 4
