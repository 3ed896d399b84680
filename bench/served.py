"""Servers for the HTTP benchmarks (http.py, race.py), all on 127.0.0.1.

- `demo_database`: a scratch database (scratch.served_url) with the demo seeded by the
  `referral` command itself (`db upgrade`, `demo`), as a new user gets it.
- `Server`: `referral serve --workers N`, or the bare app (bare.py) under the same
  uvicorn, in a process group of its own that `stop` ends (only the group it started).
- `sign_in`, `api_token`: a coordinator's session cookie and API token, over HTTP.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from scratch import served_url
from stdhttp import client

from referral.cli import event_loop
from referral.db.engine import is_sqlite, make_engine

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the virtualenv's bin: `referral` sits beside python
HOST = "127.0.0.1"  # traffic goes nowhere else
PASSWORD = "demo-password"  # noqa: S105 - the demo's documented password (referral.demo)
T = TypeVar("T")
CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
# What the server logs for a 500: structlog's `request_failed error=OperationalError`.
EXCEPTION = re.compile(r"request_failed\s.*?\berror=(\w+)")


class BenchError(Exception):
    """The benchmark could not run (a server did not start, sign-in failed...)."""


class ServerError(BenchError):
    """A setup request answered 5xx."""


def environment(database_url: str, port: int, workers: int) -> dict[str, str]:
    """The REFERRAL_* settings of one served deployment (src/referral/config.py)."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    env = dict(os.environ)
    env.update(
        REFERRAL_DATABASE_URL=database_url,
        REFERRAL_PORT=str(port),
        REFERRAL_HOST=HOST,
        REFERRAL_WORKERS=str(workers),
        REFERRAL_MASTER_KEYS=f"bench:{key}",
        REFERRAL_MASTER_KEY_ID="bench",
        # No access log line per request, for the app and the bare app alike.
        REFERRAL_LOG_LEVEL="WARNING",
        # The demo people sign in with their password alone, as in `make run`.
        REFERRAL_SECOND_FACTOR_ROLES="[]",
    )
    return env


@dataclass
class Deployment:
    """One scratch database with the demo in it, and the settings to serve it."""

    database_url: str
    master_keys: str

    def env(self, port: int, workers: int) -> dict[str, str]:
        env = environment(self.database_url, port, workers)
        env["REFERRAL_MASTER_KEYS"] = self.master_keys
        return env

    def analyze(self) -> bool:
        """PostgreSQL: refresh the planner's statistics of the scratch schema's tables, as
        autovacuum does in a deployment (docs/postgresql.md). This machine's server runs
        with autovacuum off, so without it a round plans against the table sizes of the
        seeded demo, however many entries the rounds before it wrote. Whether it ran."""
        if is_sqlite(self.database_url):
            return False
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as db:
                if db.exec_driver_sql("SHOW autovacuum").scalar() == "on":
                    return False
                tables = db.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                ).scalars()
                db.exec_driver_sql("ANALYZE " + ", ".join(f'"{table}"' for table in tables))
        finally:
            engine.dispose()
        return True


