"""verify's fast walk (the database renders the canonical JSON, Python hashes it) vouches
for a sound chain on its own; anything it cannot vouch for goes to the exact walk, so
both walks always give the same answer."""

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from referral.audit import chain
from referral.audit.chain import (
    GENESIS_HASH,
    NATIONAL_CHAIN,
    AuditRecord,
    append,
    canonical_json,
)
from referral.audit.fastwalk import fast_walk
from referral.audit.sequencer import sequence
from referral.audit.verify import VerifyResult, verify, walk_exact
from referral.db.engine import make_engine
from referral.db.migrate import upgrade
from tests.integration.test_audit_chain import drop_protection

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AWKWARD_RULES = ("", 'a "quoted" rule', "two\nlines\tand a tab", "règle « é » \\ \x01", "}{,:")


def write_entries(engine: Engine, count: int) -> None:
    """Entries whose text needs JSON escaping, some without an actor."""
    with Session(engine) as session, session.begin():
        for n in range(count):
            record = AuditRecord(
                action="case.read",
                allowed=n % 3 != 0,
                actor=None,
                case_id=n if n % 2 else None,
                categories=("identity", "special")[: n % 3],
                rule=AWKWARD_RULES[n % len(AWKWARD_RULES)],
                change={"n": n, "text": "é"} if n % 4 == 0 else None,
            )
            append(session, record, now=AT, request_id=f"req-{n}", policy_hash="p" * 64)
        sequence(session)


@pytest.fixture
def chained(fresh_database: Callable[[], Engine]) -> Engine:
    engine = fresh_database()
    write_entries(engine, 23)
    return engine


def test_fast_walk_vouches_for_every_entry_of_a_sound_chain(chained: Engine) -> None:
    with Session(chained) as session:
        result = verify(session, batch_size=5)
        assert result.ok, result.problem
        assert result.entries == 23
        head = result.head(NATIONAL_CHAIN)
        assert fast_walk(session, NATIONAL_CHAIN, 0, GENESIS_HASH, 5) == (23, head.hash)


def test_fast_and_exact_walks_reach_the_same_head(chained: Engine) -> None:
    with Session(chained) as session:
        failure, count, head_hash = walk_exact(session, NATIONAL_CHAIN, GENESIS_HASH, 0, 5)
        assert failure is None
        result = verify(session)
        assert result == VerifyResult(count)
        assert result.head(NATIONAL_CHAIN).hash == head_hash


def test_a_newline_slipped_into_an_entry_is_found_and_named(chained: Engine, backend: str) -> None:
    drop_protection(chained, backend)
    with chained.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET hash = substr(hash, 1, 63) || :nl WHERE seq = 7"),
            {"nl": "\n"},
        )
    with Session(chained) as session:
        result = verify(session, batch_size=5)
    assert (result.first_bad_seq, result.entries) == (7, 6)
    assert "altered" in result.problem


def test_entry_stored_in_another_text_form_still_verifies(tmp_path: Path) -> None:
    # SQLite keeps `at` as text; written by another tool without the microseconds, the
    # entry is the same: the fast walk stops there and the exact walk vouches for it.
    engine = make_engine(f"sqlite:///{tmp_path / 'other-form.sqlite3'}")
    upgrade(engine)
    try:
        write_entries(engine, 12)
        with Session(engine) as session:
            before = verify(session)
        drop_protection(engine, "sqlite")
        with engine.begin() as connection:
            stored = connection.scalar(text("SELECT at FROM audit_log WHERE seq = 4"))
            assert stored == "2026-03-02 09:00:00.000000"
            connection.execute(text("UPDATE audit_log SET at = substr(at, 1, 19) WHERE seq = 4"))
        with Session(engine) as session:
            assert fast_walk(session, NATIONAL_CHAIN, 0, GENESIS_HASH, 5)[0] == 3
            assert verify(session, batch_size=5) == before
            assert before.ok and before.entries == 12
    finally:
        engine.dispose()


def test_an_entry_slipped_in_before_the_first_is_found(chained: Engine) -> None:
    others = ", ".join(name for name in ("chain", *chain.HASHED_FIELDS) if name != "seq")
    with chained.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO audit_log (seq, {others}, prev_hash, hash) "
                f"SELECT 0, {others}, prev_hash, 'forged' FROM audit_log WHERE seq = 1"
            )
        )
    with Session(chained) as session:
        result = verify(session, batch_size=5)
    assert (result.first_bad_seq, result.entries, result.problem) == (1, 0, "entry 1 is missing")


def write_chains(engine: Engine, count: int) -> None:
    """Entries of three networks and of none, interleaved as traffic interleaves them."""
    from referral.domain.actors import Actor

    with Session(engine) as session, session.begin():
        for n in range(count):
            network = n % 4
            actor = Actor(n, n, "police", network, "x", frozenset()) if network else None
            record = AuditRecord(
                "case:read", True, actor, case_id=n, rule=AWKWARD_RULES[n % len(AWKWARD_RULES)]
            )
            append(session, record, now=AT, request_id=f"req-{n}", policy_hash="p" * 64)
        sequence(session)


