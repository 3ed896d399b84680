"""`audit verify` over a large synthetic audit chain, against the straightforward walk;
and a subject access export of a subject with many audit events.

    python bench/dpo.py [--entries N] [--database-url URL] [--quick]
                        [--only verify|export] [--events N] [--noise N]

Without a URL the database is SQLite in a temporary file; with a PostgreSQL URL the
bench works in a schema of its own, dropped at the end. The schema comes from the
migrations. It writes N valid entries in 21 chains (20 networks and the national one;
hashes from `chain.entry_hash`, bulk inserted, each chain's head set to its last entry),
then times `audit verify` as the command runs it (on PostgreSQL, the server renders,
hashes and checks id ranges on `--workers` connections at once) and, in the same run,
verify on one connection,
the exact walk (SQLAlchemy rows with type processing, a dict and `json.dumps` per entry)
and plain SHA-256 over the same canonical bytes (the floor), and prints entries a second
and the ratios.

The export bench seeds the demo network's people and, through the services, one subject
with a referral (plus two more cases of theirs) and 20 other referrals; it then chains
and bulk-inserts `--events` entries (default 1,000) about the subject's cases and
`--noise` entries (default 50,000) about other cases or none, and times
`export_subject` with both renderings (median of 5 after a warm-up) against the 2 s
target.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from scratch import (  # bench/scratch.py: the script's folder is on sys.path
    database,
    shipped_runtime,
)
from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.orm import Session

from referral.audit.chain import (
    GENESIS_HASH,
    canonical_json,
    chain_of,
    entry_hash,
    format_time,
)
from referral.audit.verify import VerifyResult, chains, verify, walk_exact
from referral.db.migrate import upgrade
from referral.db.tables import AuditEntry, AuditHead, Case, User
from referral.domain.actors import Actor
from referral.services.uow import Runtime, UnitOfWork

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
    """Chain and bulk-insert `count` entries, each in its network's chain, then point each
    chain's head at its last entry."""
    heads: dict[str, tuple[int, str]] = {}
    batch: list[dict[str, Any]] = []
    with engine.begin() as db:
        for body in bodies(count, rng):
            chain = chain_of(body["network_id"])
            seq, prev_hash = heads.get(chain, (0, GENESIS_HASH))
            body["seq"] = seq + 1
            new_hash = entry_hash(prev_hash, body)
            batch.append({**body, "chain": chain, "prev_hash": prev_hash, "hash": new_hash})
            heads[chain] = (seq + 1, new_hash)
            if len(batch) == BATCH:
                db.execute(insert(AuditEntry), batch)
                batch = []
        if batch:
            db.execute(insert(AuditEntry), batch)
        set_heads(db, heads)
        if engine.dialect.name == "sqlite":
            db.execute(text("ANALYZE"))
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("VACUUM ANALYZE audit_log"))


def set_heads(db: Connection, heads: dict[str, tuple[int, str]]) -> None:
    for chain, (seq, hash_) in heads.items():
        db.execute(delete(AuditHead).where(AuditHead.chain == chain))
        db.execute(insert(AuditHead).values(chain=chain, seq=seq, hash=hash_))


# -- the baseline: the exact walk over typed rows, chain by chain ------------------------


def verify_exact(session: Session, batch_size: int = 20_000) -> VerifyResult:
    total = 0
    for chain in chains(session):
        failure, count, _ = walk_exact(session, chain, GENESIS_HASH, 0, batch_size)
        if failure is not None:
            return failure
        total += count
    return VerifyResult(total)


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


# -- the subject access export -----------------------------------------------------------

EXPORT_TARGET_S = 2.0
EXPORT_RUNS = 5
EXPORT_ACTIONS = ("case:read", "case:timeline", "case:manage", "consent:record", "case:screen")
EXPORT_CATEGORIES = ("status", "identity,status", "concern,narrative", "special", "consent")


