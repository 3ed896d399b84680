"""Append to and verify the audit hash chain (DESIGN.md §5).

hash = SHA-256(prev_hash || canonical JSON of the entry). The chain head lives in
a one-row table; appends lock it first, so concurrent writers queue and the chain
never forks.
"""

import hashlib
import hmac
import json
from collections.abc import Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from referral.db.tables import AuditEntry, AuditHead
from referral.domain.actors import Actor

HASH_LENGTH = 64  # a SHA-256 in hex
GENESIS_HASH = "0" * HASH_LENGTH
HEAD_ROW_ID = 1

# The fields that are hashed, in the order verify reads them. prev_hash and hash are not
# part of the canonical body: prev_hash is prefixed, hash is the result.
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_user_id",
    "actor_org_id",
    "actor_role",
    "network_id",
    "action",
    "case_id",
    "target",
    "categories",
    "allowed",
    "rule",
    "purpose",
    "legal_basis",
    "request_id",
    "workflow_hash",
    "policy_hash",
    "change_digest",
)


@dataclass(frozen=True)
class AuditRecord:
    """What a service asks to record. Ids and categories only: never names or free text."""

    action: str
    allowed: bool
    actor: Actor | None
    case_id: int | None = None
    target: str = ""
    categories: Iterable[str] = ()
    rule: str = ""
    purpose: str = ""
    legal_basis: str = ""
    change: Mapping[str, Any] | None = field(default=None, repr=False)
    workflow_hash: str = ""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any, key: bytes | None = None) -> str:
    """A SHA-256 of a change, so the log proves what changed without holding it.

    Changes to a case are digested with an HMAC keyed from its subject's data key: a
    plain hash of a short change ({"given_name": ...}) could be reversed by guessing, and
    once the subject is erased nobody can link the digest to them at all.
    """
    data = canonical_json(value).encode()
    if key is not None:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    canonical = {name: body[name] for name in HASHED_FIELDS}
    canonical["at"] = format_time(canonical["at"])
    return hashlib.sha256((prev_hash + canonical_json(canonical)).encode()).hexdigest()


def append(
    session: Session,
    record: AuditRecord,
    *,
    now: datetime,
    request_id: str,
    policy_hash: str,
    digest_key: bytes | None = None,
) -> int:
    """Append one entry inside the caller's transaction; returns its sequence number."""
    seq, prev_hash = session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ROW_ID)
        .values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    actor = record.actor
    body: dict[str, Any] = {
        "seq": seq,
        "at": now.astimezone(UTC),
        "actor_user_id": actor.user_id if actor else None,
        "actor_org_id": actor.organisation_id if actor else None,
        "actor_role": actor.role_label if actor else "",
        "network_id": actor.network_id if actor else None,
        "action": record.action,
        "case_id": record.case_id,
        "target": record.target,
        "categories": ",".join(sorted(set(record.categories))),
        "allowed": record.allowed,
        "rule": record.rule,
        "purpose": record.purpose,
        "legal_basis": record.legal_basis,
        "request_id": request_id,
        "workflow_hash": record.workflow_hash,
        "policy_hash": policy_hash,
        "change_digest": digest(record.change, digest_key) if record.change is not None else "",
    }
    new_hash = entry_hash(prev_hash, body)
    session.execute(insert(AuditEntry).values(**body, prev_hash=prev_hash, hash=new_hash))
    session.execute(update(AuditHead).where(AuditHead.id == HEAD_ROW_ID).values(hash=new_hash))
    return int(seq)


@dataclass(frozen=True)
class VerifyResult:
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""
    head_hash: str = GENESIS_HASH  # the hash of entry `entries` when the chain verifies

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and not self.problem


def _walk(rows: Iterable[Any], prev_hash: str, count: int) -> tuple[VerifyResult | None, int, str]:
    """Check seq, link and hash of each row in order; the first failure, or the tail."""
    expected_seq = count + 1
    for row in rows:
        body = row._mapping
        seq = body["seq"]
        if seq != expected_seq:
            return (
                VerifyResult(count, expected_seq, f"entry {expected_seq} is missing"),
                count,
                prev_hash,
            )
        if body["prev_hash"] != prev_hash:
            problem = f"entry {seq} does not link to entry {seq - 1} (removed or reordered)"
            return VerifyResult(count, seq, problem), count, prev_hash
        if entry_hash(prev_hash, body) != body["hash"]:
            problem = f"entry {seq} was altered: its hash does not match"
            return VerifyResult(count, seq, problem), count, prev_hash
        prev_hash, expected_seq, count = body["hash"], seq + 1, count + 1
    return None, count, prev_hash


