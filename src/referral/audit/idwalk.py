"""The fast walk over every chain at once, in the table's own order (id).

Chains interleave in the table: walking one chain by its (chain, seq) index fetches
its rows from all over the table. This walk reads the table in id order instead (on
SQLite the rowid order, a sequential read), keeps one running head per chain, and
vouches for each entry that continues its chain: the next seq, linked, hashed right.
A chain whose next entry does not fit (out of order, broken, unreadable) is left where
it stopped; referral.audit.verify walks it on from there, by (chain, seq), and names
the problem. So this walk only ever saves time, it never decides.

Segments of the id range may be read on connections of their own at once: each entry
stores its prev_hash, so a segment vouches for each chain's run within it, and joining
the runs end to end checks the links at the boundaries. On PostgreSQL verify uses
`walk_by_id_in_database` below: the server also hashes, and Python sees no entry, only
each chain's strings at once, to check none needs escaping.
"""

import hashlib
import json
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from referral.audit.chain import HASH_LENGTH, LEGACY_CHAIN, NATIONAL_CHAIN, chain_of
from referral.audit.fastwalk import (
    _CHAIN_OF_NETWORK,
    PLAIN_QUOTED_COLUMNS,
    _postgres_body,
    _sqlite_body,
    concatenated,
    postgres_entry_fits,
    postgres_plain_line,
)
from referral.db.tables import AuditEntry

SEQ_WIDTH, CHAIN_WIDTH = 20, 32
_HASH_AT = SEQ_WIDTH + CHAIN_WIDTH  # a line: seq, chain, hash, prev_hash, canonical JSON
_PREV_AT = _HASH_AT + HASH_LENGTH
_BODY_AT = _PREV_AT + HASH_LENGTH


def _sql(dialect: str) -> str:
    """Placed entries with id > :after, at most :size: how many, the last id, the lines."""
    if dialect == "sqlite":
        body, joined = _sqlite_body(), "group_concat(line, char(10))"
        fixed = f"printf('%0{SEQ_WIDTH}d', seq) || printf('%-{CHAIN_WIDTH}s', chain)"
    else:
        body, joined = _postgres_body(), "string_agg(line, E'\\n' ORDER BY id)"
        fixed = f"lpad(seq::text, {SEQ_WIDTH}, '0') || rpad(chain, {CHAIN_WIDTH})"
    line = (
        f"CASE WHEN length(hash) = {HASH_LENGTH} AND length(prev_hash) = {HASH_LENGTH} "
        f"AND seq > 0 AND length(chain) <= {CHAIN_WIDTH} "
        f"AND (chain = '{LEGACY_CHAIN}' OR chain = {_CHAIN_OF_NETWORK}) "
        f"THEN {fixed} || hash || prev_hash || {body} END"
    )
    # Built from constants only: nothing here comes from outside.
    return (
        f"SELECT count(*), max(id), {joined} FROM (SELECT id, {line} AS line "  # noqa: S608
        f"FROM {AuditEntry.__tablename__} WHERE id > :after AND id <= :until "
        "AND seq IS NOT NULL ORDER BY id LIMIT :size) AS batch"
    )


Batch = tuple[int, int | None, str | None]


def _batches(
    connection: Session | Connection, after: int, until: int, size: int
) -> Generator[Batch, None, None]:
    """Batches in id order, the next read on a thread while the caller hashes this one."""
    bind = connection if isinstance(connection, Connection) else connection.get_bind()
    statement = text(_sql(bind.dialect.name))

    def read(start: int) -> Batch:
        params = {"after": start, "until": until, "size": size}
        count, last, joined = connection.execute(statement, params).one()
        return count, last, joined

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read, after)
        while True:
            batch = pending.result()
            if batch[0] < size or batch[1] is None:
                yield batch
                return
            pending = pool.submit(read, batch[1])
            yield batch


@dataclass
class Run:
    """A chain's entries a segment vouches for: seq first..last, linked from first_prev
    to last_hash; `whole` unless the chain stopped fitting inside the segment."""

    first: int
    first_prev: str
    last: int
    last_hash: str
    whole: bool = True


