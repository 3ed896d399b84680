"""Requests per second of the served demo beside a bare Litestar app, measured with wrk.

    python bench/http.py [--quick] [--database-url POSTGRES_URL] [--seconds S]
                         [--connections 4,50,200] [--workers 1,2] [--strict]

For SQLite (always) and PostgreSQL (with a URL: a scratch schema, dropped after), it
seeds the demo with the `referral` command, serves it with `referral serve --workers N`
and, under the same uvicorn with the same settings, the bare app of bench/bare.py. Then,
at each number of connections, wrk (Debian's; `make bench-tools`) drives for S seconds:

- the bare app's `GET /`;
- the API case read `GET /api/cases/{id}` with a coordinator's bearer token;
- the case page `GET /cases/{id}` with a signed-in coordinator's session cookie;
- the work queue `GET /queue` (the coordinator's landing page), same cookie;
- anonymous `GET /login`.

It prints successful (2xx) requests/s, p50 and p99 of the answered requests, errors by
status (and wrk's socket timeouts), and the ratio to the bare app's requests/s in the
same pass. Between rounds it waits (bounded) for the server to answer again, and
restarts it if it does not, so one round's backlog does not bleed into the next.
`--quick`: 3 s rounds at 4 and 50 connections, 1 process, SQLite and PostgreSQL.

Exit status: 1 when the benchmark cannot run; 5xx answers are printed prominently and
fail the run only with --strict (the targets are in docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from served import (
    BENCH,
    BenchError,
    Deployment,
    Server,
    api_token,
    case_in_state,
    demo_database,
    logs_in,
    sign_in,
)

WRK_SCRIPT = BENCH / "status.lua"
# A server still busy with a round's backlog after this long is restarted (--quick: 10 s).
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Round:
    ok_per_s: float
    p50_ms: float
    p99_ms: float
    errors: Counter[str]
    answered: int

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.errors.items() if status.startswith("5"))


def wrk(port: int, endpoint: Endpoint, connections: int, seconds: int) -> Round:
    env = dict(os.environ)
    env["BENCH_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in endpoint.headers.items())
    argv = [
        "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
        f"--timeout={max(5, seconds)}s", "-s", str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}{endpoint.path}",
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - fixed argv, traffic to 127.0.0.1 only
        argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode or line is None:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr[-500:]}")
    result = json.loads(line[len("BENCH ") :])
    statuses = {str(k): int(v) for k, v in result["status"].items()}
    ok = sum(n for status, n in statuses.items() if status.startswith("2"))
    errors = Counter({k: v for k, v in statuses.items() if not k.startswith("2")})
    for kind in ("connect", "read", "write", "timeout"):
        if result[kind]:
            errors[kind] = int(result[kind])
    answered = ok + sum(v for k, v in statuses.items() if not k.startswith("2"))
    seconds_run = result["duration_us"] / 1e6
    p50, p99 = (result["p50_us"] / 1000, result["p99_us"] / 1000) if answered else (0.0, 0.0)
    return Round(ok / seconds_run, p50, p99, errors, answered)


def drain(server: Server, endpoint: Endpoint, seconds: float) -> str:
    """Wait until the server answers the endpoint again; restart it if it does not."""
    if server.answers(timeout=seconds, path=endpoint.path, headers=endpoint.headers):
        return ""
    server.restart()
    return " (backlog did not clear: restarted)"


def endpoints(server: Server) -> list[Endpoint]:
    coordinator = sign_in(server.port, "coordinator")
    token = api_token(server.port, coordinator)
    case_id = case_in_state(server.port, token, "support")
    bearer = {"Authorization": f"Bearer {token}"}
    cookie = {"Cookie": coordinator.cookie}
    return [
        Endpoint("API case read", f"/api/cases/{case_id}", bearer),
        Endpoint("case page", f"/cases/{case_id}", cookie),
        Endpoint("work queue", "/queue", cookie),
        Endpoint("GET /login", "/login", {}),
    ]


def show(label: str, connections: int, row: Round, bare: Round) -> None:
    errors = " ".join(f"{k}:{v}" for k, v in sorted(row.errors.items())) or "-"
    if not row.answered:
        errors = "no request answered within the round"
    ratio = row.ok_per_s / bare.ok_per_s if bare.ok_per_s else 0.0
    print(
        f"{label:<15}{connections:>6}{row.ok_per_s:>10.0f}{row.p50_ms:>9.1f}{row.p99_ms:>9.1f}"
        f"{ratio:>8.3f}x  {errors}",
        flush=True,
    )


def run_pass(
    deployment: Deployment, backend: str, workers: int, args: argparse.Namespace, logs: Path
) -> int:
    """One backend at one number of processes; returns the count of 5xx answers."""
    app, bare = Server.referral(deployment, workers, logs), Server.bare(workers, logs)
    server_errors = 0
    try:
        app.start()
        bare.start()
        targets = endpoints(app)
        plural = "es" if workers > 1 else ""
        print(f"\n== {backend}, {workers} process{plural}, {args.seconds} s rounds")
        print(f"{'endpoint':<15}{'conns':>6}{'2xx/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>9}"
              "  errors")  # fmt: skip
        analyzed = False
        for connections in args.connections:
            base = wrk(bare.port, Endpoint("bare app", "/", {}), connections, args.seconds)
            show("bare app", connections, base, base)
            for endpoint in targets:
                row = wrk(app.port, endpoint, connections, args.seconds)
                server_errors += row.server_errors
                show(endpoint.label, connections, row, base)
                note = drain(app, endpoint, args.drain)
                if note:
                    print(f"{'':<15}{note}")
                analyzed = deployment.analyze() or analyzed
        if analyzed:
            print("(autovacuum is off on this server: statistics refreshed after each round)")
    finally:
        app.stop()
        bare.stop()
    logged = app.exceptions().most_common(4)
    if logged:
        print("the server's log names: " + ", ".join(f"{name} x{n}" for name, n in logged))
    return server_errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s rounds at 4 and 50, 1 process")
    parser.add_argument("--database-url", default=None, help="PostgreSQL, besides SQLite")
    parser.add_argument("--logs", type=Path, default=None, help="keep the servers' logs here")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="4,50,200")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--strict", action="store_true", help="fail on any 5xx answer")
    parser.add_argument("--drain", type=float, default=None, help="seconds to wait for a backlog")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    args.drain = args.drain or (10.0 if args.quick else DRAIN_SECONDS)
    workers = [int(w) for w in args.workers.split(",")]
    if args.quick:
        args.seconds, args.connections, workers = 3, [4, 50], [1]
    backends = [] if args.no_sqlite else [("sqlite", None)]
    if args.database_url:
        backends.append(("postgresql", args.database_url))
    server_errors = 0
    with logs_in(args.logs, "bench-http-") as tmp:
        for backend, url in backends:
            try:
                with demo_database(url) as deployment:
                    for count in workers:
                        server_errors += run_pass(deployment, backend, count, args, Path(tmp))
            except BenchError as exc:
                print(f"http.py: {exc}", file=sys.stderr)
                return 1
    if server_errors:
        print(f"\n!!! {server_errors} answers were 5xx server errors (see the errors column)")
        return 3 if args.strict else 0
    print("\nno 5xx answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