def _walk_exact(
    session: Session, prev_hash: str, count: int, batch_size: int
) -> tuple[VerifyResult | None, int, str]:
    """The walk over typed rows, from entry `count + 1`: slow, and the reference."""
    columns = [getattr(AuditEntry, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]
    statement = select(*columns).order_by(AuditEntry.seq)
    if count:  # entries 1 to count verified, and none came before them
        statement = statement.where(AuditEntry.seq > count)
    rows = session.execute(statement.execution_options(yield_per=batch_size))
    try:
        return _walk(rows, prev_hash, count)
    finally:
        rows.close()  # a server-side cursor on PostgreSQL, left mid-way on failure


def verify(session: Session, batch_size: int = 10_000) -> VerifyResult:
    """Recompute the chain from the start; name the first entry that does not fit."""
    count, prev_hash = _fast_walk(session, batch_size)
    failure, count, prev_hash = _walk_exact(session, prev_hash, count, batch_size)
    if failure is not None:
        return failure
    head = session.execute(select(AuditHead.seq, AuditHead.hash)).one_or_none()
    if head is not None and (head.seq, head.hash) != (count, prev_hash):
        return VerifyResult(
            count,
            count + 1,
            f"the chain head records {head.seq} entries but the log holds {count}: "
            f"entries after {count} were removed",
        )
    return VerifyResult(count, head_hash=prev_hash)


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
_FIRST_SEQ = -(2**63)  # the smallest a 64-bit seq can be: the first batch takes them all


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
    line = (
        f"CASE WHEN length(hash) = {HASH_LENGTH} AND length(prev_hash) = {HASH_LENGTH} "
        f"THEN hash || prev_hash || {body} END"
    )
    if dialect == "sqlite":
        joined = "group_concat(line, char(10))"  # in the subquery's order
    else:
        joined = "string_agg(line, E'\\n' ORDER BY seq)"
    # Built from constants only: nothing here comes from outside.
    return (
        f"SELECT count(*), min(seq), max(seq), {joined} FROM (SELECT seq, {line} AS line "  # noqa: S608
        f"FROM {AuditEntry.__tablename__} WHERE seq >= :start ORDER BY seq LIMIT :size) AS batch"
    )


Batch = tuple[int, int | None, int | None, str | None]


def _batches(session: Session, batch_size: int) -> Generator[Batch, None, None]:
    """The batches in seq order, the next read on a thread while the caller hashes this one
    (the database renders a batch in one step, without holding the GIL)."""
    statement = text(_batch_sql(session.get_bind().dialect.name))

    def read(start: int) -> Batch:
        size, first, last, joined = session.execute(
            statement, {"start": start, "size": batch_size}
        ).one()
        return size, first, last, joined

    with ThreadPoolExecutor(max_workers=1) as pool:  # on exit, waits for a read in flight
        pending = pool.submit(read, _FIRST_SEQ)
        while True:
            batch = pending.result()
            size, _first, last, _joined = batch
            if size < batch_size or last is None:
                yield batch
                return
            pending = pool.submit(read, last + 1)
            yield batch


def _fast_walk(session: Session, batch_size: int) -> tuple[int, str]:
    """How many entries, from the first, verify; and the hash of the last of them."""
    count, prev_hash = 0, GENESIS_HASH
    sha256 = hashlib.sha256
    with closing(_batches(session, batch_size)) as batches:
        for size, first, last, joined in batches:
            # seq is a unique integer: `size` of them from count + 1 to count + size are
            # exactly the next ones.
            if not size or (first, last) != (count + 1, count + size) or joined is None:
                break
            lines = joined.split("\n")
            if len(lines) != size:  # a NULL, or a newline where none can be
                break
            for line in lines:
                new_hash = sha256(line[HASH_LENGTH:].encode()).hexdigest()
                if not (line.startswith(prev_hash, HASH_LENGTH) and line.startswith(new_hash)):
                    return count, prev_hash
                prev_hash, count = new_hash, count + 1
    return count, prev_hash


@dataclass(frozen=True)
class StoredEntry:
    hash: str
    policy_hash: str


def stored_entry(session: Session, seq: int) -> StoredEntry | None:
    """The stored hash and policy version of one entry, as the log holds them now."""
    row = session.execute(
        select(AuditEntry.hash, AuditEntry.policy_hash).where(AuditEntry.seq == seq)
    ).one_or_none()
    return StoredEntry(row.hash, row.policy_hash) if row is not None else None
