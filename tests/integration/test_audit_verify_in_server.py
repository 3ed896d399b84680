"""verify on PostgreSQL: the server renders, hashes and checks each entry, over id ranges
read on several connections at once, and Python joins the runs. Whatever it vouches for,
the exact walk would vouch for; whatever it cannot, verify still names, entry by entry."""

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from referral.audit import idwalk
from referral.audit.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    AuditRecord,
    append,
    canonical_json,
    format_time,
)
from referral.audit.fastwalk import (
    _postgres_body,
    _postgres_plain_body,
    postgres_entry_fits,
    walk_in_database,
)
from referral.audit.idwalk import (
    _postgres_range_sql,
    _range_run,
    _rows,
    needs_no_escape,
    walk_by_id_in_database,
)
from referral.audit.sequencer import sequence
from referral.audit.verify import ChainHead, verify, walk_exact
from referral.domain.actors import Actor
from tests.integration.test_audit_chain import drop_protection
from tests.integration.test_audit_verify import AT, forge_last_entry, write_chains

pytestmark = pytest.mark.postgres  # skipped, with the reason, without PostgreSQL

ENTRIES = 80  # four chains of 20: network:1..3 and national


@pytest.fixture
def chains(fresh_database: Callable[[], Engine]) -> Engine:
    engine = fresh_database()
    write_chains(engine, ENTRIES)
    return engine


def parallel(engine: Engine) -> dict[str, object]:
    """verify as the command runs it, on three connections, in small pieces."""
    return {"engine": engine, "workers": 3, "batch_size": 4}


def test_the_server_renders_every_entry_as_python_does(chains: Engine) -> None:
    # Both renderings the server may use: quoted as is (no character JSON escapes) and
    # to_json'd; each must be exactly json.dumps's, or an entry could pass here and fail
    # the outside verifier.
    plain, _ = _postgres_plain_body()
    columns = ", ".join(HASHED_FIELDS)
    query = text(
        f"SELECT {columns}, {postgres_entry_fits()} AS fits, "
        f"{_postgres_body()} AS escaped, {plain} AS plain FROM audit_log"
    )
    escaping = 0
    with chains.connect() as connection:
        for row in connection.execute(query):
            body = {name: getattr(row, name) for name in HASHED_FIELDS}
            body["at"] = format_time(body["at"])
            expected = canonical_json(body)
            assert row.escaped == expected
            assert row.fits is True
            if row.plain != expected:  # only where a character needs escaping
                escaping += 1
                assert '\\"' in expected or "\\n" in expected or "\\\\" in expected
    assert escaping > 0  # the awkward rules took the escaping branch


def test_id_ranges_alone_vouch_for_every_chain(chains: Engine) -> None:
    with Session(chains) as session:
        whole = verify(session, **parallel(chains))  # type: ignore[arg-type]
        assert whole.ok, whole.problem
        assert whole.entries == ENTRIES
        expected = {head.chain: (head.seq, head.hash) for head in whole.heads}
        for apart in ({"engine": chains, "workers": 3}, {}):  # at once; on the session
            reached = dict.fromkeys(expected, (0, GENESIS_HASH))
            walk_by_id_in_database(session, reached, batch_size=7, **apart)  # type: ignore[arg-type]
            assert reached == expected
            by_seq = dict.fromkeys(expected, (0, GENESIS_HASH))
            walk_in_database(session, by_seq, segment_size=3, **apart)  # type: ignore[arg-type]
            assert by_seq == expected


@pytest.mark.parametrize(
    ("tamper", "seq", "problem"),
    [
        ("UPDATE audit_log SET rule = 'x' WHERE chain = 'network:3' AND seq = 17", 17, "altered"),
        ("DELETE FROM audit_log WHERE chain = 'network:3' AND seq = 17", 17, "missing"),
        ("DELETE FROM audit_log WHERE chain = 'network:3' AND seq > 17", 18, "removed"),
        (
            "UPDATE audit_log SET network_id = 1 WHERE chain = 'network:3' AND seq = 17",
            17,
            "another network",
        ),
    ],
)
def test_a_problem_in_a_later_chain_is_named(
    chains: Engine, tamper: str, seq: int, problem: str
) -> None:
    drop_protection(chains, "postgresql")
    with chains.begin() as connection:
        connection.execute(text(tamper))
    for apart in (parallel(chains), {"batch_size": 4}):
        with Session(chains) as session:
            result = verify(session, **apart)  # type: ignore[arg-type]
        assert (result.chain, result.first_bad_seq, result.entries) == ("network:3", seq, seq - 1)
        assert problem in result.problem


