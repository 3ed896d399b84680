"""What sealing personal fields costs: per field, per case list and per case page.

    python bench/sealing.py [--cases N] [--database-url URL] [--runs R] [--quick]

Builds N cases through the services (each with its own subject and data key) and times,
as the median of R runs in this one process:

- sealing and opening one field (AES-GCM with the subject's key, already unwrapped);
- a page of 50 cases as `list_cases` reads it (sealed columns deferred: nothing opened),
  against the same page with every sealed field loaded and opened, the cost the
  deferral avoids;
- a case page (`read_case`: every category the coordinator may read, opened).

`--quick` (50 cases, 5 runs) keeps the script from rotting in CI.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from scratch import (  # bench/scratch.py: the script's folder is on sys.path
    database,
    shipped_runtime,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from referral.config import Settings
from referral.db.migrate import upgrade
from referral.db.sealing import SEALED_GROUP, WITH_SEALED, DataKeys, Kind
from referral.db.tables import Case
from referral.demo import seed_people
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging
from referral.services import referrals
from referral.services.uow import UnitOfWork

PAGE = 50


def median_ms(action: Callable[[], object], runs: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="50 cases, 5 runs")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.runs = 50, 5
    configure_logging(Settings(log_level="WARNING"))  # not a line per referral
    keyring = Keyring.from_config(f"bench:{new_master_key()}", None)

    with database(args.database_url) as (engine, backend):
        upgrade(engine)
        runtime = shipped_runtime(engine, keyring)
        world = seed_people(runtime)
        command = referrals.SubmitReferral(
            subject=referrals.SubjectDetails(
                given_name="Bench", family_name="Person", address="1 Bench Road"
            ),
            concern_summary="A synthetic concern for the benchmark.",
            concern_types=("hate_targeting_a_group",),
            narrative="A synthetic narrative. " * 20,
        )
        started = time.perf_counter()
        for _ in range(args.cases):
            world.run("referrer", referrals.submit_referral, command)
        submit_ms = (time.perf_counter() - started) * 1000 / args.cases
        print(f"{backend}: {args.cases} cases; submitting one took {submit_ms:.1f} ms")

        with UnitOfWork(runtime) as uow:
            keys = DataKeys(keyring)
            connection = uow.session.connection()
            key_id = keys.create(connection)
            value = "A synthetic narrative. " * 20
            token = keys.seal(connection, key_id, Kind.TEXT, value)
            per_field = 2000
            start = time.perf_counter()
            for _ in range(per_field):
                keys.seal(connection, key_id, Kind.TEXT, value)
            seal_us = (time.perf_counter() - start) * 1e6 / per_field
            start = time.perf_counter()
            for _ in range(per_field):
                keys.open(connection, Kind.TEXT, token)
            open_us = (time.perf_counter() - start) * 1e6 / per_field
            uow.rollback()
        print(f"one field of {len(value)} characters: seal {seal_us:.1f} µs, open {open_us:.1f} µs")

        def page(session: Session, opened: bool) -> list[Case]:
            query = select(Case).order_by(Case.due_at, Case.id).limit(PAGE)
            if opened:
                query = query.options(
                    WITH_SEALED, joinedload(Case.subject).undefer_group(SEALED_GROUP)
                )
            return list(session.scalars(query))

        def list_page(opened: bool) -> Callable[[], object]:
            def run() -> object:
                with runtime.session_factory() as session:
                    return page(session, opened)

            return run

        deferred = median_ms(list_page(False), args.runs)
        opened = median_ms(list_page(True), args.runs)
        print(
            f"a page of {PAGE} cases: {deferred:.2f} ms as lists read it (nothing opened); "
            f"{opened:.2f} ms with every sealed field opened ({opened / deferred:.1f}x)"
        )
        listed = median_ms(
            lambda: world.run("coordinator", referrals.list_cases, referrals.ListCases()),
            args.runs,
        )
        case_page = median_ms(lambda: world.run("coordinator", referrals.read_case, 1), args.runs)
        print(f"list_cases (policy, audit, commit): {listed:.2f} ms")
        print(f"read_case (every category opened, audited): {case_page:.2f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
