"""The fast walk of verify: the database renders, Python only hashes; and on PostgreSQL
the walk by (chain, seq) segments in which the server hashes too (`walk_in_database`).

It vouches for as many entries as it can and stops at the first thing that does not fit;
referral.audit.verify's exact walk takes over from there and names the problem.
"""

import hashlib
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, func, literal, select, text, union_all
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
#
# Years 1000 to 9999 only: there the databases and Python's %Y all write four digits.
# Python writes a year before 1000 without leading zeros (where the databases write
# '0999') and holds no year BC or after 9999 at all; outside the range `at` renders
# NULL, so the entry does not fit and the exact walk decides.
_SQLITE_AT = (  # stored as text, '2026-03-02 09:00:00.000000' in UTC
    "CASE WHEN typeof(at) = 'text' AND at GLOB '[1-9][0-9][0-9][0-9]-*' "
    "THEN substr(at, 1, 10) || 'T' || substr(at, 12) || 'Z' END"
)
_POSTGRES_AT_IN_RANGE = (
    "at >= TIMESTAMPTZ '1000-01-01 00:00:00+00' AND at < TIMESTAMPTZ '10000-01-01 00:00:00+00'"
)
_POSTGRES_AT_TEXT = (
    f"CASE WHEN {_POSTGRES_AT_IN_RANGE} "
    "THEN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"
)
_POSTGRES_AT = f"to_json({_POSTGRES_AT_TEXT})::text"


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


# The walk inside PostgreSQL. Rendering the canonical JSON costs the database more than
# hashing it does, and shipping every rendered line to Python, splitting and hashing it
# there, holds the GIL: one core. Here each (chain, seq) segment is checked by one
# statement on a connection of its own: PostgreSQL renders each entry, hashes it
# (sha256, in the server), compares it with the stored hash, and checks seq and the link
# to the entry before within the segment; it answers with a count of entries that do
# not fit and the segment's first prev_hash and last hash, which Python joins end to
# end. So segments run on every core the server has, and Python does nearly nothing.
#
# What the server hashes is the same text the line walk hashes: a verdict here trusts
# the server's SHA-256 as the line walk trusts the rows it is sent. The rendering is
# exactly json.dumps's or the entry does not fit: text of the twelve string columns that
# holds no character JSON escapes (a quote, a backslash, a control character) is quoted
# as it is; otherwise to_json renders every value (_postgres_body, the line walk's).
# Integers are rendered by ::text, as Python's str; allowed NULL renders NULL, not fits.
_INTEGERS = frozenset({"seq", "actor_user_id", "actor_org_id", "network_id", "case_id"})
# A bracket of what JSON escapes; an E'' string reads the same whatever the server's
# standard_conforming_strings.
_NEEDS_ESCAPE = "E'[\\\\x01-\\\\x1f\"\\\\\\\\]'"


def concatenated(terms: list[str]) -> str:
    """`a || b || c ...` nested as a balanced tree: each || copies both sides, and a
    chain of 37 terms copies the growing left side every time; a tree copies each byte
    about six times instead of eighteen."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({concatenated(terms[:middle])} || {concatenated(terms[middle:])})"


def _postgres_plain_terms() -> tuple[list[str], list[str]]:
    """The canonical JSON as terms to concatenate, and the string columns it quotes as is.

    Between two values stands one literal (a quote, the next key): PostgreSQL does not
    fold `x || '"' || ',"k":'`, so the literals are joined here, halving the work.
    """
    terms, strings, text_ = [], [], "{"  # text_: the literal text not yet emitted
    for i, name in enumerate(sorted(HASHED_FIELDS)):
        text_ += f'{"," if i else ""}"{name}":'
        if name == "at":
            value, quoted = _POSTGRES_AT_TEXT, True  # digits, '-', ':', 'T', '.', 'Z'
        elif name == "seq":  # never NULL where an entry is rendered
            value, quoted = "seq::text", False
        elif name in _INTEGERS:
            value, quoted = f"coalesce({name}::text, 'null')", False
        elif name == "allowed":
            value, quoted = "allowed::text", False  # 'true' or 'false'; NULL stays NULL
        else:
            value, quoted = name, True
            strings.append(name)
        opening = '"' if quoted else ""
        terms += [f"'{text_}{opening}'", value]
        text_ = opening  # the closing quote
    terms.append(f"'{text_}}}'")
    return terms, strings


def _postgres_plain_body() -> tuple[str, list[str]]:
    """The canonical JSON by plain concatenation, and the string columns it quotes as is:
    exactly json.dumps's when none of them holds a character JSON escapes."""
    terms, strings = _postgres_plain_terms()
    return concatenated(terms), strings


PLAIN_QUOTED_COLUMNS = tuple(_postgres_plain_terms()[1])


def postgres_plain_line() -> str:
    """prev_hash followed by the plain canonical JSON: the text an entry's hash is of,
    when no string column holds a character JSON escapes."""
    terms, _ = _postgres_plain_terms()
    return concatenated(["prev_hash", *terms])


def postgres_entry_fits() -> str:
    """True when an entry, alone, is what it should be: hash and prev_hash 64 characters
    long, in the chain its network names, and its hash recomputed in the server."""
    plain, strings = _postgres_plain_body()
    clean = f"({' || '.join(strings)}) !~ {_NEEDS_ESCAPE}"
    body = f"CASE WHEN {clean} THEN {plain} ELSE {_postgres_body()} END"
    return (
        f"length(hash) = {HASH_LENGTH} AND length(prev_hash) = {HASH_LENGTH} "
        f"AND (chain = '{LEGACY_CHAIN}' OR chain = {_CHAIN_OF_NETWORK}) "
        f"AND hash = encode(sha256(convert_to(prev_hash || {body}, 'UTF8')), 'hex')"
    )


