"""Verify the audit chains: recompute every hash, name the first bad entry (chain, seq).

Each chain is walked in seq order from its genesis, or from a trusted checkpoint's
head (`since`): the walk reads only what follows, so older entries may live in other
partitions or be archived away. The fast walks vouch for as much as they can: on
PostgreSQL the server renders, hashes and checks id ranges (referral.audit.idwalk), then
(chain, seq) segments of a chain they leave (referral.audit.fastwalk); on SQLite the
database renders and Python hashes. The exact walk below, over typed rows, takes over
at the first thing they cannot vouch for and names it: the walks cannot disagree.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from referral.audit.chain import GENESIS_HASH, HASHED_FIELDS, LEGACY_CHAIN, chain_of, entry_hash
from referral.audit.fastwalk import _last_seqs, fast_walk, walk_in_database
from referral.audit.idwalk import walk_by_id, walk_by_id_in_database
from referral.audit.sequencer import queued_count, sequence
from referral.db.tables import AuditEntry, AuditHead


@dataclass(frozen=True)
class ChainHead:
    """A chain's last entry: its seq (how many entries) and hash."""

    chain: str
    seq: int
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    """`entries` verified in all (on failure: in the bad chain, before the bad entry)."""

    entries: int
    first_bad_seq: int | None = None
    problem: str = ""
    chain: str = ""  # the chain of the first bad entry
    heads: tuple[ChainHead, ...] = field(default=(), compare=False)
    queued: int = 0  # entries still waiting for a place (none, right after sequencing)

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and not self.problem

    def head(self, chain: str) -> ChainHead:
        for head in self.heads:
            if head.chain == chain:
                return head
        return ChainHead(chain, 0, GENESIS_HASH)


def _walk(
    rows: Iterable[Any], chain: str, prev_hash: str, count: int
) -> tuple[VerifyResult | None, int, str]:
    """Check seq, link, chain and hash of each row in order; the first failure, or the tail."""
    expected_seq = count + 1
    for row in rows:
        body = row._mapping
        seq = body["seq"]
        if seq != expected_seq:
            problem = f"entry {expected_seq} is missing"
            return VerifyResult(count, expected_seq, problem, chain), count, prev_hash
        if body["prev_hash"] != prev_hash:
            problem = f"entry {seq} does not link to entry {seq - 1} (removed or reordered)"
            return VerifyResult(count, seq, problem, chain), count, prev_hash
        if chain != LEGACY_CHAIN and chain_of(body["network_id"]) != chain:
            problem = f"entry {seq} names another network: it was moved from another chain"
            return VerifyResult(count, seq, problem, chain), count, prev_hash
        if entry_hash(prev_hash, body) != body["hash"]:
            problem = f"entry {seq} was altered: its hash does not match"
            return VerifyResult(count, seq, problem, chain), count, prev_hash
        prev_hash, expected_seq, count = body["hash"], seq + 1, count + 1
    return None, count, prev_hash


def walk_exact(
    session: Session, chain: str, prev_hash: str, count: int, batch_size: int = 10_000
) -> tuple[VerifyResult | None, int, str]:
    """The walk over typed rows, from entry `count + 1`: slow, and the reference."""
    columns = [getattr(AuditEntry, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]
    statement = select(*columns).where(AuditEntry.chain == chain, AuditEntry.seq.is_not(None))
    if count:  # entries up to count verified (or trusted); from the genesis, read them all
        statement = statement.where(AuditEntry.seq > count)
    statement = statement.order_by(AuditEntry.seq)
    rows = session.execute(statement.execution_options(yield_per=batch_size))
    try:
        return _walk(rows, chain, prev_hash, count)
    finally:
        rows.close()  # a server-side cursor on PostgreSQL, left mid-way on failure


def chains(session: Session) -> list[str]:
    """Every chain with a head or an entry: skip scans over the placed entries' (chain,
    seq) index and the queued entries' (chain, id) index (both partial, hence the
    conditions on seq, which let each database use its index)."""
    found = set(session.scalars(select(AuditHead.chain)))
    for condition in ("seq IS NOT NULL", "seq IS NULL"):
        skip_scan = text(
            "WITH RECURSIVE c(name) AS ("  # noqa: S608 (constants only)
            f" SELECT min(chain) FROM audit_log WHERE {condition}"
            " UNION ALL SELECT (SELECT min(chain) FROM audit_log"
            f" WHERE chain > c.name AND {condition})"
            " FROM c WHERE c.name IS NOT NULL"
            ") SELECT name FROM c WHERE name IS NOT NULL"
        )
        found |= set(session.scalars(skip_scan))
    return sorted(found)


def _head_of(session: Session, chain: str) -> tuple[int, str] | None:
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == chain)
    ).one_or_none()
    return (int(head.seq), str(head.hash)) if head is not None else None


