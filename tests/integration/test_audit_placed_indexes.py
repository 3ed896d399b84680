"""Revision 0009: an audit entry's (chain, seq) and hash are indexed once it is placed,
its target only when it names one; every entry, and every guarantee, stays as it was."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from referral.audit.chain import AuditRecord, append
from referral.audit.sequencer import sequence
from referral.audit.verify import chains, last_seq, verify
from referral.db.migrate import drift, upgrade
from referral.domain.actors import Actor
from tests.conftest import database_at, downgrade

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = Actor(1, 2, "police", 1, "demo-city", frozenset())


@pytest.fixture
def at_0008(tmp_path: Path) -> Iterator[Engine]:
    with database_at(tmp_path, "0008") as engine:
        yield engine


def _append(
    engine: Engine, count: int, *, placed: bool, target: str = "", actor: Actor = ACTOR
) -> None:
    with Session(engine) as session, session.begin():
        for n in range(count):
            record = AuditRecord("case:read", True, actor, case_id=n + 1, target=target)
            append(session, record, now=AT, request_id=f"r{n}", policy_hash="")
        if placed:
            sequence(session)


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT * FROM audit_log ORDER BY id")))


def _plan(engine: Engine, query: str) -> str:
    """The plan of `query`, with sequential scans discouraged on PostgreSQL: whether the
    index can serve it, not whether a planner prefers it for a table of a dozen rows."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")
            return " ".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")
        return " ".join(str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {query}"))


def test_0009_keeps_every_entry_and_verifies_up_down_and_up(at_0008: Engine) -> None:
    _append(at_0008, 6, placed=True)
    _append(at_0008, 2, placed=True, target="subject:7")
    _append(at_0008, 3, placed=False)  # queued across the upgrade
    before = _rows(at_0008)

    upgrade(at_0008)
    assert _rows(at_0008) == before
    assert drift(at_0008) == []
    with Session(at_0008) as session, session.begin():
        assert "network:1" in chains(session)
        result = verify(session)
    assert result.ok, result.problem
    assert result.head("network:1").seq == 11

    downgrade(at_0008, "0008")
    assert [tuple(row) for row in _rows(at_0008)][:8] == [tuple(row) for row in before][:8]
    upgrade(at_0008)
    with Session(at_0008) as session, session.begin():
        assert verify(session).ok


def test_queued_entries_take_no_place_and_placed_ones_stay_unique(at_0008: Engine) -> None:
    upgrade(at_0008)
    _append(at_0008, 4, placed=True)
    _append(at_0008, 2, placed=False)
    _append(at_0008, 1, placed=False, actor=Actor(3, 4, "police", 2, "other-city", frozenset()))
    with Session(at_0008) as session:
        assert last_seq(session, "network:1") == 4  # the queued two have no seq yet
        # The chain of a network whose only entry waits in the queue is a chain too.
        assert {"network:1", "network:2"} <= set(chains(session))
    # A second entry 3 of the chain, or a second entry with entry 3's hash, is refused.
    fixed = (
        "chain, at, actor_role, action, target, categories, allowed, rule, purpose, "
        "legal_basis, request_id, workflow_hash, policy_hash, change_digest, prev_hash"
    )
    other_hash = "e" * 64
    for seq, hash_ in (("seq", f"'{other_hash}'"), ("99", "hash")):
        with pytest.raises(IntegrityError), at_0008.begin() as connection:
            connection.execute(
                text(
                    f"INSERT INTO audit_log ({fixed}, seq, hash) "
                    f"SELECT {fixed}, {seq}, {hash_} FROM audit_log "
                    "WHERE chain = 'network:1' AND seq = 3"
                )
            )
    # Still append-only: a placed entry cannot change or go.
    for statement in (
        "UPDATE audit_log SET rule = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
    ):
        with pytest.raises(DBAPIError), at_0008.begin() as connection:
            connection.execute(text(statement))


def test_queries_by_place_and_target_use_the_partial_indexes(at_0008: Engine) -> None:
    upgrade(at_0008)
    _append(at_0008, 3, placed=True, target="subject:7")
    by_place = "SELECT max(seq) FROM audit_log WHERE chain = 'network:1' AND seq IS NOT NULL"
    assert "uq_audit_log_chain" in _plan(at_0008, by_place)
    by_target = "SELECT id FROM audit_log WHERE target <> '' AND target = 'subject:7'"
    assert "ix_audit_log_target" in _plan(at_0008, by_target)