def _segment_sql() -> str:
    """One (chain, seq) segment checked in the server: how many entries, the least and
    greatest seq, how many do not fit, the first entry's prev_hash, the last's hash."""
    fits = (
        f"{postgres_entry_fits()} "
        "AND seq = coalesce(lag(seq) OVER w + 1, seq) "
        "AND prev_hash = coalesce(lag(hash) OVER w, prev_hash)"
    )
    # Built from constants only: nothing here comes from outside.
    return (
        "SELECT count(*), min(seq), max(seq), count(*) FILTER (WHERE fits IS NOT TRUE), "  # noqa: S608
        "max(first_prev), max(last_hash) FROM ("
        f"SELECT seq, ({fits}) AS fits, "
        "CASE WHEN lag(seq) OVER w IS NULL THEN prev_hash END AS first_prev, "
        "CASE WHEN lead(seq) OVER w IS NULL THEN hash END AS last_hash "
        f"FROM {AuditEntry.__tablename__} WHERE chain = :chain AND seq >= :low "
        "AND seq <= :high WINDOW w AS (ORDER BY seq)) AS segment"
    )


@dataclass(frozen=True)
class Segment:
    """A checked segment of one chain: seq low..high asked for, and what the server found."""

    chain: str
    low: int
    high: int
    count: int = 0
    first: int | None = None
    last: int | None = None
    misfits: int = 0
    first_prev: str | None = None
    last_hash: str | None = None


def _segments(
    heads: Mapping[str, tuple[int, str]], ends: Mapping[str, int], size: int
) -> list[Segment]:
    """Each chain's seq range past its start, cut into pieces of `size`, in seq order."""
    out = []
    for chain, (count, _) in heads.items():
        end = ends.get(chain, 0)
        # From the genesis, from the least seq there can be: an entry slipped in before
        # the first must be seen (the exact walk names it), not skipped.
        low = count + 1
        while low <= end:
            high = min(low + size - 1, end)
            out.append(Segment(chain, _FIRST_SEQ if low == 1 and not count else low, high))
            low = high + 1
    return out


def _check(
    connect: Callable[[], AbstractContextManager[Connection]],
) -> Callable[[Segment], Segment]:
    statement = text(_segment_sql())

    def check(segment: Segment) -> Segment:
        params = {"chain": segment.chain, "low": segment.low, "high": segment.high}
        with connect() as connection:
            found = connection.execute(statement, params).one()
        count, first, last, misfits, first_prev, last_hash = found
        return replace(
            segment,
            count=count,
            first=first,
            last=last,
            misfits=misfits,
            first_prev=first_prev,
            last_hash=last_hash,
        )

    return check


def _fits_after(segment: Segment, count: int, prev_hash: str) -> bool:
    """The segment holds exactly the entries after (count, prev_hash) up to its end, all fit."""
    size = segment.high - count
    return (
        not segment.misfits
        and segment.count == size
        and (segment.first, segment.last) == (count + 1, segment.high)
        and segment.first_prev == prev_hash
        and segment.last_hash is not None
    )


def walk_in_database(
    session: Session,
    heads: dict[str, tuple[int, str]],
    engine: Engine | None = None,
    *,
    workers: int = 1,
    segment_size: int = 10_000,
) -> None:
    """Move each chain's (count, hash) in `heads` on as far as the server vouches (PostgreSQL).

    With `engine` and `workers` > 1, segments of every chain are checked on that many
    connections at once (committed entries only); otherwise one after another on the
    session's connection. Each chain moves on through its segments in seq order and
    stops before the first that does not fit entirely: referral.audit.verify walks on
    from there and names the problem.
    """
    ends = _last_seqs(session, list(heads))
    total = sum(max(0, ends.get(chain, 0) - count) for chain, (count, _) in heads.items())
    parallel = engine is not None and workers > 1
    # Pieces enough to keep every connection busy to the end, none too small to pay.
    pieces = workers * 4 if parallel else 1
    size = max(1_000, min(segment_size, -(-total // pieces)))
    segments = _segments(heads, ends, size)
    if not segments:
        return
    if engine is not None and parallel:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            checked = list(pool.map(_check(engine.connect), segments))
    else:
        here = session.connection()
        checked = [_check(lambda: nullcontext(here))(segment) for segment in segments]
    stopped: set[str] = set()
    for segment in checked:  # in seq order within each chain
        if segment.chain in stopped:
            continue
        count, prev_hash = heads[segment.chain]
        if not _fits_after(segment, count, prev_hash):
            stopped.add(segment.chain)
            continue
        heads[segment.chain] = (segment.high, str(segment.last_hash))


def _last_seqs(session: Session, chains: list[str]) -> dict[str, int]:
    """Each chain's greatest seq: one lookup in the (chain, seq) index each, sent together."""
    found: dict[str, int] = {}
    for start in range(0, len(chains), _CHAINS_AT_ONCE):
        lookups = [
            select(
                literal(chain).label("chain"),
                select(func.max(AuditEntry.seq))
                .where(AuditEntry.chain == chain, AuditEntry.seq.is_not(None))
                .scalar_subquery()
                .label("last"),
            )
            for chain in chains[start : start + _CHAINS_AT_ONCE]
        ]
        if lookups:
            rows = session.execute(union_all(*lookups) if len(lookups) > 1 else lookups[0])
            found.update((row.chain, int(row.last or 0)) for row in rows)
    return found


_CHAINS_AT_ONCE = 200  # two bound parameters each: well under SQLite's limit