def _runs(batches: Iterable[Batch], floors: Mapping[str, int]) -> dict[str, Run] | None:
    """Each chain's run in these batches (entries at or below its floor are skipped);
    None when a batch cannot be read line by line (the caller walks chain by chain)."""
    sha256 = hashlib.sha256
    runs: dict[str, Run] = {}
    for count, _last, joined in batches:
        if not count:
            break
        if joined is None:
            return None
        lines = joined.split("\n")
        if len(lines) != count:  # a NULL line, or a newline where none can be
            return None
        for line in lines:
            chain = line[SEQ_WIDTH:_HASH_AT]  # padded: a key as good as the name
            run = runs.get(chain)
            seq = int(line[:SEQ_WIDTH])
            if run is None:
                if seq <= floors.get(chain.rstrip(), 0):
                    continue
                prev = line[_PREV_AT:_BODY_AT]
                run = runs[chain] = Run(seq, prev, seq - 1, prev)
            elif not run.whole:
                continue
            new_hash = sha256(line[_PREV_AT:].encode()).hexdigest()
            if (
                seq == run.last + 1
                and line.startswith(run.last_hash, _PREV_AT)
                and line.startswith(new_hash, _HASH_AT)
            ):
                run.last, run.last_hash = seq, new_hash
            elif seq > floors.get(chain.rstrip(), 0):
                run.whole = False
    return {chain.rstrip(): run for chain, run in runs.items()}


Heads = dict[str, tuple[int, str]]


def _join(
    heads: Heads, floors: Mapping[str, int], segments: list[dict[str, Run] | None]
) -> set[str]:
    """Move `heads` on along each segment's runs, in order; the chains that stopped."""
    stopped: set[str] = set()
    for runs in segments:
        if runs is None:
            return set(heads) | {"*"}
        for chain, run in runs.items():
            if chain in stopped:
                continue
            count, prev_hash = heads.get(chain, (floors.get(chain, 0), ""))
            if run.first != count + 1 or run.first_prev != prev_hash:
                stopped.add(chain)
                continue
            if run.last >= run.first:
                heads[chain] = (run.last, run.last_hash)
            if not run.whole:
                stopped.add(chain)
    return stopped


def _join_or_restart(
    heads: Heads, floors: Mapping[str, int], segments: list[dict[str, Run] | None]
) -> None:
    """Join the runs; a chain that stopped anywhere goes back to its start.

    A chain may stop after its head moved on: an entry with a seq it already passed (a
    seq below 1 slipped in, a seq repeated) turns up in a later segment. Such a chain is
    walked again from its start by (chain, seq), which meets the entry where it lies.
    """
    starts = dict(heads)
    for chain in _join(heads, floors, segments):
        if chain in starts:
            heads[chain] = starts[chain]


