"""The stateful fuzz of the rules, long: random actors of every role through random
operations on random cases, every invariant checked after every step.

tests/integration/rules_machine.py defines the machine (what it drives and checks); the
suite runs it for a few dozen steps, this for 1,000 or more, on a scratch database
(SQLite, or PostgreSQL with --database-url). It prints how many steps ran, what they did
(done or refused, by operation) and how many times each invariant was checked, and fails
with Hypothesis's smallest failing sequence of steps if an invariant breaks.

    .venv/bin/python bench/fuzz.py [--steps 1000] [--database-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from scratch import (  # bench/scratch.py: the script's folder is on sys.path
    database,
    shipped_runtime,
)

from referral.config import PROJECT_ROOT, Settings
from referral.db.migrate import upgrade
from referral.demo import seed_people
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging

sys.path.insert(0, str(PROJECT_ROOT))  # the machine lives with the tests
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from tests.integration.rules_machine import Tally, machine_for

STEPS_PER_RUN = 50  # steps of one Hypothesis example: a few cases carried some way


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="at least this many steps")
    parser.add_argument("--quick", action="store_true", help="100 steps")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if args.quick:
        args.steps = 100
    configure_logging(Settings(log_level="WARNING"))
    keyring = Keyring.from_config(f"bench:{new_master_key()}", None)
    tally = Tally()
    with database(args.database_url) as (engine, backend):
        upgrade(engine)
        runtime = shipped_runtime(engine, keyring)
        machine = machine_for(runtime, seed_people(runtime), tally)
        started = time.perf_counter()
        while tally.steps < args.steps:
            run_state_machine_as_test(
                machine,
                settings=settings(
                    # Hypothesis's first example is its simplest (the first rule, the
                    # first actor, every time): only the ones after it explore.
                    max_examples=max(2, (args.steps - tally.steps) // (STEPS_PER_RUN // 2)),
                    stateful_step_count=STEPS_PER_RUN,
                    deadline=None,
                    database=None,  # nothing kept between runs: every run explores anew
                    suppress_health_check=list(HealthCheck),
                ),
            )
        seconds = time.perf_counter() - started
    report(backend, tally, seconds)
    return 0


def report(backend: str, tally: Tally, seconds: float) -> None:
    print(f"{backend}: {tally.steps} steps in {tally.runs} runs, {seconds:.1f} s "
          f"({tally.steps / seconds:.0f} steps/s)")  # fmt: skip
    done: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for key, count in tally.outcomes.items():
        kind, _, outcome = key.rpartition(":")
        operation = kind.split(":", 1)[-1]
        (done if outcome in ("done", "shown") else refused)[operation] += count
    print(f"{'operation':<28}{'done':>7}{'refused':>9}")
    for operation in sorted(set(done) | set(refused)):
        print(f"{operation:<28}{done[operation]:>7}{refused[operation]:>9}")
    print(f"invariants checked: {sum(tally.checks.values())}")
    for name, count in tally.checks.most_common():
        print(f"  {count:>7}  {name}")


if __name__ == "__main__":
    raise SystemExit(main())
