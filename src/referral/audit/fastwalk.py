"""The fast walk of verify: the database renders, Python only hashes.

It vouches for as many entries as it can and stops at the first thing that does not fit;
referral.audit.verify's exact walk takes over from there and names the problem.
"""

import hashlib
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from referral.audit.chain import (
    HASH_LENGTH,
    HASHED_FIELDS,
    LEGACY_CHAIN,
    NATIONAL_CHAIN,
    NETWORK_CHAIN_PREFIX,
)
from referral.db.tables import AuditEntry

_FIRST_SEQ, _LAST_SEQ = -(2**63), 2**63 - 1
_CHAIN_OF_NETWORK = (  # chain.chain_of in SQL, for both backends
    f"CASE WHEN network_id IS NULL THEN '{NATIONAL_CHAIN}' "
    f"ELSE '{NETWORK_CHAIN_PREFIX}' || CAST(network_id AS TEXT) END"
)


# The fast walk. The database renders each entry as one line, hash, prev_hash and the
# canonical JSON (prev_hash and the JSON are what entry_hash hashes), and a batch of
# entries as one string, so Python only splits and hashes: no SQLAlchemy row, type
# processing or json.dumps per entry. The JSON quoting of both backends is json.dumps's
# (ensure_ascii=False) and escapes every control character, so a batch splits into
# exactly its entries, and a body that hashes to the stored hash holds exactly the values
# append hashed. At the first thing that does not fit (a missing or unlinked entry, a
# hash that does not match, a value rendered another way) the fast walk stops, and the
# exact walk takes over from the last entry it vouched for: the two cannot disagree.
_SQLITE_AT = (  # stored as text, '2026-03-02 09:00:00.000000' in UTC
    "CASE WHEN typeof(at) = 'text' THEN substr(at, 1, 10) || 'T' || substr(at, 12) || 'Z' END"
)
_POSTGRES_AT = "to_json(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text"


def _sqlite_body() -> str:
    """json_object writes compactly, in argument order (sorted, as canonical_json)."""
    values = []
    for name in sorted(HASHED_FIELDS):
        if name == "at":
            value = _SQLITE_AT
        elif name == "allowed":  # stored as 0 and 1; anything else renders as null
            value = "json(CASE allowed WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)"
        else:
            value = name
        values.append(f"'{name}', {value}")
    return f"json_object({', '.join(values)})"


def _postgres_body() -> str:
    """json_build_object would add spaces: the text is concatenated, each value to_json'd."""
    parts = []
    for i, name in enumerate(sorted(HASHED_FIELDS)):
        value = _POSTGRES_AT if name == "at" else f"coalesce(to_json({name})::text, 'null')"
        parts.append(f"'{',' if i else '{'}\"{name}\":' || {value}")
    return " || ".join(parts) + " || '}'"


def _batch_sql(dialect: str) -> str:
    """Entries seq >= :start, at most :size: how many, the first and last seq, their lines.

    A line is hash, prev_hash, canonical JSON: so the line after 64 characters is what
    was hashed. A hash or prev_hash that is not 64 characters long makes the line NULL.
    """
    body = _sqlite_body() if dialect == "sqlite" else _postgres_body()
    # An entry whose network does not name its chain renders NULL: the exact walk names it.
    line = (
        f"CASE WHEN length(hash) = {HASH_LENGTH} AND length(prev_hash) = {HASH_LENGTH} "
        f"AND (chain = '{LEGACY_CHAIN}' OR chain = {_CHAIN_OF_NETWORK}) "
        f"THEN hash || prev_hash || {body} END"
    )
    if dialect == "sqlite":
        joined = "group_concat(line, char(10))"  # in the subquery's order
    else:
        joined = "string_agg(line, E'\\n' ORDER BY seq)"
    # Built from constants only: nothing here comes from outside.
    return (
        f"SELECT count(*), min(seq), max(seq), {joined} FROM (SELECT seq, {line} AS line "  # noqa: S608
        f"FROM {AuditEntry.__tablename__} WHERE chain = :chain AND seq >= :start "
        "AND seq <= :stop ORDER BY seq LIMIT :size) AS batch"
    )


Batch = tuple[int, int | None, int | None, str | None]


def _batches(
    connection: Session | Connection, chain: str, start: int, stop: int, batch_size: int
) -> Generator[Batch, None, None]:
    """The batches of seq start..stop in order, the next read on a thread while the caller
    hashes this one (the database renders a batch in one step, without holding the GIL)."""
    bind = connection if isinstance(connection, Connection) else connection.get_bind()
    statement = text(_batch_sql(bind.dialect.name))

    def read(first: int) -> Batch:
        params = {"chain": chain, "start": first, "stop": stop, "size": batch_size}
        size, low, high, joined = connection.execute(statement, params).one()
        return size, low, high, joined

    with ThreadPoolExecutor(max_workers=1) as pool:  # on exit, waits for a read in flight
        pending = pool.submit(read, start)
        while True:
            batch = pending.result()
            size, _first, last, _joined = batch
            if size < batch_size or last is None:
                yield batch
                return
            pending = pool.submit(read, last + 1)
            yield batch


def _hash_lines(
    batches: Iterable[Batch], count: int, prev_hash: str | None
) -> tuple[int, str, str]:
    """Entries from count + 1 that verify, linked to `prev_hash` (None: to whatever the
    first entry names): how many in all, the hash of the last, the first's prev_hash."""
    sha256 = hashlib.sha256
    first_prev = prev_hash
    for size, first, last, joined in batches:
        # seq is a unique integer: `size` of them from count + 1 to count + size are
        # exactly the next ones.
        if not size or (first, last) != (count + 1, count + size) or joined is None:
            break
        lines = joined.split("\n")
        if len(lines) != size:  # a NULL, or a newline where none can be
            break
        if prev_hash is None:
            prev_hash = first_prev = lines[0][HASH_LENGTH : 2 * HASH_LENGTH]
        for line in lines:
            new_hash = sha256(line[HASH_LENGTH:].encode()).hexdigest()
            if not (line.startswith(prev_hash, HASH_LENGTH) and line.startswith(new_hash)):
                return count, prev_hash, first_prev or ""
            prev_hash, count = new_hash, count + 1
    return count, prev_hash or "", first_prev or ""


def fast_walk(
    session: Session, chain: str, count: int, prev_hash: str, batch_size: int = 10_000
) -> tuple[int, str]:
    """How many entries of `chain`, from entry count + 1 on, verify; and the last hash."""
    # From the genesis, read from the least seq there is: an entry slipped in before the
    # first must be seen (and named by the exact walk), not skipped.
    low = count + 1 if count else _FIRST_SEQ
    with closing(_batches(session, chain, low, _LAST_SEQ, batch_size)) as batches:
        count, prev_hash, _ = _hash_lines(batches, count, prev_hash)
    return count, prev_hash