def test_an_entry_with_a_seq_below_one_and_a_well_formed_hash_is_found(chains: Engine) -> None:
    # Its hash is 64 hex characters, so it renders and hashes like any entry: only its
    # place gives it away, after the chain's head has moved past seq 1.
    others = ", ".join(name for name in ("chain", *HASHED_FIELDS) if name != "seq")
    with chains.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO audit_log (seq, {others}, prev_hash, hash) "
                f"SELECT 0, {others}, prev_hash, repeat('e', 64) FROM audit_log "
                "WHERE chain = 'network:2' AND seq = 1"
            )
        )
    with Session(chains) as session:
        result = verify(session, **parallel(chains))  # type: ignore[arg-type]
    assert (result.chain, result.first_bad_seq, result.entries) == ("network:2", 1, 0)
    assert result.problem == "entry 1 is missing"


def test_entries_placed_out_of_id_order_across_a_range_edge_still_verify(chains: Engine) -> None:
    # A transaction that commits after a later one has its entry placed after it: seq
    # order and id order differ. At the edge of an id range the run does not join; the
    # chain is walked again in the server by seq, and verifies.
    with Session(chains) as session:
        before = verify(session, **parallel(chains))  # type: ignore[arg-type]
    drop_protection(chains, "postgresql")
    with chains.begin() as connection:
        ids = connection.execute(
            text(
                "SELECT id FROM audit_log WHERE chain = 'network:1' AND seq IN (5, 6) ORDER BY seq"
            )
        ).scalars()
        fifth, sixth = list(ids)
        swap = "UPDATE audit_log SET id = :to WHERE id = :at"
        connection.execute(text(swap), {"to": -1, "at": fifth})
        connection.execute(text(swap), {"to": fifth, "at": sixth})
        connection.execute(text(swap), {"to": sixth, "at": -1})
    for batch_size in range(2, 9):  # the edge falls between the two somewhere
        with Session(chains) as session:
            result = verify(session, engine=chains, workers=3, batch_size=batch_size)
        assert result == before
        assert result.heads == before.heads


def test_since_a_checkpoint_the_server_checks_only_what_follows(chains: Engine) -> None:
    with Session(chains) as session:
        whole = verify(session, **parallel(chains))  # type: ignore[arg-type]
    # The chains with entries (legacy has none here), trusted up to 5 before their end.
    trusted = {
        head.chain: ChainHead(head.chain, head.seq - 5, "") for head in whole.heads if head.seq
    }
    with chains.connect() as connection:
        for chain, head in trusted.items():
            stored = connection.scalar(
                text("SELECT hash FROM audit_log WHERE chain = :c AND seq = :s"),
                {"c": chain, "s": head.seq},
            )
            trusted[chain] = ChainHead(chain, head.seq, stored)
    with Session(chains) as session:
        result = verify(session, since=trusted, **parallel(chains))  # type: ignore[arg-type]
    assert result.ok, result.problem
    assert result.entries == 5 * len(trusted)
    assert result.heads == whole.heads
    # An entry before the checkpoint is not read again; one after it is.
    drop_protection(chains, "postgresql")
    with chains.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET rule = 'x' WHERE chain = 'national' AND seq = 2")
        )
    with Session(chains) as session:
        assert verify(session, since=trusted, **parallel(chains)).ok  # type: ignore[arg-type]
        late = trusted["national"].seq + 2
    with chains.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET rule = 'x' WHERE chain = 'national' AND seq = :s"),
            {"s": late},
        )
    with Session(chains) as session:
        result = verify(session, since=trusted, **parallel(chains))  # type: ignore[arg-type]
    assert (result.chain, result.first_bad_seq) == ("national", late)
    assert "altered" in result.problem


def test_a_seq_repeated_after_the_chain_moved_past_it_is_named(chains: Engine) -> None:
    # With the unique (chain, seq) index gone, a copy of entry 5 inserted last: the
    # id walk meets it after the chain's run passed 5, and the chain is walked again.
    others = ", ".join(name for name in ("chain", *HASHED_FIELDS, "prev_hash") if name != "hash")
    with chains.begin() as connection:
        connection.execute(text("DROP INDEX uq_audit_log_chain"))
        connection.execute(
            text(
                f"INSERT INTO audit_log ({others}, hash) SELECT {others}, repeat('d', 64) "
                "FROM audit_log WHERE chain = 'network:1' AND seq = 5"
            )
        )
    for apart in (parallel(chains), {"batch_size": 4}):
        with Session(chains) as session:
            result = verify(session, **apart)  # type: ignore[arg-type]
        assert (result.chain, result.first_bad_seq) == ("network:1", 6)
        assert not result.ok


def unescaped_json(body: Mapping[str, Any]) -> str:
    """The canonical JSON with each string written between quotes as it is: what plain
    concatenation makes of an entry whose strings hold a character JSON escapes."""
    members = []
    for name in sorted(HASHED_FIELDS):
        value = body[name]
        members.append(
            f'"{name}":' + (f'"{value}"' if isinstance(value, str) else json.dumps(value))
        )
    return "{" + ",".join(members) + "}"