def export_world(engine: Engine) -> tuple[Runtime, Actor, int, list[int], list[int]]:
    """The demo network's people, one subject with three cases, 20 other referrals."""
    from referral.config import Settings
    from referral.demo import seed_people
    from referral.keyring import Keyring, new_master_key
    from referral.logging import configure_logging
    from referral.security import configure_hashing
    from referral.services.referrals import SubjectDetails, SubmitReferral, submit_referral

    configure_logging(Settings(log_level="WARNING"))  # not a line per referral
    configure_hashing(time_cost=1, memory_kib=1024, parallelism=1)  # the people's passwords
    keyring = Keyring.from_config(f"bench-1:{new_master_key()}", None)
    runtime = shipped_runtime(engine, keyring)
    world = seed_people(runtime)

    def referral(name: str) -> int:
        command = SubmitReferral(
            subject=SubjectDetails(name, "Benchmark", address="1 Bench Road", health="note"),
            concern_summary="Synthetic concern.",
            concern_types=("hate_targeting_a_group",),
            narrative="Synthetic narrative " * 20,
        )
        return int(world.run("referrer", submit_referral, command))

    first = referral("Subject")
    others = [referral(f"Other {i}") for i in range(20)]
    with runtime.session_factory() as session, session.begin():
        case = session.get(Case, first)
        assert case is not None
        subject_id = case.subject_id
        for _ in range(2):  # two more referrals about the same person
            session.add(
                Case(
                    network_id=case.network_id,
                    subject_id=subject_id,
                    reference=f"{case.reference}-{_}",
                    state="submitted",
                    workflow_name=case.workflow_name,
                    workflow_version=case.workflow_version,
                    workflow_hash=case.workflow_hash,
                    referrer_user_id=case.referrer_user_id,
                    referring_org_kind=case.referring_org_kind,
                    concern_summary="Another synthetic concern.",
                    narrative="Synthetic narrative " * 20,
                )
            )
    with runtime.session_factory() as session:
        mine = list(session.scalars(select(Case.id).where(Case.subject_id == subject_id)))
    return runtime, world.actors["dpo"], subject_id, mine, others


def load_events(
    engine: Engine,
    network_id: int,
    mine: list[int],
    others: list[int],
    counts: tuple[int, int],
    rng: random.Random,
) -> None:
    """Chain `events` entries about `mine` and `noise` others after the head, in random order."""
    with engine.begin() as db:
        users = db.execute(select(User.id, User.organisation_id)).all()
        chain = chain_of(network_id)
        head = db.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == chain)
        ).one_or_none()
        seq, prev_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        events, noise = counts
        about = [True] * events + [False] * noise
        rng.shuffle(about)
        batch: list[dict[str, Any]] = []
        at = START
        for is_mine in about:
            seq += 1
            at += timedelta(seconds=rng.randrange(1, 600))
            user_id, org_id = rng.choice(users)
            if is_mine:
                case_id: int | None = rng.choice(mine)
            else:
                case_id = rng.choice(others) if rng.random() < 0.5 else None
            body = {
                "seq": seq,
                "at": at,
                "actor_user_id": user_id,
                "actor_org_id": org_id,
                "actor_role": rng.choice(ROLES) or "coordinator",
                "network_id": network_id,
                "action": rng.choice(EXPORT_ACTIONS),
                "case_id": case_id,
                "target": "",
                "categories": rng.choice(EXPORT_CATEGORIES),
                "allowed": rng.random() < 0.9,
                "rule": rng.choice(RULES),
                "purpose": rng.choice(("screening", "panel", "support")),
                "legal_basis": rng.choice(("public_task", "consent", "crime_prevention")),
                "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "workflow_hash": "",
                "policy_hash": "",
                "change_digest": "",
            }
            new_hash = entry_hash(prev_hash, body)
            batch.append({**body, "chain": chain, "prev_hash": prev_hash, "hash": new_hash})
            prev_hash = new_hash
            if len(batch) == BATCH:
                db.execute(insert(AuditEntry), batch)
                batch = []
        if batch:
            db.execute(insert(AuditEntry), batch)
        set_heads(db, {chain: (seq, prev_hash)})
        if engine.dialect.name == "sqlite":
            db.execute(text("ANALYZE"))
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("VACUUM ANALYZE audit_log"))


def timed_export(runtime: Runtime, dpo: Actor, subject_id: int) -> tuple[int, float, float, float]:
    """One export as the dpo: (accesses, export s, JSON s, HTML s)."""
    from referral.services.subject_export import bundle_json, export_subject
    from referral.web.subject_bundle import bundle_html
    from referral.web.templating import state_labeller

    start = time.perf_counter()
    with UnitOfWork(runtime, request_id="bench") as uow:
        bundle = export_subject(uow, dpo, subject_id)
    exported = time.perf_counter()
    bundle_json(bundle)
    rendered_json = time.perf_counter()
    bundle_html(bundle, state_labeller(runtime.workflows))
    rendered_html = time.perf_counter()
    return (
        len(bundle.accesses),
        exported - start,
        rendered_json - exported,
        rendered_html - rendered_json,
    )


