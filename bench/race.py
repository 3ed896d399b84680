"""The race: rounds of identical moves sent at once to one case, over HTTP, counted by status.

    python bench/race.py [--quick] [--database-url POSTGRES_URL] [--rounds 50]
                         [--parallel 10] [--strict]

On SQLite with 1 process (always) and on PostgreSQL with 2 processes (with a URL: a
scratch schema, dropped after), it seeds the demo with the `referral` command, serves
it with `referral serve --workers N` and takes a coordinator's API token. Each round
reads one case in `support` (its state and version), then `parallel` threads, each on
a connection opened beforehand and released together by a barrier, send the same
`POST /api/cases/{id}/transitions` (`start_review` from support, `continue_support`
from review, with the version read). The target (issue 10, DESIGN.md invariant 9):
exactly one 200 a round and a 409 for every other, never a 500; and the case moved
exactly once. `--quick`: 3 rounds on each database.

Exit status: 1 when the benchmark cannot run; 5xx answers and rounds with other than
one winner are printed prominently, and fail the run only with --strict.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from served import (
    HOST,
    BenchError,
    Server,
    api_get,
    api_token,
    case_in_state,
    demo_database,
    logs_in,
    sign_in,
)
from stdhttp import client

TIMEOUT = 60.0  # seconds one move may take before it counts as "timeout"
NEXT = {"support": "start_review", "review": "continue_support"}


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)  # status -> one answer's body
    one_winner: int = 0  # exactly one 200, and the case moved exactly once
    on_target: int = 0  # ...and every other answer a 409
    bad_rounds: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))


def move(port: int, path: str, headers: dict[str, str], body: bytes, start: threading.Barrier,
         out: list[tuple[str, str]]) -> None:  # fmt: skip
    connection = client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    try:
        connection.connect()
        start.wait(timeout=TIMEOUT)
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        out.append((str(response.status), response.read()[:200].decode(errors="replace")))
    except TimeoutError:
        out.append(("timeout", ""))
    except OSError as exc:
        out.append((type(exc).__name__, str(exc)[:200]))
    finally:
        connection.close()


def race_round(port: int, token: str, case_id: int, parallel: int, tally: Tally) -> None:
    before = api_get(port, token, f"/api/cases/{case_id}")
    trigger = NEXT[before["state"]]
    body = json.dumps({"trigger": trigger, "expected_version": before["version"]}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = f"/api/cases/{case_id}/transitions"
    start = threading.Barrier(parallel)
    answers: list[tuple[str, str]] = []
    threads = [
        threading.Thread(target=move, args=(port, path, headers, body, start, answers))
        for _ in range(parallel)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT * 2)
    statuses = Counter(status for status, _ in answers)
    for status, text in answers:
        tally.samples.setdefault(status, text)
    tally.statuses.update(statuses)
    after = api_get(port, token, f"/api/cases/{case_id}")
    moved = after["version"] - before["version"]
    one_winner = statuses["200"] == 1 and moved == 1
    tally.one_winner += one_winner
    if one_winner and statuses["409"] == parallel - 1:
        tally.on_target += 1
    else:
        counts = " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
        tally.bad_rounds.append(f"{counts}; the case moved {moved} time(s)")


def run_pass(url: str | None, backend: str, workers: int, args: argparse.Namespace,
             logs: Path) -> Tally:  # fmt: skip
    tally = Tally()
    with demo_database(url) as deployment:
        server = Server.referral(deployment, workers, logs)
        try:
            server.start()
            token = api_token(server.port, sign_in(server.port, "coordinator"))
            case_id = case_in_state(server.port, token, "support")
            for _ in range(args.rounds):
                race_round(server.port, token, case_id, args.parallel, tally)
        finally:
            server.stop()
        logged = server.exceptions().most_common(4)
    losers = args.rounds * (args.parallel - 1)
    plural = "es" if workers > 1 else ""
    print(f"\n== {backend}, {workers} process{plural}: {args.rounds} rounds of {args.parallel}")
    print(f"rounds with exactly one winner and one move: {tally.one_winner} of {args.rounds}")
    print(
        f"rounds on target (one 200, {args.parallel - 1} 409s): {tally.on_target} of {args.rounds}"
    )
    print(f"losers answered 409: {tally.statuses['409']} of {losers}")
    for status, count in sorted(tally.statuses.items()):
        print(f"  {status:>8}: {count:>5}   e.g. {tally.samples.get(status, '')[:100]!r}")
    if logged:
        print("  the server's log names: " + ", ".join(f"{name} x{n}" for name, n in logged))
    for line in tally.bad_rounds[:5]:
        print(f"  a round off target: {line}")
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds on each database")
    parser.add_argument("--database-url", default=None, help="PostgreSQL, besides SQLite")
    parser.add_argument("--logs", type=Path, default=None, help="keep the servers' logs here")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--strict", action="store_true", help="fail unless every round is right")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 3
    passes = [("sqlite", None, 1)]
    if args.database_url:
        passes.append(("postgresql", args.database_url, 2))
    off_target = server_errors = 0
    with logs_in(args.logs, "bench-race-") as tmp:
        for backend, url, workers in passes:
            try:
                tally = run_pass(url, backend, workers, args, Path(tmp))
            except BenchError as exc:
                print(f"race.py: {exc}", file=sys.stderr)
                return 1
            off_target += len(tally.bad_rounds)
            server_errors += tally.server_errors
    if server_errors or off_target:
        print(f"\n!!! {server_errors} answers were 5xx; {off_target} rounds off target")
        return 3 if args.strict else 0
    print("\nevery round: one winner, 409 for the others, no 5xx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
