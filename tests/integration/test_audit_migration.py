"""Revision 0007 keeps every entry written before it, hashes untouched, as the legacy
chain that verifies as it always did; new entries go to their network's chain after it."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from referral.audit.chain import GENESIS_HASH, AuditRecord, append, entry_hash
from referral.audit.sequencer import sequence
from referral.audit.verify import verify
from referral.db.migrate import upgrade
from referral.domain.actors import Actor
from tests.conftest import database_at

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def at_0006(tmp_path: Path) -> Iterator[Engine]:
    with database_at(tmp_path, "0006") as engine:
        yield engine


def append_as_0006_did(engine: Engine, count: int) -> str:
    """Entries in the one global chain, as the code before 0007 wrote them."""
    prev_hash = GENESIS_HASH
    with engine.begin() as connection:
        for seq in range(1, count + 1):
            body = {
                "seq": seq, "at": AT, "actor_user_id": seq, "actor_org_id": 2,
                "actor_role": "coordinator", "network_id": seq % 2 + 1, "action": "case:read",
                "case_id": seq, "target": "", "categories": "status", "allowed": True,
                "rule": "r", "purpose": "panel", "legal_basis": "public_task",
                "request_id": f"old-{seq}", "workflow_hash": "", "policy_hash": "p" * 64,
                "change_digest": "",
            }  # fmt: skip
            new_hash = entry_hash(prev_hash, body)
            columns = ", ".join(body)
            values = ", ".join(f":{name}" for name in body)
            connection.execute(
                text(
                    f"INSERT INTO audit_log ({columns}, prev_hash, hash) "
                    f"VALUES ({values}, :prev_hash, :hash)"
                ),
                {**body, "prev_hash": prev_hash, "hash": new_hash},
            )
            prev_hash = new_hash
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": count, "hash": prev_hash},
        )
    return prev_hash


def test_entries_before_0007_verify_as_the_legacy_chain_and_new_ones_follow(
    at_0006: Engine,
) -> None:
    last = append_as_0006_did(at_0006, 12)
    upgrade(at_0006)
    with Session(at_0006) as session, session.begin():
        before = verify(session)
        assert before.ok, before.problem
        assert before.head("legacy").seq == 12
        assert before.head("legacy").hash == last  # not one hash rewritten
        actor = Actor(1, 2, "police", 1, "demo-city", frozenset())
        append(session, AuditRecord("case:read", True, actor), now=AT, request_id="new",
               policy_hash="")  # fmt: skip
        sequence(session)
        after = verify(session)
        assert after.ok, after.problem
        assert (after.entries, after.head("network:1").seq) == (13, 1)
        new_id = session.scalar(text("SELECT id FROM audit_log WHERE request_id = 'new'"))
        assert new_id == 13  # queued after the copied entries, whose id is their old seq