@pytest.mark.parametrize(
    "rule", ['a "quoted" rule', "a back\\slash", "a \x01 control", "two\nlines", 'x","target":"y']
)
def test_an_entry_hashed_over_its_strings_unescaped_is_not_vouched_for(
    chains: Engine, rule: str
) -> None:
    # Someone with the database rewrites the last entry of a chain, and its head, with a
    # hash over the text as plain concatenation renders it. The server's plain rendering
    # matches that hash; the entry must still not be vouched for: its strings are looked
    # at, it is read again with escapes, and the exact walk names it.
    drop_protection(chains, "postgresql")
    last = forge_last_entry(
        chains,
        "network:2",
        {"rule": rule},
        lambda last: unescaped_json({**last, "rule": rule, "at": format_time(last["at"])}),
    )
    seq = last["seq"]
    with Session(chains) as session:
        reached = dict.fromkeys(
            ("national", "network:1", "network:2", "network:3"), (0, GENESIS_HASH)
        )
        for batch_size in (7, 100):  # the entry in a small range, and all in one
            walk_by_id_in_database(session, reached, chains, workers=3, batch_size=batch_size)
            assert reached["network:2"][0] < seq
            reached = dict.fromkeys(reached, (0, GENESIS_HASH))
        result = verify(session, **parallel(chains))  # type: ignore[arg-type]
        exact, _, _ = walk_exact(session, "network:2", GENESIS_HASH, 0)
    assert (result.chain, result.first_bad_seq) == ("network:2", seq)
    assert "altered" in result.problem
    assert exact is not None and (exact.first_bad_seq, exact.problem) == (seq, result.problem)


def _two_chains(engine: Engine, count: int, rule: Callable[[int, bool], str]) -> None:
    """`count` placed entries, the odd ones in network:1, the even ones national; entry
    n's rule is rule(n, whether it has an actor)."""
    with Session(engine) as session, session.begin():
        for n in range(count):
            actor = Actor(n, n, "police", 1, "x", frozenset()) if n % 2 else None
            record = AuditRecord("case:read", True, actor, case_id=n, rule=rule(n, bool(actor)))
            append(session, record, now=AT, request_id=f"req-{n}", policy_hash="p" * 64)
        sequence(session)


def test_a_range_read_again_with_care_vouches_as_the_first_reading_would(
    fresh_database: Callable[[], Engine],
) -> None:
    # One chain whose strings need no escaping (outside ASCII is written as it is), one
    # whose every entry holds a quote: read again, sorted, rendered with escapes.
    engine = fresh_database()
    _two_chains(engine, 12, lambda _, acted: "règle « é » ✓" if acted else 'a "quoted" rule')
    whole = {"after": 0, "until": 10**9, "floors": "{}"}
    with engine.connect() as connection:
        rows = _rows(connection, _postgres_range_sql(False), whole)
        found = {row[0]: (_range_run(row), row[-1]) for row in rows}
        again = _rows(
            connection, _postgres_range_sql(False, careful=True), {**whole, "chains": ["national"]}
        )
        careful = {row[0]: _range_run(row)[0] for row in again}
    (_, quoted_read_again), quoted_strings = found["national"]
    assert quoted_read_again and not needs_no_escape(quoted_strings)
    assert needs_no_escape(found["network:1"][1])
    assert careful["national"].whole and (careful["national"].first, careful["national"].last) == (
        1,
        6,
    )
    with Session(engine) as session:
        heads = {head.chain: (head.seq, head.hash) for head in verify(session).heads}
        reached = dict.fromkeys(heads, (0, GENESIS_HASH))
        walk_by_id_in_database(session, reached)
        assert reached == heads


def test_where_most_strings_need_escaping_every_range_is_read_with_care_at_once(
    fresh_database: Callable[[], Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every entry holds a quote: read plainly, every chain of every range would be read
    # twice. After a while the walk reads each range with care at once, and vouches for
    # the same; a later entry altered is still named.
    engine = fresh_database()
    _two_chains(engine, 160, lambda n, _: f'rule "{n}"')
    statements: list[str] = []
    reads = idwalk._rows

    def counted(connection: Any, statement: str, params: Mapping[str, Any]) -> list[Any]:
        statements.append(statement)
        return reads(connection, statement, params)

    monkeypatch.setattr(idwalk, "_rows", counted)
    at_once = _postgres_range_sql(False, careful=True, chosen=False)
    with Session(engine) as session:
        heads = {head.chain: (head.seq, head.hash) for head in verify(session).heads}
        reached = dict.fromkeys(heads, (0, GENESIS_HASH))
        statements.clear()
        walk_by_id_in_database(session, reached, batch_size=2)  # 80 ranges, one at a time
        assert reached == heads
        assert statements[0] != at_once and statements[-1] == at_once
    drop_protection(engine, "postgresql")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET target = 'x' WHERE chain = 'network:1' AND seq = 70")
        )
    with Session(engine) as session:
        result = verify(session, batch_size=2)
    assert (result.chain, result.first_bad_seq) == ("network:1", 70)
    assert "altered" in result.problem