@contextmanager
def demo_database(url: str | None) -> Iterator[Deployment]:
    with served_url(url) as database_url:
        env = environment(database_url, 0, 1)
        for command in (("db", "upgrade"), ("demo",)):
            done = subprocess.run(  # noqa: S603 - our own `referral` command
                [str(BIN / "referral"), *command],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode:
                raise BenchError(f"referral {' '.join(command)} failed:\n{done.stderr[-2000:]}")
        yield Deployment(database_url, env["REFERRAL_MASTER_KEYS"])


@contextmanager
def logs_in(keep: Path | None, prefix: str) -> Iterator[Path]:
    """The folder for the servers' logs: `keep` if given, else a temporary one."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def referral(cls, deployment: Deployment, workers: int, log_dir: Path) -> Server:
        port = free_port()
        argv = [str(BIN / "referral"), "serve", "--workers", str(workers)]
        log = log_dir / f"referral-{port}.log"
        return cls("referral", argv, deployment.env(port, workers), port, "/login", log)

    @classmethod
    def bare(cls, workers: int, log_dir: Path) -> Server:
        """The bare app under uvicorn, started as `referral serve` starts its app."""
        port = free_port()
        argv = [
            sys.executable, "-m", "uvicorn", "bare_app:create_app", "--factory",
            "--app-dir", str(BENCH / "bare"),
            "--host", HOST, "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-proxy-headers", "--loop", event_loop(workers),
        ]  # fmt: skip
        return cls("bare", argv, dict(os.environ), port, "/", log_dir / f"bare-{port}.log")

    def start(self, timeout: float = 90.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - argv built here
                self.argv,
                env=self.env,
                cwd=BENCH.parent,  # not bench/: its http.py would shadow the standard `http`
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own, for stop()
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited at start:\n{self.tail()}")
            if self.answers(timeout=2.0):
                return
            time.sleep(0.3)
        raise BenchError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.tail()}")

    def answers(
        self, timeout: float, path: str | None = None, headers: dict[str, str] | None = None
    ) -> bool:
        """Whether GET `path` (default: the page that says the server is up) gets an answer
        below 500 within `timeout` seconds."""
        try:
            path = path or self.ready_path
            status, _, _ = request(self.port, "GET", path, headers, timeout=timeout)
        except OSError:
            return False
        return status < 500

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:  # a server stuck on a backlog does not finish its requests: do not wait long
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def exceptions(self) -> Counter[str]:
        """The exception classes the server's log names, most often first (for 5xx)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return Counter(EXCEPTION.findall(text))

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30.0,
) -> tuple[int, Message, bytes]:
    connection = client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def session_cookie(headers: Message, name: str = "referral_session") -> str:
    for value in headers.get_all("set-cookie") or []:
        pair = str(value).split(";", 1)[0].strip()
        if pair.startswith(f"{name}="):
            return pair
    raise BenchError(f"the server set no {name} cookie")


@dataclass(frozen=True)
class SignedIn:
    cookie: str  # "referral_session=..."
    csrf: str


def settled(step: Callable[[], T], tries: int = 5) -> T:
    """A setup step, tried again a few times (2 s apart) while the server answers 5xx:
    right after a restart a shared PostgreSQL may still be short of connections. The
    measured rounds are never retried."""
    for attempt in range(1, tries + 1):
        try:
            return step()
        except ServerError:
            if attempt == tries:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def sign_in(port: int, username: str) -> SignedIn:
    """Sign in through the login form, as a browser does."""
    return settled(lambda: _sign_in(port, username))


def _sign_in(port: int, username: str) -> SignedIn:
    status, headers, body = request(port, "GET", "/login")
    found = CSRF.search(body.decode())
    if status >= 500:
        raise ServerError(f"GET /login answered {status}")
    if status != 200 or not found:
        raise BenchError(f"GET /login answered {status} without a form")
    form = urlencode({"username": username, "password": PASSWORD, "_csrf": found.group(1)})
    status, headers, _ = request(
        port,
        "POST",
        "/login",
        {
            # A visitor holds only the sign-in form's token (a double-submit cookie).
            "Cookie": session_cookie(headers, "referral_csrf"),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        form.encode(),
    )
    if status != 303:
        raise BenchError(f"signing in as {username} answered {status}, not 303")
    cookie = session_cookie(headers)
    status, _, body = request(port, "GET", "/account", {"Cookie": cookie})
    found = CSRF.search(body.decode())
    if status != 200 or not found:
        raise BenchError(f"GET /account answered {status} without a form")
    return SignedIn(cookie, found.group(1))


def api_token(port: int, user: SignedIn) -> str:
    return settled(lambda: _api_token(port, user))


def _api_token(port: int, user: SignedIn) -> str:
    status, _, body = request(
        port,
        "POST",
        "/api/tokens",
        {"Cookie": user.cookie, "X-CSRF-Token": user.csrf, "Content-Type": "application/json"},
        json.dumps({"label": "bench"}).encode(),
    )
    if status >= 500:
        raise ServerError(f"POST /api/tokens answered {status}")
    if status not in (200, 201):
        raise BenchError(f"POST /api/tokens answered {status}: {body[:300]!r}")
    return str(json.loads(body)["token"])


def api_get(port: int, token: str, path: str) -> Any:
    status, _, body = request(port, "GET", path, {"Authorization": f"Bearer {token}"})
    if status != 200:
        raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
    return json.loads(body)


def case_in_state(port: int, token: str, state: str) -> int:
    """A demo case the coordinator can read, in `state` (the demo seeds every state)."""
    listed = api_get(port, token, f"/api/cases?state={state}&limit=1")["cases"]
    if not listed:
        raise BenchError(f"the demo has no case in state {state}")
    return int(listed[0]["case_id"])
