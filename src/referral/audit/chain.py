"""What an audit entry holds and how it is hashed (DESIGN.md §5, docs/audit-format.md).

hash = SHA-256(prev_hash || canonical JSON of the entry). There is one chain per
network (the Casbin domain), one for entries of no network, and the legacy chain of the
entries written before chains were split. A request only *queues* its entries, in its
own transaction (`queue`); the sequencer gives them their place later
(referral.audit.sequencer), so no request waits on a chain head.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, case, insert, literal
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from referral.db import prepared
from referral.db.tables import AuditEntry
from referral.domain.actors import Actor

HASH_LENGTH = 64  # a SHA-256 in hex
GENESIS_HASH = "0" * HASH_LENGTH
LEGACY_CHAIN = "legacy"  # the one global chain of the entries before revision 0007
NATIONAL_CHAIN = "national"  # entries that belong to no network
NETWORK_CHAIN_PREFIX = "network:"

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


def chain_of(network_id: int | None) -> str:
    """The chain an entry belongs to: its network's, derived from a hashed field."""
    return NATIONAL_CHAIN if network_id is None else f"{NETWORK_CHAIN_PREFIX}{network_id}"


def chain_sql() -> ColumnElement[str]:
    """`chain_of` as SQL over audit_log's columns."""
    return case(
        (AuditEntry.network_id.is_(None), literal(NATIONAL_CHAIN)),
        else_=literal(NETWORK_CHAIN_PREFIX) + sql_cast(AuditEntry.network_id, String),
    )


def queued_row(
    record: AuditRecord,
    *,
    now: datetime,
    request_id: str,
    policy_hash: str,
    digest_key: bytes | None = None,
) -> dict[str, Any]:
    """The row that queues `record`: every hashed field but seq; no place in a chain yet."""
    actor = record.actor
    network_id = actor.network_id if actor else None
    return {
        "chain": chain_of(network_id),
        "at": now.astimezone(UTC),
        "actor_user_id": actor.user_id if actor else None,
        "actor_org_id": actor.organisation_id if actor else None,
        "actor_role": actor.role_label if actor else "",
        "network_id": network_id,
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


# One INSERT on the table, built once with a parameter per column `queued_row` fills,
# run on the driver's cursor (db.prepared): the ORM's bulk path, or a multi-row VALUES
# compiled afresh for each count of rows, is not walked.
_QUEUE = insert(cast(Table, AuditEntry.__table__)).values(
    {name: bindparam(name) for name in ("chain", *HASHED_FIELDS) if name != "seq"}
)


def queue(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert queued entries inside the caller's transaction: one statement for them all
    (an executemany, which the drivers send as one batch).

    Nothing here reads or locks a chain head: the sequencer places them after commit.
    """
    if rows:
        prepared.write(session.connection(), _QUEUE, rows)


def append(session: Session, record: AuditRecord, **context: Any) -> None:
    """Queue one entry (the unit of work queues all of its entries at once)."""
    queue(session, [queued_row(record, **context)])


def categories_of(stored: str) -> tuple[str, ...]:
    """The categories an entry names, from the comma-joined text it stores them as."""
    return tuple(c for c in stored.split(",") if c)
