"""What reading in a language costs a page: the same pages rendered in English (the
source strings, no catalogue) and in French and Arabic, beside each other in one run.

    python bench/languages.py [--cases N] [--database-url URL] [--runs R] [--quick]

Builds the demo network with N referrals (40) through the services, signs the
coordinator in through the real app (litestar's TestClient, no network), and times the
median of R requests (30) of the work queue, a case page and the case's history, each
with `Accept-Language: en`, `fr` and `ar`. The last columns are the language's time
over English's: about 1 means translating the words and writing dates the language's
way add nothing a person would notice. Then, per call, a date written by Babel in the
reader's locale and time zone beside the `strftime` the pages used before. `--quick`
(10 referrals, 5 runs) keeps the script from rotting in CI.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from scratch import database, shipped_runtime, sign_in  # bench/scratch.py, on sys.path

from referral import i18n
from referral.config import Settings
from referral.db.migrate import upgrade
from referral.demo import DEMO_PASSWORD, seed_people
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging
from referral.security import configure_hashing
from referral.services import referrals

LANGUAGES = ("en", "fr", "ar")


def per_call_us(action: Callable[[], object], calls: int = 2000) -> float:
    action()
    start = time.perf_counter()
    for _ in range(calls):
        action()
    return (time.perf_counter() - start) / calls * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.runs = 10, 5
    configure_logging(Settings(log_level="WARNING"))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    configure_hashing(time_cost=1, memory_kib=1024, parallelism=1)
    keyring = Keyring.from_config(f"bench:{new_master_key()}", None)
    from litestar.testing import TestClient

    from referral.web.app import create_app

    failures: list[str] = []
    with database(args.database_url) as (engine, kind):
        upgrade(engine)
        runtime = shipped_runtime(engine, keyring)
        world = seed_people(runtime)
        case_id = 0
        for n in range(args.cases):
            command = referrals.SubmitReferral(
                subject=referrals.SubjectDetails(given_name=f"Given{n}", family_name="Bench"),
                concern_summary="A synthetic concern for the benchmark.",
                concern_types=("hate_targeting_a_group",),
            )
            case_id = world.run("referrer", referrals.submit_referral, command)
        # The demo's coordinator signs in with a password alone, as under `make run`.
        app = create_app(Settings(cookie_secure=False, second_factor_roles=()), runtime)
        with TestClient(app, base_url="http://testserver.local") as client:
            signed = sign_in(client, "coordinator", DEMO_PASSWORD)
            if signed != 303:
                print(f"!!! sign-in answered {signed}")
                return 1
            pages = {
                "work queue": "/queue",
                "case page": f"/cases/{case_id}",
                "history": f"/cases/{case_id}/history",
            }
            print(f"{kind}: {args.cases} referrals, median of {args.runs} requests (ms)")
            print(f"{'page':<12}" + "".join(f"{lang:>9}" for lang in LANGUAGES) + "   fr/en  ar/en")
            for name, path in pages.items():
                # Interleaved, a request in each language in turn, so that drift in the
                # machine's load falls on all three alike.
                times: dict[str, list[float]] = {language: [] for language in LANGUAGES}
                for run in range(args.runs + 1):
                    for language in LANGUAGES:
                        start = time.perf_counter()
                        answer = client.get(
                            path, headers={"Accept-Language": language}, follow_redirects=False
                        )
                        if run:  # the first round warms templates and catalogues up
                            times[language].append(time.perf_counter() - start)
                        if answer.status_code != 200:
                            failures.append(f"{path} in {language} -> {answer.status_code}")
                        elif run == 0 and f'lang="{language}"' not in answer.text:
                            failures.append(f"{path} did not read in {language}")
                timings = {lang: statistics.median(t) * 1000 for lang, t in times.items()}
                ratios = "  ".join(f"{timings[lang] / timings['en']:.2f}x" for lang in ("fr", "ar"))
                cells = "".join(f"{timings[lang]:>9.2f}" for lang in LANGUAGES)
                print(f"{name:<12}{cells}   {ratios}")
    moment = datetime(2026, 12, 3, 17, 30, tzinfo=UTC)
    before = per_call_us(lambda: moment.strftime("%d %b %Y %H:%M"))
    print("a date and time, per call (µs):")
    print(f"  strftime, UTC (the pages before): {before:.1f}")
    for language in LANGUAGES:
        reading = i18n.choose(language, None, None, "Europe/London")
        cost = per_call_us(lambda reading=reading: i18n.format_datetime(moment, reading))
        print(f"  Babel, {language}, Europe/London: {cost:.1f} ({cost / before:.0f}x strftime)")
    for failure in failures:
        print(f"!!! {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
