"""Finding a case: by reference and by name through the blind index, flat in the size
of the network, beside the work queue's first page measured in the same run.

    python bench/search.py [--small N] [--cases N] [--database-url URL] [--runs R] [--quick]

Builds a network at `--small` cases (200) and grows it to `--cases` (2,000), each case a
referral submitted through the services (so each has its reference and index rows as in
production; one name in twenty is shared by many people). At each size it times, as a
request runs them (a read-only unit of work around one service call), the median of R
runs of: a search by reference, by a unique name and date of birth, by a common name
(the first page of its matches), and the work queue's first page as the baseline. The
last columns are large / small (about 1: flat) and search / queue. `--quick` (30 and
300 cases, 5 runs) keeps the script from rotting in CI.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date

from scratch import database, shipped_runtime  # bench/scratch.py, on sys.path
from sqlalchemy import select

from referral.config import Settings
from referral.db.migrate import upgrade
from referral.db.tables import Case
from referral.demo import DemoWorld, seed_people
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging
from referral.services import queue, referrals, search
from referral.services.uow import UnitOfWork

COMMON = ("Sam", "Common")


def median_ms(action: Callable[[], object], runs: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def grow(world: DemoWorld, start: int, stop: int) -> None:
    for n in range(start, stop):
        given, family = COMMON if n % 20 == 0 else (f"Given{n}", f"Family{n}")
        subject = referrals.SubjectDetails(
            given_name=given, family_name=family, date_of_birth=date(2000 + n % 20, 1, 1 + n % 28)
        )
        command = referrals.SubmitReferral(
            subject=subject,
            concern_summary="A synthetic concern for the benchmark.",
            concern_types=("hate_targeting_a_group",),
        )
        world.run("referrer", referrals.submit_referral, command)


def figures(world: DemoWorld, size: int, runs: int) -> dict[str, float]:
    runtime, coordinator = world.runtime, world.actors["coordinator"]
    with runtime.session_factory() as session:  # a reference from the middle of the network
        reference = session.scalar(select(Case.reference).where(Case.id == size // 2 + 1))
    assert reference
    wanted = size // 2 + 1  # a referral with a name of its own
    asked = {
        "search by reference": search.SearchCases(reference),
        "search by unique name and birth date": search.SearchCases(
            f"Given{wanted} Family{wanted}", date(2000 + wanted % 20, 1, 1 + wanted % 28)
        ),
        "search by a common name (first page)": search.SearchCases(" ".join(COMMON)),
    }
    result: dict[str, float] = {}
    for label, command in asked.items():

        def run(command: search.SearchCases = command, label: str = label) -> object:
            with UnitOfWork(runtime, read_only=True) as uow:
                found = search.search_cases(uow, coordinator, command)
            assert found.rows, label  # each question finds its case
            return found

        result[label] = median_ms(run, runs)

    def first_page() -> object:
        with UnitOfWork(runtime, read_only=True) as uow:
            return queue.work_queue(uow, coordinator, queue.ListQueue())

    result["work queue, first page (baseline)"] = median_ms(first_page, runs)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="30 and 300 cases, 5 runs")
    args = parser.parse_args()
    if args.quick:
        args.small, args.cases, args.runs = 30, 300, 5
    configure_logging(Settings(log_level="WARNING"))
    keyring = Keyring.from_config(f"bench:{new_master_key()}", None)
    with database(args.database_url) as (engine, backend):
        upgrade(engine)
        world = seed_people(shipped_runtime(engine, keyring))
        grow(world, 0, args.small)
        small = figures(world, args.small, args.runs)
        grow(world, args.small, args.cases)
        large = figures(world, args.cases, args.runs)
    baseline = "work queue, first page (baseline)"
    print(f"{backend}: medians of {args.runs} runs, ms; {args.small:,} and {args.cases:,} cases")
    print(f"{'':40} {'small':>8} {'large':>8} {'large/small':>12} {'/ queue':>8}")
    for label in small:
        ratio = large[label] / small[label]
        versus = large[label] / large[baseline]
        print(f"{label:40} {small[label]:8.2f} {large[label]:8.2f} {ratio:11.2f}x {versus:7.2f}x")


if __name__ == "__main__":
    main()
