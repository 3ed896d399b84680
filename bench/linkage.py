"""Repeat-referral linkage: what it finds, what it mistakes, and how fast it matches.

    python bench/linkage.py [--people N] [--tokens T] [--database-url URL] [--runs R]
                            [--quick]

1. Quality. N synthetic people (bench/linkage_people.py: Latin and Arabic-script names,
   transliterations, nicknames, swapped name order, typos, date-of-birth errors) are
   referred once; 30 % of them are referred again, written down differently, beside as
   many new people (who must match nobody). Each second referral is matched against the
   first ones, and the script prints precision and recall of:
   - the exact-match baseline: given name, family name and date of birth equal after
     trimming and lower-casing (what a plain lookup finds);
   - the keyed tokens one kind at a time, and the whole scheme at its threshold
     (domain.linkage): the measurement the scheme was chosen by.
2. Speed. T tokens of synthetic people go into `linkage_tokens` (SQLite, or PostgreSQL
   with --database-url), and a new referral's tokens are matched against them
   (services.linkage.match: one indexed lookup), median and 95th percentile of R runs,
   beside the exact baseline's single-token lookup in the same run; the query plan is
   printed to show the index is used (no scan).

`--quick` (2,000 people, 100,000 tokens, 20 runs) keeps the script from rotting in CI.
Targets (issue 12): recall >= 0.95 at precision >= 0.99; a match against 1,000,000
tokens within 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from linkage_people import Record, population  # bench/: the script's folder is on sys.path
from scratch import database, shipped_runtime
from sqlalchemy import Engine, insert, select, text

from referral.config import Settings
from referral.db.migrate import upgrade
from referral.db.tables import LinkageToken, Network
from referral.demo import seed_people
from referral.domain import linkage
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging
from referral.services import linkage as linking
from referral.services import referrals
from referral.services.uow import Runtime, UnitOfWork

TARGET_MS = 50.0


def exact_key(record: Record) -> tuple[str, str, str]:
    return (
        record.given.strip().lower(),
        record.family.strip().lower(),
        record.dob.isoformat() if record.dob else "",
    )


def scores(
    first: list[Record], queries: list[Record], secret: bytes, kinds: set[str] | None
) -> list[tuple[int, int, float]]:
    """(query person, matched person, similarity) for every pair sharing a token of
    `kinds` (all kinds when None), through an in-memory index of the first referrals."""
    index: dict[str, list[int]] = defaultdict(list)
    for record in first:
        for token in linkage.tokens(secret, record.given, record.family, record.dob):
            if kinds is None or token[0] in kinds:
                index[token].append(record.person)
    found = []
    for query in queries:
        shared: dict[int, list[str]] = defaultdict(list)
        for token in linkage.tokens(secret, query.given, query.family, query.dob):
            for person in index.get(token, ()):
                shared[person].append(token)
        for person, tokens in shared.items():
            score = 1.0 if kinds is not None else linkage.similarity(tokens)
            found.append((query.person, person, score))
    return found


def precision_recall(pairs: Iterable[tuple[int, int]], truth: int) -> tuple[float, float, int]:
    pairs = list(pairs)
    right = sum(1 for a, b in pairs if a == b)
    return (right / len(pairs) if pairs else 1.0), right / truth, len(pairs)


def quality(people: int, secret: bytes) -> tuple[float, float]:
    first, queries = population(people, 0.3)
    truth = sum(1 for q in queries if q.person < people)
    print(
        f"quality: {people:,} people referred once; {truth:,} referred again, written "
        f"differently, and {len(queries) - truth:,} new people (who match nobody)"
    )
    print(f"  {'method':<46} {'precision':>9} {'recall':>7} {'pairs':>7}")

    def show(label: str, pairs: Iterable[tuple[int, int]]) -> tuple[float, float]:
        p, r, n = precision_recall(pairs, truth)
        print(f"  {label:<46} {p:>9.4f} {r:>7.4f} {n:>7,}")
        return p, r

    by_exact: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for record in first:
        by_exact[exact_key(record)].append(record.person)
    show(
        "exact match (baseline)",
        ((q.person, p) for q in queries for p in by_exact.get(exact_key(q), ())),
    )
    for code, label in (
        ("x", "one token kind: normalised names + date"),
        ("s", "one token kind: name skeletons + date (swaps)"),
        ("m", "one token kind: metaphone + date (swaps)"),
        ("e", "one token kind: one name within one typo"),
        ("t", "one token kind: two of the names + date"),
    ):
        show(label, ((a, b) for a, b, _ in scores(first, queries, secret, {code})))
    scored = scores(first, queries, secret, None)
    for threshold in (0.4, linkage.THRESHOLD, 0.6):
        mark = " (shipped)" if threshold == linkage.THRESHOLD else ""
        result = show(
            f"all kinds, similarity >= {threshold}{mark}",
            ((a, b) for a, b, s in scored if s >= threshold),
        )
        if threshold == linkage.THRESHOLD:
            shipped = result
    return shipped


def fill(engine: Engine, tokens: int, secret: bytes, case_ids: list[int], network: int) -> int:
    """`tokens` tokens of synthetic people into linkage_tokens, spread over real cases
    (the rows' case ids only group tokens; the lookup reads the token index)."""
    people, _ = population(max(1, tokens // 20), 0.0, seed=99)
    now = datetime.now(UTC)
    rows: list[dict[str, object]] = []
    written = 0
    for n, record in enumerate(people):
        for token in linkage.tokens(secret, record.given, record.family, record.dob):
            rows.append(
                {
                    "network_id": network,
                    "case_id": case_ids[n % len(case_ids)],
                    "token": token,
                    "year": 2026,
                    "created_at": now,
                }
            )
        if len(rows) >= 50_000 or n == len(people) - 1:
            with engine.begin() as db:
                db.execute(insert(LinkageToken), rows[: tokens - written])
            written += min(len(rows), tokens - written)
            rows = []
        if written >= tokens:
            break
    with engine.begin() as db:
        if engine.dialect.name == "postgresql":
            db.execute(text("ANALYZE linkage_tokens"))
        else:
            db.execute(text("ANALYZE"))
    return written


def timed(
    runtime: Runtime, action: Callable[[UnitOfWork], object], runs: int
) -> tuple[float, float]:
    """Median and 95th percentile, in ms, of `action` inside a reading unit of work (the
    unit's own set-up, the same for any request, is not the match's)."""
    times = []
    for run in range(runs + 1):
        with UnitOfWork(runtime, read_only=True) as uow:
            start = time.perf_counter()
            action(uow)
            if run:  # the first warms the caches
                times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def speed(url: str | None, tokens: int, runs: int, secret: bytes) -> float:
    keyring = Keyring.from_config(
        f"bench:{new_master_key()}", None, linkage_key=f"bench-link:{new_master_key()}"
    )
    assert keyring.linkage is not None
    secret = keyring.linkage[1]
    with database(url) as (engine, backend):
        upgrade(engine)
        runtime = shipped_runtime(engine, keyring)
        world = seed_people(runtime)
        case_ids = [
            world.run(
                "referrer",
                referrals.submit_referral,
                referrals.SubmitReferral(
                    subject=referrals.SubjectDetails(f"Bench{i}", "Person"),
                    concern_summary="Synthetic.",
                    concern_types=("hate_targeting_a_group",),
                ),
            )
            for i in range(20)
        ]
        network = world.actors["referrer"].network_id
        start = time.perf_counter()
        stored = fill(engine, tokens, secret, case_ids, network)
        print(
            f"\nspeed ({backend}): {stored:,} tokens stored in {time.perf_counter() - start:.0f} s"
        )
        _, queries = population(2_000, 0.3, seed=99)
        probes = [linkage.tokens(secret, q.given, q.family, q.dob) for q in queries[:runs]]
        cycle = iter(probes * (runs + 2))

        exact = iter([next(iter(p)) for p in probes] * (runs + 2))

        def one_match(uow: UnitOfWork) -> None:
            linking.match(uow, next(cycle))

        def one_lookup(uow: UnitOfWork) -> None:
            uow.unscoped("bench").execute(
                select(LinkageToken.case_id).where(LinkageToken.token == next(exact))
            ).all()

        median, p95 = timed(runtime, one_match, runs)
        base, _ = timed(runtime, one_lookup, runs)
        count = len(probes[0])
        print(
            f"  match a new referral ({count} tokens, two IN lookups): median {median:.1f} ms,"
            f" p95 {p95:.1f} ms (target <= {TARGET_MS:.0f} ms)"
        )
        print(
            f"  exact baseline (one token, one = lookup): median {base:.1f} ms; "
            f"match/baseline {median / base:.1f}x"
        )
        _plan(engine, sorted(probes[0]))
    return median


def _plan(engine: Engine, tokens: list[str]) -> None:
    statement = (
        select(LinkageToken.case_id, LinkageToken.network_id, LinkageToken.token)
        .join(Network, Network.id == LinkageToken.network_id)
        .where(LinkageToken.token.in_(tokens), Network.kind != "training")
    )
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as db:
        plan = [" ".join(str(c) for c in row) for row in db.execute(text(explain + str(compiled)))]
    used = any("ix_linkage_tokens_token" in line for line in plan)
    print(f"  query plan uses ix_linkage_tokens_token: {'yes' if used else 'NO (a scan)'}")
    for line in plan[:4]:
        print(f"    {line.strip()[:110]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="2,000 people, 100,000 tokens")
    args = parser.parse_args()
    if args.quick:
        args.people, args.tokens, args.runs = 2_000, 100_000, 20
    configure_logging(Settings(log_level="WARNING"))
    secret = os.urandom(32)
    precision, recall = quality(args.people, secret)
    median = speed(args.database_url, args.tokens, args.runs, secret)
    met = precision >= 0.99 and recall >= 0.95 and median <= TARGET_MS
    print(
        f"\ntargets: precision {precision:.4f} (>= 0.99), recall {recall:.4f} (>= 0.95), "
        f"match {median:.1f} ms (<= {TARGET_MS:.0f} ms): {'met' if met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
