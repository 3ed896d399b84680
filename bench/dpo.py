"""`audit verify` over a large synthetic audit chain, against the straightforward walk.

    python bench/dpo.py [--entries N] [--database-url URL] [--quick]

Without a URL the database is SQLite in a temporary file; with a PostgreSQL URL the
bench works in a schema of its own, dropped at the end. The schema comes from the
migrations. It writes N valid chained entries (hashes from `chain.entry_hash`, bulk
inserted, the head set to the last one), then times `chain.verify` and, in the same
run, the previous implementation (SQLAlchemy rows with type processing, a dict and
`json.dumps` per entry) and plain SHA-256 over the same canonical bytes (the floor),
and prints entries a second and the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from scratch import database  # bench/scratch.py: the script's folder is on sys.path
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.orm import Session

from referral.audit.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    HEAD_ROW_ID,
    VerifyResult,
    canonical_json,
    entry_hash,
    format_time,
    verify,
)
from referral.db.migrate import upgrade
from referral.db.tables import AuditEntry, AuditHead

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BATCH = 50_000
TARGET = 300_000  # entries a second
RUNS = 3
ACTIONS = ("case.read", "case.submit", "case.transition", "consent.record", "sign_in")
ROLES = ("coordinator", "panel_member", "provider", "referrer", "")
CATEGORIES = ("", "identity", "identity,status", "special,support", "status")
RULES = ("", "coordinator reads the network", "provider: consent given", "règle « é »")


# -- the chain ---------------------------------------------------------------------------


def bodies(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Entries as `chain.append` writes them: ids, some None, some non-ASCII text."""
    policy = hashlib.sha256(b"policy").hexdigest()
    workflow = hashlib.sha256(b"workflow").hexdigest()
    for seq in range(1, count + 1):
        anonymous = rng.random() < 0.05
        yield {
            "seq": seq,
            "at": START + timedelta(milliseconds=seq * 37, microseconds=rng.randrange(1000)),
            "actor_user_id": None if anonymous else rng.randint(1, 5_000),
            "actor_org_id": None if anonymous else rng.randint(1, 200),
            "actor_role": "" if anonymous else rng.choice(ROLES),
            "network_id": None if anonymous else rng.randint(1, 20),
            "action": rng.choice(ACTIONS),
            "case_id": None if rng.random() < 0.3 else rng.randint(1, 1_000_000),
            "target": rng.choice(("", "notes", "plan", "consent")),
            "categories": rng.choice(CATEGORIES),
            "allowed": rng.random() < 0.9,
            "rule": rng.choice(RULES),
            "purpose": rng.choice(("", "support", "safeguarding")),
            "legal_basis": rng.choice(("", "public_task", "consent")),
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "workflow_hash": workflow if rng.random() < 0.5 else "",
            "policy_hash": policy,
            "change_digest": ""
            if rng.random() < 0.6
            else hashlib.sha256(str(seq).encode()).hexdigest(),
        }


def load(engine: Engine, count: int, rng: random.Random) -> None:
    """Chain and bulk-insert `count` entries, then point the head at the last one."""
    prev_hash = GENESIS_HASH
    batch: list[dict[str, Any]] = []
    with engine.begin() as db:
        for body in bodies(count, rng):
            new_hash = entry_hash(prev_hash, body)
            batch.append({**body, "prev_hash": prev_hash, "hash": new_hash})
            prev_hash = new_hash
            if len(batch) == BATCH:
                db.execute(insert(AuditEntry), batch)
                batch = []
        if batch:
            db.execute(insert(AuditEntry), batch)
        db.execute(
            update(AuditHead).where(AuditHead.id == HEAD_ROW_ID).values(seq=count, hash=prev_hash)
        )
        if engine.dialect.name == "sqlite":
            db.execute(text("ANALYZE"))
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("VACUUM ANALYZE audit_log"))


# -- the baseline: the implementation before this bench ----------------------------------


def _walk_before(rows: Iterable[Any]) -> tuple[VerifyResult | None, int, str]:
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
            return VerifyResult(count, seq, "unlinked"), count, prev_hash
        if entry_hash(prev_hash, body) != body["hash"]:
            return VerifyResult(count, seq, "altered"), count, prev_hash
        prev_hash, expected_seq, count = body["hash"], seq + 1, count + 1
    return None, count, prev_hash


def verify_before(session: Session, batch_size: int = 20_000) -> VerifyResult:
    columns = [getattr(AuditEntry, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]
    rows = session.execute(
        select(*columns).order_by(AuditEntry.seq).execution_options(yield_per=batch_size)
    )
    try:
        failure, count, prev_hash = _walk_before(rows)
    finally:
        rows.close()
    return failure or VerifyResult(count, head_hash=prev_hash)


def sha256_floor(canonical: list[bytes]) -> str:
    """The least any verify can do: one SHA-256 over each entry's bytes, nothing read."""
    prev_hash = GENESIS_HASH
    for body in canonical:
        prev_hash = hashlib.sha256(prev_hash.encode() + body).hexdigest()
    return prev_hash


def canonical_bodies(count: int) -> list[bytes]:
    out = []
    for body in bodies(count, random.Random(0)):
        body["at"] = format_time(body["at"])
        out.append(canonical_json(body).encode())
    return out


# -- the run -----------------------------------------------------------------------------


def timed(engine: Engine, run: Any) -> tuple[VerifyResult, float]:
    with Session(engine) as session:
        start = time.perf_counter()
        result = run(session)
        return result, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 entries")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    count = 100_000 if args.quick else args.entries
    with database(args.database_url) as (engine, backend):
        upgrade(engine)
        start = time.perf_counter()
        load(engine, count, random.Random(args.seed))
        loaded_s = time.perf_counter() - start
        print(f"{backend}: {count:,} entries chained and loaded in {loaded_s:.1f} s")

        timed(engine, verify)  # warm-up: pages into the cache
        runs = [timed(engine, verify) for _ in range(RUNS)]
        new, new_s = runs[0][0], statistics.median(seconds for _, seconds in runs)
        old, old_s = timed(engine, verify_before)
        if not new.ok or (new.entries, new.head_hash) != (old.entries, old.head_hash):
            print(f"verify and the previous walk disagree: {new} / {old}")
            return 1
        canonical = canonical_bodies(min(count, 200_000))
        start = time.perf_counter()
        sha256_floor(canonical)
        floor_s = (time.perf_counter() - start) * count / len(canonical)

        print(f"{'':<24}{'seconds':>9}{'entries/s':>12}{'time/verify':>13}")
        for name, seconds in (
            (f"verify (median of {RUNS})", new_s),
            ("previous verify", old_s),
            ("sha256 alone (floor)", floor_s),
        ):
            print(f"{name:<24}{seconds:>9.2f}{count / seconds:>12,.0f}{seconds / new_s:>12.2f}x")
        rate = count / new_s
        verdict = "met" if rate >= TARGET else "NOT met"
        print(f"verify: {rate:,.0f} entries/s, target {TARGET:,}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
