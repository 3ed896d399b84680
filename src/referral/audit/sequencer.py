"""The sequencer: gives queued audit entries their place in their chain (DESIGN.md §5).

A request only inserts its entries, queued (seq, prev_hash and hash NULL). The
sequencer, like a Trillian log signer integrating queued leaves, takes one chain's
queued entries in queue order (id), gives each the next seq, the previous entry's hash
and its own hash, and moves the chain's head row on: each entry is sequenced exactly
once (the database refuses anything else, see migration 0007).

It runs in short transactions of its own (`sequence_pending`): from a thread in every
`referral serve` process, from `referral tick`/`worker` and `referral audit sequence`,
and before `audit verify`/`checkpoint`. Several may run at once: on PostgreSQL each
claims a chain's head row with FOR UPDATE SKIP LOCKED, so sequencers skip a chain
another is working on instead of waiting, and requests never touch head rows at all.
On SQLite one writer at a time is the database's own rule, and a batch is short: given
a session that only reads (`lookup`), a round reads the queued entries and hashes them
there, without the write lock, and then writes their places in a short transaction that
first checks the chain's head is still the one the hashes start from (otherwise it
plans again). Holding the lock while hashing kept the group commit, and every read
waiting on it, waiting up to a tenth of a second each round.
"""

import threading
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from referral.audit.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    LEGACY_CHAIN,
    chain_sql,
    entry_hash,
)
from referral.db.tables import AuditEntry, AuditHead

log = structlog.get_logger(__name__)

BATCH = 2_000  # entries of one chain sequenced in one transaction

Placed = dict[str, Any]  # an entry's place: b_id, b_seq, b_prev (hash), b_hash


def queued_chains(session: Session) -> list[str]:
    """The chains with queued entries (the partial index ix_audit_log_queued serves this)."""
    query = select(AuditEntry.chain).where(AuditEntry.seq.is_(None)).distinct()
    return sorted(name for name in session.scalars(query) if name != LEGACY_CHAIN)


def queued_count(session: Session) -> int:
    query = select(func.count()).select_from(AuditEntry).where(AuditEntry.seq.is_(None))
    return int(session.scalar(query) or 0)


def _head_query(chain: str) -> Select[int, str]:
    return select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == chain)


def _claim(session: Session, chain: str, *, wait: bool) -> tuple[int, str] | None:
    """Lock the chain's head row and read it; None when another sequencer holds it."""
    query = _head_query(chain)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        query = query.with_for_update(skip_locked=not wait)
    head = session.execute(query).one_or_none()
    if head is not None:
        return int(head.seq), str(head.hash)
    exists = select(AuditHead.chain).where(AuditHead.chain == chain)
    if postgres and session.scalar(exists) is not None:
        return None  # it exists, and another sequencer holds it
    new_head = {"chain": chain, "seq": 0, "hash": GENESIS_HASH}
    insert = pg_insert(AuditHead) if postgres else sqlite_insert(AuditHead)
    session.execute(insert.values(new_head).on_conflict_do_nothing())
    head = session.execute(query).one_or_none()
    return (int(head.seq), str(head.hash)) if head is not None else None


def sequence_chain(session: Session, chain: str, *, batch: int = BATCH, wait: bool = False) -> int:
    """Sequence up to `batch` of one chain's queued entries, inside the session's
    transaction (the caller commits); how many. 0 when another sequencer holds the chain.

    Only entries whose network matches the chain's name are taken: a row slipped in
    under another chain's name stays queued, and `audit verify` reports it.
    """
    if chain == LEGACY_CHAIN:
        return 0  # closed when chains were split: nothing is ever added to it
    head = _claim(session, chain, wait=wait)
    if head is None:
        return 0
    placed = _plan(session, chain, head, batch)
    _apply(session, chain, placed)
    return len(placed)