def walk_by_id(
    session: Session,
    heads: Heads,
    *,
    batch_size: int = 10_000,
    engine: Engine | None = None,
    workers: int = 1,
) -> None:
    """Move each chain's (count, hash) in `heads` on as far as this walk vouches.

    `heads` holds every chain's start: (0, genesis hash) or a checkpoint's head. With
    `engine` and `workers` > 1, id ranges are read on that many connections at once.
    """
    floors = {chain: count for chain, (count, _) in heads.items()}
    after = _first_id(session, heads) - 1
    until = int(session.scalar(select(func.max(AuditEntry.id))) or 0)
    if until <= after:
        return
    if engine is None or workers <= 1 or until - after < 4 * batch_size:
        with closing(_batches(session, after, until, batch_size)) as batches:
            segments = [_runs(batches, floors)]
    else:
        step = -(-(until - after) // (workers * 4))
        bounds = [(low, min(low + step, until)) for low in range(after, until, step)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            segments = list(pool.map(_segment(engine, floors, batch_size), bounds))
    _join_or_restart(heads, floors, segments)


def _segment(
    engine: Engine, floors: Mapping[str, int], batch_size: int
) -> Callable[[tuple[int, int]], dict[str, Run] | None]:
    def run(bounds: tuple[int, int]) -> dict[str, Run] | None:
        with (
            engine.connect() as connection,
            connection.begin(),
            closing(_batches(connection, bounds[0], bounds[1], batch_size)) as batches,
        ):
            return _runs(batches, floors)

    return run


def _first_id(session: Session, heads: Heads) -> int:
    """The least id of an entry past a chain's start: the walk need not read before it.

    One lookup per chain in the (chain, seq) index: from a checkpoint, a day's check
    starts at the day's first entry instead of reading the history.
    """
    if not any(count for count, _ in heads.values()):
        return 0
    ids = [
        session.scalar(
            select(AuditEntry.id).where(AuditEntry.chain == chain, AuditEntry.seq == count + 1)
        )
        for chain, (count, _) in heads.items()
    ]
    found = [i for i in ids if i is not None]
    return min(found) if found else int(session.scalar(select(func.max(AuditEntry.id))) or 0) + 1


# The id walk inside PostgreSQL: each id range is read once, in table order, on a
# connection of its own, and grouped by chain (a hash aggregate: no sort). The server
# renders every entry by plain concatenation (fastwalk's postgres_plain_line), hashes it
# and compares it with the stored hash; per chain it answers how many entries do not
# fit, their seqs as a string in the order it read them, and whether each prev_hash is
# the hash before it in that order (the prev_hashes and the hashes, each concatenated,
# shifted by one hash, are equal), with the first prev_hash and the last hash. Python
# checks the seqs run on by one in that order, with no gap or repeat, so the links were
# checked in seq order; then joins the runs end to end: no Python per entry.
#
# Plain concatenation is json.dumps's only when no string holds a character JSON
# escapes (a quote, a backslash, a control character). Testing each entry in the server
# (a regex, or to_json and a length) cost it as much as the hash; instead the server
# answers the string columns of each chain's entries concatenated, as bytes, and Python
# looks for those bytes in one pass. A chain with such a character in the range, or
# whose seqs came in another order (an entry placed after a later id), is read again,
# sorted by seq and rendered with escapes where needed (postgres_entry_fits): still in
# the server, and only those chains.
def _postgres_range_sql(floors: bool, *, careful: bool = False, chosen: bool = True) -> str:
    """The statement, for psycopg's own cursor (%(name)s parameters). `careful`: sorted
    by seq, rendered with escapes where needed, of the chains %(chains)s (all: `chosen`
    false)."""
    above_floor = (
        "AND seq > coalesce((CAST(%(floors)s AS jsonb) ->> chain)::bigint, 0) " if floors else ""
    )
    if careful:
        fits = postgres_entry_fits()
        chains = "AND chain = ANY(%(chains)s) " if chosen else ""
        order, strings = "chain, seq", "''::bytea"
    else:
        fits = (
            f"octet_length(prev_hash) = {HASH_LENGTH} "
            f"AND hash = encode(sha256(convert_to({postgres_plain_line()}, 'UTF8')), 'hex')"
        )
        # In id order, which the primary key's index gives a range for free: the order
        # the sequencer placed them in, but for an entry committed after a later id.
        chains, order = "", "id"
        strings = f"convert_to(string_agg({concatenated(list(PLAIN_QUOTED_COLUMNS))}, ''), 'UTF8')"
    last_hash = f"substring(hashes FROM octet_length(hashes) - {HASH_LENGTH - 1})"
    # Built from constants only: nothing here comes from outside.
    return (
        f"SELECT chain, entries, misfits, seqs, substring(prevs FOR {HASH_LENGTH}), "  # noqa: S608
        f"{last_hash}, prevs || {last_hash} = substring(prevs FOR {HASH_LENGTH}) || hashes, "
        "octet_length(prevs), octet_length(hashes), low, high, networked, strings FROM ("
        f"SELECT chain, count(*) AS entries, count(*) FILTER (WHERE ({fits}) IS NOT TRUE) "
        "AS misfits, string_agg(seq::text, ',') AS seqs, "
        "convert_to(string_agg(prev_hash, ''), 'UTF8') AS prevs, "
        "convert_to(string_agg(hash, ''), 'UTF8') AS hashes, min(network_id) AS low, "
        "max(network_id) AS high, count(network_id) AS networked, "
        f"{strings} AS strings FROM (SELECT * FROM {AuditEntry.__tablename__} "
        "WHERE id > %(after)s AND id <= %(until)s AND seq IS NOT NULL "
        f"{above_floor}{chains}ORDER BY {order}) AS entries GROUP BY chain) AS runs"
    )


def _rows(connection: Connection, statement: str, params: Mapping[str, Any]) -> list[Any]:
    """The rows of `statement` on psycopg's cursor, in the binary protocol: the strings
    arrive as bytes, looked at without being decoded (or, in text, unhexed)."""
    driver = connection.connection.driver_connection
    with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def _names_its_network(chain: str, low: Any, high: Any, networked: int, entries: int) -> bool:
    """chain_of(network_id) is the chain for every entry of a group (legacy: any network)."""
    if chain == LEGACY_CHAIN:
        return True
    if not networked:
        return chain == NATIONAL_CHAIN
    return networked == entries and low == high and chain == chain_of(low)


# What JSON escapes: a quote, a backslash, the control characters. In UTF-8 these bytes
# stand for themselves only: every byte of a longer character is 0x80 or more.
_ESCAPED = bytes(range(0x20)) + b'"\\'


def needs_no_escape(strings: bytes | None) -> bool:
    """No string in these UTF-8 bytes holds a character json.dumps escapes: between
    quotes as they are, they are what json.dumps writes."""
    return strings is not None and len(strings.translate(None, _ESCAPED)) == len(strings)


def _range_run(found: Any) -> tuple[Run, bool]:
    """The run one chain's entries in one id range make, and whether to read them again
    with care: a string needs escaping, or the seqs came out of order."""
    chain, entries, misfits, seqs, first_prev, last_hash, linked, *rest = found
    prevs_length, hashes_length, low, high, networked, strings = rest
    first = int((seqs or "0").partition(",")[0])
    in_order = seqs == ",".join(map(str, range(first, first + entries)))
    plain = needs_no_escape(strings)  # the careful reading answers b"": escapes are done
    whole = (
        in_order
        and plain
        and not misfits
        and linked is True
        and prevs_length == hashes_length == entries * HASH_LENGTH
        and _names_its_network(chain, low, high, networked, entries)
    )
    again = not (in_order and plain)
    if not whole:  # vouches for none of it: the chain stops before this range
        return Run(first, "", first - 1, "", whole=False), again
    # latin-1 reads any bytes: a prev_hash that is not hex cannot equal a hash.
    run = Run(first, bytes(first_prev).decode("latin-1"), first + entries - 1, last_hash.decode())
    return run, again


_TALLY_AFTER = 64  # chains read before the tally decides anything


def walk_by_id_in_database(
    session: Session,
    heads: Heads,
    engine: Engine | None = None,
    *,
    workers: int = 1,
    batch_size: int = 10_000,
) -> None:
    """Move each chain's (count, hash) in `heads` on as far as the server vouches.

    With `engine` and `workers` > 1, id ranges are checked on that many connections at
    once (committed entries only); otherwise on the session's connection.
    """
    floors = {chain: count for chain, (count, _) in heads.items()}
    after = _first_id(session, heads) - 1
    until = int(session.scalar(select(func.max(AuditEntry.id))) or 0)
    if until <= after:
        return
    parallel = engine is not None and workers > 1
    # Ranges enough to keep every connection busy to the end; none so large that what
    # its chains concatenate (about 300 bytes an entry) weighs on the server's memory.
    step = min(-(-(until - after) // (workers * 4 if parallel else 1)), batch_size)
    bounds = [(low, min(low + step, until)) for low in range(after, until, step)]
    statement = _postgres_range_sql(any(floors.values()))
    careful = _postgres_range_sql(any(floors.values()), careful=True)
    all_with_care = _postgres_range_sql(any(floors.values()), careful=True, chosen=False)
    floors_json = json.dumps({chain: count for chain, count in floors.items() if count})
    # Chains read so far, and those read again with care. Where most must be (strings
    # that need escaping everywhere), the rest of the walk reads every range with care
    # at once rather than twice: no slower than one careful reading.
    tally, lock = [0, 0], threading.Lock()

    def check(connection: Connection, low: int, high: int) -> dict[str, Run]:
        params: dict[str, Any] = {"after": low, "until": high, "floors": floors_json}
        with lock:
            at_once = tally[0] >= _TALLY_AFTER and 2 * tally[1] > tally[0]
        if at_once:
            return {
                found[0]: _range_run(found)[0] for found in _rows(connection, all_with_care, params)
            }
        runs, again = {}, []
        for found in _rows(connection, statement, params):
            runs[found[0]], read_again = _range_run(found)
            if read_again:
                again.append(found[0])
        if again:  # only those chains, sorted, rendered with escapes where needed
            for found in _rows(connection, careful, {**params, "chains": again}):
                runs[found[0]] = _range_run(found)[0]
        with lock:
            tally[0] += len(runs)
            tally[1] += len(again)
        return runs

    if engine is not None and parallel:

        def own(bound: tuple[int, int]) -> dict[str, Run]:
            with engine.connect() as connection:
                return check(connection, *bound)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            segments: list[dict[str, Run] | None] = list(pool.map(own, bounds))
    else:
        here = session.connection()
        segments = [check(here, *bound) for bound in bounds]
    _join_or_restart(heads, floors, segments)
