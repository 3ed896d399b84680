"""Append to and verify the audit hash chain (DESIGN.md §5).

hash = SHA-256(prev_hash || canonical JSON of the entry). The chain head lives in
a one-row table; appends lock it first, so concurrent writers queue and the chain
never forks.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from referral.db.tables import AuditEntry, AuditHead
from referral.domain.actors import Actor

GENESIS_HASH = "0" * 64
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


def digest(value: Any) -> str:
    """A SHA-256 of a change, so the log proves what changed without holding it."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    canonical = {name: body[name] for name in HASHED_FIELDS}
    canonical["at"] = format_time(canonical["at"])
    return hashlib.sha256((prev_hash + canonical_json(canonical)).encode()).hexdigest()


def append(
    session: Session, record: AuditRecord, *, now: datetime, request_id: str, policy_hash: str
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
        "change_digest": digest(record.change) if record.change is not None else "",
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


def _walk(rows: Iterable[Any]) -> tuple[VerifyResult | None, int, str]:
    """Check seq, link and hash of each row in order; the first failure, or the tail."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
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


def verify(session: Session, batch_size: int = 20_000) -> VerifyResult:
    """Recompute the chain from the start; name the first entry that does not fit."""
    columns = [getattr(AuditEntry, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]
    rows = session.execute(
        select(*columns).order_by(AuditEntry.seq).execution_options(yield_per=batch_size)
    )
    try:
        failure, count, prev_hash = _walk(rows)
    finally:
        rows.close()  # a server-side cursor on PostgreSQL, left mid-way on failure
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