def _plan(session: Session, chain: str, head: tuple[int, str], batch: int) -> list[Placed]:
    """The places of up to `batch` of the chain's queued entries after `head`, in queue
    order: each entry's seq, the previous entry's hash and its own."""
    seq, prev_hash = head
    columns = [AuditEntry.id, *(getattr(AuditEntry, n) for n in HASHED_FIELDS if n != "seq")]
    rows = session.execute(
        select(*columns)
        .where(AuditEntry.chain == chain, AuditEntry.seq.is_(None), chain_sql() == chain)
        .order_by(AuditEntry.id)
        .limit(batch)
    ).all()
    placed = []
    for row in rows:
        seq += 1
        new_hash = entry_hash(prev_hash, {**row._mapping, "seq": seq})
        placed.append({"b_id": row.id, "b_seq": seq, "b_prev": prev_hash, "b_hash": new_hash})
        prev_hash = new_hash
    return placed


def _apply(session: Session, chain: str, placed: list[Placed]) -> None:
    """Write the places and move the chain's head on, in the caller's transaction."""
    if not placed:
        return
    table = AuditEntry.metadata.tables[AuditEntry.__tablename__]
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), hash=bindparam("b_hash")),
        placed,
    )
    last = placed[-1]
    session.execute(
        update(AuditHead)
        .where(AuditHead.chain == chain)
        .values(seq=last["b_seq"], hash=last["b_hash"])
    )


def _head(session: Session, chain: str) -> tuple[int, str]:
    """The chain's head as it stands, without claiming it (a chain not begun: genesis)."""
    head = session.execute(_head_query(chain)).one_or_none()
    return (int(head.seq), str(head.hash)) if head is not None else (0, GENESIS_HASH)


def _sequence_planned(
    factory: Callable[[], Session], lookup: Callable[[], Session], chain: str, batch: int
) -> int | None:
    """One batch of a chain, planned in a read (no lock: the hashing is most of the
    work) and written in a short write that checks the head has not moved meanwhile.
    How many were placed; None when the head moved (plan again)."""
    with lookup() as reader:
        head = _head(reader, chain)
        placed = _plan(reader, chain, head, batch)
        reader.rollback()
    if not placed:
        return 0
    with factory() as session:
        claimed = _claim(session, chain, wait=False)
        if claimed is None:
            return 0  # another sequencer holds the chain: it is integrating it
        if claimed != head:
            return None
        _apply(session, chain, placed)
        session.commit()
    return len(placed)


def sequence(session: Session, *, batch: int = BATCH) -> int:
    """Sequence every queued entry inside the session's transaction (the caller commits),
    waiting for a chain another sequencer holds: for verify, and for tests whose runtime
    rolls one outer transaction back."""
    total = 0
    for chain in queued_chains(session):
        while (placed := sequence_chain(session, chain, batch=batch, wait=True)) == batch:
            total += placed
        total += placed
    return total


def sequence_pending(
    factory: Callable[[], Session],
    *,
    batch: int = BATCH,
    lookup: Callable[[], Session] | None = None,
) -> int:
    """Sequence what is queued now, a batch of one chain per short transaction; how many.

    A chain another sequencer holds is skipped: that one is integrating it. `lookup`
    gives read-only sessions for finding the queued chains: on SQLite an idle run then
    takes no write lock at all.
    """
    total = 0
    with (lookup or factory)() as session:
        chains = queued_chains(session)
        session.commit()
    for chain in chains:  # queued_chains leaves the closed legacy chain out
        moved = 0  # times the head moved under a plan: another sequencer at work
        while moved < 3:
            placed = _sequence_planned(factory, lookup or factory, chain, batch)
            if placed is None:
                moved += 1
                continue
            total += placed
            if placed < batch:
                break
    return total


class BackgroundSequencer:
    """A daemon thread that runs `sequence_pending` every `interval` seconds until stopped."""

    def __init__(
        self,
        factory: Callable[[], Session],
        interval: float,
        lookup: Callable[[], Session] | None = None,
        after_round: Callable[[], None] | None = None,
    ) -> None:
        self._factory = factory
        self._lookup = lookup
        self._after_round = after_round  # more upkeep of the same rhythm (a checkpoint)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the batch in hand, and sequence what is left once more."""
        self._stop.set()
        self._thread.join()
        self._once()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._once()

    def _once(self) -> None:
        try:
            placed = sequence_pending(self._factory, lookup=self._lookup)
        except Exception:
            log.exception("audit_sequencing_failed")
            return
        if placed:
            log.debug("audit_entries_sequenced", entries=placed)
        if self._after_round is not None:
            try:
                self._after_round()
            except Exception:
                log.exception("background_upkeep_failed")