def test_the_id_order_walk_alone_vouches_for_every_chain_and_finds_what_the_chain_walk_finds(
    fresh_database: Callable[[], Engine], backend: str
) -> None:
    from referral.audit.idwalk import walk_by_id

    engine = fresh_database()
    write_chains(engine, 60)
    # On PostgreSQL id segments are read on connections of their own, at once.
    apart = {"engine": engine, "workers": 3} if backend == "postgresql" else {}
    with Session(engine) as session:
        whole = verify(session, batch_size=4, **apart)  # type: ignore[arg-type]
        assert whole.ok, whole.problem
        assert whole.entries == 60
        reached = {head.chain: (0, GENESIS_HASH) for head in whole.heads}
        walk_by_id(session, reached, batch_size=4, **apart)  # type: ignore[arg-type]
        assert reached == {head.chain: (head.seq, head.hash) for head in whole.heads}
    drop_protection(engine, backend)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET rule = 'x' WHERE chain = 'network:2' AND seq = 9")
        )
    with Session(engine) as session:
        result = verify(session, batch_size=4, **apart)  # type: ignore[arg-type]
    assert (result.chain, result.first_bad_seq, result.entries) == ("network:2", 9, 8)
    assert "altered" in result.problem


def test_an_entry_with_a_seq_below_one_and_a_well_formed_hash_is_found(
    fresh_database: Callable[[], Engine],
) -> None:
    # Unlike a forged hash, a 64-character one renders a line like any entry's: the id
    # walk meets it after the chain's run has passed seq 1 and must not skip it.
    engine = fresh_database()
    write_chains(engine, 40)
    others = ", ".join(name for name in ("chain", *chain.HASHED_FIELDS) if name != "seq")
    with engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO audit_log (seq, {others}, prev_hash, hash) "
                f"SELECT 0, {others}, prev_hash, '{'e' * 64}' FROM audit_log "
                "WHERE chain = 'network:2' AND seq = 1"
            )
        )
    with Session(engine) as session:
        result = verify(session, batch_size=4)
    assert (result.chain, result.first_bad_seq, result.entries) == ("network:2", 1, 0)
    assert result.problem == "entry 1 is missing"


def forge_last_entry(
    engine: Engine,
    chain_name: str,
    changes: Mapping[str, Any],
    rendered: Callable[[Mapping[str, Any]], str],
) -> Mapping[str, Any]:
    """Rewrite the last entry of a chain, and the chain's head, as someone with the
    database could: `changes` to its columns, and a hash over its previous hash and the
    text `rendered` makes of the entry as it was read. Returns the entry as read."""
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    with engine.begin() as connection:
        last = (
            connection.execute(
                text("SELECT * FROM audit_log WHERE chain = :chain ORDER BY seq DESC LIMIT 1"),
                {"chain": chain_name},
            )
            .one()
            ._mapping
        )
        forged = hashlib.sha256((last["prev_hash"] + rendered(last)).encode()).hexdigest()
        connection.execute(
            text(f"UPDATE audit_log SET {assignments}, hash = :hash WHERE id = :id"),
            {**changes, "hash": forged, "id": last["id"]},
        )
        connection.execute(
            text("UPDATE audit_head SET hash = :hash WHERE chain = :chain"),
            {"hash": forged, "chain": chain_name},
        )
    return last


def test_an_entry_dated_before_the_year_1000_gets_the_verdict_of_the_exact_walk(
    fresh_database: Callable[[], Engine], backend: str
) -> None:
    # Python writes the year 999 as '999', the databases as '0999'. Were the fast walks
    # to render such a date, an entry hashed over their text would pass them and fail
    # the exact walk; they leave it to the exact walk, and the walks agree.
    engine = fresh_database()
    write_chains(engine, 12)
    drop_protection(engine, backend)
    stored = "0999-03-02 09:00:00.000000" if backend == "sqlite" else "0999-03-02 09:00:00+00"

    def rendered(last: Mapping[str, Any]) -> str:
        body = {name: last[name] for name in chain.HASHED_FIELDS}
        body["allowed"] = bool(body["allowed"])  # SQLite stores 1 and 0
        body["at"] = "0999-03-02T09:00:00.000000Z"  # the four digits of the databases
        return canonical_json(body)

    forge_last_entry(engine, "network:1", {"at": stored}, rendered)
    apart = {"engine": engine, "workers": 3} if backend == "postgresql" else {}
    with Session(engine) as session:
        result = verify(session, batch_size=4, **apart)  # type: ignore[arg-type]
        exact, count, _ = walk_exact(session, "network:1", GENESIS_HASH, 0)
    if exact is None:  # a platform whose %Y writes four digits: the entry is sound
        assert result.ok and result.head("network:1").seq == count
    else:
        assert (result.chain, result.first_bad_seq, result.problem) == (
            "network:1",
            exact.first_bad_seq,
            exact.problem,
        )