def bench_export(url: str | None, events: int, noise: int, seed: int) -> int:
    with database(url) as (engine, backend):
        upgrade(engine)
        start = time.perf_counter()
        runtime, actor, subject_id, mine, others = export_world(engine)
        load_events(engine, actor.network_id, mine, others, (events, noise), random.Random(seed))
        loaded_s = time.perf_counter() - start
        with runtime.session_factory() as session:
            expected = session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.case_id.in_(mine))
            )
            total = session.scalar(select(func.count()).select_from(AuditEntry))
        print(
            f"{backend}: subject {subject_id} with {len(mine)} cases and {expected:,} entries "
            f"among {total:,}, loaded in {loaded_s:.1f} s"
        )
        timed_export(runtime, actor, subject_id)  # warm-up
        runs = [timed_export(runtime, actor, subject_id) for _ in range(EXPORT_RUNS)]
        accesses = runs[-1][0]
        # The subject's own entries, plus one `subject:export` entry per earlier export.
        if accesses != expected + EXPORT_RUNS:
            print(f"the export holds {accesses} accesses, expected {expected + EXPORT_RUNS}")
            return 1
        export_s, json_s, html_s = (statistics.median(run[i] for run in runs) for i in (1, 2, 3))
        total_s = statistics.median(sum(run[1:]) for run in runs)
        print(f"{'':<28}{'ms':>9}")
        for name, seconds in (
            ("export_subject", export_s),
            ("bundle_json", json_s),
            ("bundle_html", html_s),
            (f"all three (median of {EXPORT_RUNS})", total_s),
        ):
            print(f"{name:<28}{seconds * 1000:>9.1f}")
        verdict = "met" if total_s <= EXPORT_TARGET_S else "NOT met"
        print(
            f"export: {total_s * 1000:.1f} ms for {accesses:,} accesses, target "
            f"{EXPORT_TARGET_S:.0f} s ({total_s / EXPORT_TARGET_S:.3f} of it): {verdict}"
        )
        return 0 if total_s <= EXPORT_TARGET_S else 1


# -- the run -----------------------------------------------------------------------------


def timed(engine: Engine, run: Any) -> tuple[VerifyResult, float]:
    with Session(engine) as session:
        start = time.perf_counter()
        result = run(session)
        return result, time.perf_counter() - start


def parallel(workers: int) -> Any:
    """verify as `referral audit verify --workers N` runs it."""

    def run(session: Session) -> VerifyResult:
        return verify(session, engine=session.get_bind(), workers=workers)  # type: ignore[arg-type]

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 entries")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=("verify", "export"), default=None)
    parser.add_argument("--events", type=int, default=1_000, help="the subject's entries")
    parser.add_argument("--noise", type=int, default=50_000, help="other entries")
    parser.add_argument("--workers", type=int, default=4, help="verify's connections")
    args = parser.parse_args(argv)
    if args.only != "verify":
        status = bench_export(args.database_url, args.events, args.noise, args.seed)
        if status or args.only == "export":
            return status
    count = 100_000 if args.quick else args.entries
    with database(args.database_url) as (engine, backend):
        upgrade(engine)
        start = time.perf_counter()
        load(engine, count, random.Random(args.seed))
        loaded_s = time.perf_counter() - start
        print(f"{backend}: {count:,} entries chained and loaded in {loaded_s:.1f} s")
        print(f"verify with --workers {args.workers} (connections at once on PostgreSQL only)")

        run = parallel(args.workers)
        timed(engine, run)  # warm-up: pages into the cache
        runs = [timed(engine, run) for _ in range(RUNS)]
        new, new_s = runs[0][0], statistics.median(seconds for _, seconds in runs)
        one, one_s = timed(engine, verify)
        old, old_s = timed(engine, verify_exact)
        if not new.ok or not (new.entries == one.entries == old.entries == count):
            print(f"the walks disagree: {new} / {one} / {old}")
            return 1
        if new.heads != one.heads:
            print(f"the walks reach different heads: {new.heads} / {one.heads}")
            return 1
        canonical = canonical_bodies(min(count, 200_000))
        start = time.perf_counter()
        sha256_floor(canonical)
        floor_s = (time.perf_counter() - start) * count / len(canonical)

        print(f"{'':<24}{'seconds':>9}{'entries/s':>12}{'time/verify':>13}")
        for name, seconds in (
            (f"verify (median of {RUNS})", new_s),
            ("verify, one connection", one_s),
            ("exact walk", old_s),
            ("sha256 alone (floor)", floor_s),
        ):
            print(f"{name:<24}{seconds:>9.2f}{count / seconds:>12,.0f}{seconds / new_s:>12.2f}x")
        rate = count / new_s
        verdict = "met" if rate >= TARGET else "NOT met"
        print(f"verify: {rate:,.0f} entries/s, target {TARGET:,}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
