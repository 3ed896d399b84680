"""Invariant 9: concurrent identical moves on one case over HTTP end in one winner and
409s with a plain message, never a 500: one server process on SQLite, two on PostgreSQL.
And a burst of concurrent reads, more than the connection pool and the worker threads
hold, all answered."""

import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import Engine, func, select

from referral.config import Settings
from referral.db.tables import AuditEntry, Case
from referral.services import auth
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import make_world, submit
from tests.integration.test_worker import database, referral_env, url_of

__all__ = ["database"]  # a fixture: a database of its own, with real commits

ROUNDS = 6
RACERS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str, port: int) -> subprocess.Popen[str]:
    env = {**referral_env(url), "REFERRAL_PORT": str(port), "REFERRAL_COOKIE_SECURE": "false"}
    return subprocess.Popen(
        [sys.executable, "-m", "referral", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_up(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"the server stopped: {server.stderr.read() if server.stderr else ''}"
            )
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer within 60 s")


def case_and_token(runtime: Runtime, label: str) -> tuple[int, str]:
    """A submitted case, and an API token of the coordinator who may move it."""
    world = make_world(runtime)
    case_id = submit(world)
    with UnitOfWork(runtime) as uow:
        token = auth.issue_api_token(
            uow, world.actors["coordinator"], auth.IssueToken(label), Settings()
        )
    return case_id, token


def _race(ports: list[int], token: str, case_id: int) -> list[tuple[int, str]]:
    barrier = threading.Barrier(RACERS)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def move(i: int) -> None:
        url = f"http://127.0.0.1:{ports[i % len(ports)]}/api/cases/{case_id}/transitions"
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            response = client.post(
                url,
                json={"trigger": "start_screening"},
                headers={"Authorization": f"Bearer {token}"},
            )
        with lock:
            results.append((response.status_code, response.json().get("message", "")))

    threads = [threading.Thread(target=move, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _race_rounds(engine: Engine, runtime: Runtime, processes: int) -> None:
    world = make_world(runtime)
    case_ids = [submit(world) for _ in range(ROUNDS)]
    with UnitOfWork(runtime) as uow:
        token = auth.issue_api_token(
            uow, world.actors["coordinator"], auth.IssueToken("race"), Settings()
        )
    url = url_of(engine)
    ports = [_free_port() for _ in range(processes)]
    servers = [_serve(url, port) for port in ports]
    try:
        for port, server in zip(ports, servers, strict=True):
            _wait_until_up(port, server)
        for case_id in case_ids:
            results = _race(ports, token, case_id)
            statuses = Counter(status for status, _ in results)
            assert statuses == {200: 1, 409: RACERS - 1}, results
            for status, message in results:
                if status == 409:  # a sentence a person understands, not an exception
                    assert "cannot" in message or "changed" in message, message
    finally:
        for server in servers:
            server.terminate()
            server.communicate(timeout=30)
    with engine.connect() as connection:
        moved = connection.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.id.in_(case_ids), Case.state == "screening")
        )
        wins = connection.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.case_id.in_(case_ids),
                AuditEntry.action == "case:start_screening",
                AuditEntry.allowed.is_(True),
            )
        )
    assert moved == ROUNDS and wins == ROUNDS  # one move and one entry per case


def test_racing_moves_end_in_one_winner_and_409s_on_one_process(
    database: tuple[Engine, Runtime],
) -> None:
    engine, runtime = database
    _race_rounds(engine, runtime, processes=1)


@pytest.mark.postgres
def test_racing_moves_on_two_processes_end_in_one_winner_and_409s(
    database: tuple[Engine, Runtime],
) -> None:
    engine, runtime = database
    _race_rounds(engine, runtime, processes=2)


def test_a_burst_of_reads_larger_than_the_pool_is_all_answered(
    database: tuple[Engine, Runtime],
) -> None:
    engine, runtime = database
    case_id, token = case_and_token(runtime, "burst")
    port = _free_port()
    server = _serve(url_of(engine), port)
    statuses: list[int] = []
    lock = threading.Lock()

    def read() -> None:
        with httpx.Client(timeout=120) as client:
            response = client.get(
                f"http://127.0.0.1:{port}/api/cases/{case_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
        with lock:
            statuses.append(response.status_code)

    try:
        _wait_until_up(port, server)
        # 60 at once: more than the 40 worker threads and the 15 pooled connections.
        threads = [threading.Thread(target=read) for _ in range(60)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert Counter(statuses) == {200: 60}, log[-4000:]