def _short(session: Session, reached: Mapping[str, tuple[int, str]]) -> set[str]:
    """The chains whose walk so far has not reached their head, or whose log holds an
    entry past it: one look at the heads, one lookup in the (chain, seq) index each."""
    heads = {
        row.chain: (int(row.seq), str(row.hash))
        for row in session.execute(select(AuditHead.chain, AuditHead.seq, AuditHead.hash))
    }
    ends = _last_seqs(session, list(reached))
    return {
        chain
        for chain, (count, prev_hash) in reached.items()
        if heads.get(chain) != (count, prev_hash) or ends.get(chain, 0) != count
    }


def _check_head(session: Session, chain: str, count: int, prev_hash: str) -> VerifyResult | None:
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == chain)
    ).one_or_none()
    if head is None:
        if count == 0:
            return None
        problem = f"chain {chain} holds {count} entries but has no head: the head was removed"
        return VerifyResult(count, count + 1, problem, chain)
    if (head.seq, head.hash) != (count, prev_hash):
        problem = (
            f"the chain head records {head.seq} entries but the log holds {count}: "
            f"entries after {count} were removed"
        )
        return VerifyResult(count, count + 1, problem, chain)
    return None


def verify(
    session: Session,
    batch_size: int = 10_000,
    *,
    since: Mapping[str, ChainHead] | None = None,
    sequence_first: bool = True,
    engine: Engine | None = None,
    workers: int = 1,
) -> VerifyResult:
    """Recompute every chain; name the first entry that does not fit.

    `since`: trusted heads (from a checkpoint) to start each chain from, instead of its
    genesis; chains it does not name start from their genesis. `sequence_first`:
    sequence what is queued first, inside the session (the caller commits or not).
    `engine` and `workers` > 1: on PostgreSQL, the server checks id ranges (then, for a
    chain they leave, seq segments) on that many connections of their own at once
    (committed entries only).
    """
    if sequence_first:
        sequence(session)
    starts = dict.fromkeys(chains(session), (0, GENESIS_HASH))
    for trusted in (since or {}).values():
        if trusted.chain in starts:
            starts[trusted.chain] = (trusted.seq, trusted.hash)
    reached = dict(starts)
    parallel = engine is not None and workers > 1
    if session.get_bind().dialect.name == "postgresql":
        # The server renders, hashes and checks each entry, reading id ranges in table
        # order; Python checks the links of whole runs at once and joins them.
        walk_by_id_in_database(
            session, reached, engine if parallel else None, workers=workers, batch_size=batch_size
        )
        # A chain the id walk left (an entry placed out of id order at a range's edge,
        # or a problem) is walked on in (chain, seq) segments, still in the server.
        left = {chain: reached[chain] for chain in _short(session, reached)}
        if left:
            walk_in_database(session, left, engine if parallel else None, workers=workers)
            reached.update(left)
    else:
        # SQLite: one connection (the session's); the next batch is rendered while Python
        # hashes this one.
        walk_by_id(session, reached, batch_size=batch_size)
    short = _short(session, reached)
    total, heads = 0, []
    for chain, (count, prev_hash) in reached.items():
        if chain in short:  # the fast walks stopped short: on by seq, the exact walk names
            count, prev_hash = fast_walk(session, chain, count, prev_hash, batch_size)
            failure, count, prev_hash = walk_exact(session, chain, prev_hash, count, batch_size)
            failure = failure or _check_head(session, chain, count, prev_hash)
            if failure is not None:
                return failure
        total += count - starts[chain][0]
        heads.append(ChainHead(chain, count, prev_hash))
    return VerifyResult(total, heads=tuple(heads), queued=queued_count(session))


def stored_hash(session: Session, chain: str, seq: int) -> str | None:
    """The hash the log stores now for entry `seq` of `chain`."""
    query = select(AuditEntry.hash).where(AuditEntry.chain == chain, AuditEntry.seq == seq)
    return session.scalar(query)


def last_seq(session: Session, chain: str) -> int:
    """The last seq `chain` holds now (0 when none)."""
    query = select(func.max(AuditEntry.seq)).where(
        AuditEntry.chain == chain, AuditEntry.seq.is_not(None)
    )
    return int(session.scalar(query) or 0)


def latest_policy_hash(session: Session) -> str:
    """The policy version of the last entry sequenced (for a checkpoint)."""
    query = (
        select(AuditEntry.policy_hash)
        .where(AuditEntry.seq.is_not(None))
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return session.scalar(query) or ""
