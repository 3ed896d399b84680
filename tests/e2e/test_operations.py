"""/health, /ready and /metrics: what load balancers and Prometheus ask."""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine, select

from referral.authz.enforcer import Authorizer
from referral.config import Settings
from referral.db.engine import make_engine, make_session_factory
from referral.db.tables import Notification, Timer
from referral.demo import DemoWorld
from referral.keyring import Keyring
from referral.services.uow import Runtime
from referral.workflow.machine import WorkflowEngine
from referral.workflow.schema import Workflow
from tests.conftest import TEST_KEYRING, TestClock, database_at
from tests.e2e.conftest import Browser
from tests.factories import submit

TOKEN = "scrape-me-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def served(app: Litestar, runtime: Runtime, **settings: object) -> Iterator[TestClient]:  # type: ignore[type-arg]
    before = app.state.settings, app.state.runtime
    app.state.settings = Settings(cookie_secure=True, **settings)  # type: ignore[arg-type]
    app.state.runtime = runtime
    try:
        yield TestClient(app, base_url="https://testserver.local", raise_server_exceptions=False)
    finally:
        app.state.settings, app.state.runtime = before


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition, by name and labels."""
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels} in:\n{text[-6000:]}")


def test_ready_when_the_database_is_migrated_and_keys_and_rules_are_loaded(
    shared_app: Litestar, runtime: Runtime
) -> None:
    with served(shared_app, runtime) as client:
        assert client.get("/health").json() == {"status": "ok"}
        answer = client.get("/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "failed": []}


def test_not_ready_names_each_failure_while_health_still_answers(
    shared_app: Litestar, authz: Authorizer, tmp_path: Path
) -> None:
    # A database one migration short of the head, no master key, no workflow loaded.
    with database_at(tmp_path, "0010") as engine:
        stale = Runtime(make_session_factory(engine, Keyring()), authz, {}, WorkflowEngine())
        with served(shared_app, stale) as client:
            answer = client.get("/ready")
            assert client.get("/health").status_code == 200
    assert answer.status_code == 503
    failed = answer.json()["failed"]
    assert [f.split(":")[0] for f in failed] == ["migrations", "master key", "workflows"], failed
    assert "0010" in failed[0]


def test_an_unreachable_database_is_not_ready_and_health_asks_no_database(
    shared_app: Litestar, authz: Authorizer, workflows: dict[str, Workflow], tmp_path: Path
) -> None:
    # A directory where the database file should be: nothing can open it.
    gone: Engine = make_engine(f"sqlite:///{tmp_path}")
    nowhere = Runtime(make_session_factory(gone, TEST_KEYRING), authz, workflows, WorkflowEngine())
    with served(shared_app, nowhere) as client:
        assert client.get("/health").status_code == 200
        answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["failed"] == ["database: unreachable (OperationalError)"]


@pytest.mark.parametrize(
    ("configured", "sent"),
    [(None, TOKEN), (TOKEN, None), (TOKEN, "wrong-token-0123456789"), (TOKEN, f"Basic {TOKEN}")],
)
def test_metrics_are_not_found_without_the_configured_token(
    shared_app: Litestar, runtime: Runtime, configured: str | None, sent: str | None
) -> None:
    headers = {}
    if sent is not None:
        headers["Authorization"] = sent if " " in sent else f"Bearer {sent}"
    with served(shared_app, runtime, metrics_token=configured) as client:
        answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 404
    assert "referral_" not in answer.text


def test_metrics_count_requests_by_route_template_and_decisions(
    shared_app: Litestar, runtime: Runtime, browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    coordinator = browser("coordinator")
    with served(shared_app, runtime, metrics_token=TOKEN) as client:
        before = client.get("/metrics", headers=BEARER).text
        for _ in range(3):
            assert coordinator.get(f"/cases/{case_id}?q=Planted").status_code == 200
        after = client.get("/metrics", headers=BEARER)
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    route = {"route": "/cases/{case_id}", "method": "GET", "status": "200"}
    seen_before = (
        metric(before, "referral_http_request_duration_seconds_count", **route)
        if "/cases/{case_id}" in before
        else 0
    )
    assert metric(text, "referral_http_request_duration_seconds_count", **route) == seen_before + 3
    # The raw path (with its id) and the query string never become a label.
    assert f"/cases/{case_id}" not in text
    assert "Planted" not in text
    decisions = metric(text, "referral_authz_decisions_total", outcome="allowed", cache="hit")
    assert decisions >= 3 * 5  # each case page asks about every category at least


def test_metrics_read_timers_outbox_and_audit_queue_from_the_database(
    shared_app: Litestar, runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    submit(world)  # a screening deadline (a timer), notices, audit entries queued
    with runtime.session_factory() as session:
        pending = session.scalars(select(Timer).where(Timer.state == "pending")).all()
        latest = max(t.run_after for t in pending)
        emails = session.scalars(
            select(Notification).where(Notification.email_state == "pending")
        ).all()
    assert pending and emails
    with served(shared_app, runtime, metrics_token=TOKEN) as client:
        now = client.get("/metrics", headers=BEARER).text
        clock.advance(seconds=(latest - clock()).total_seconds() + 3600)
        later = client.get("/metrics", headers=BEARER).text
    assert metric(now, "referral_audit_queued_entries") >= 1
    assert metric(now, "referral_timers_overdue") == 0
    assert metric(later, "referral_timers_due") == len(pending)
    assert metric(later, "referral_timers_overdue") == len(pending)
    assert metric(later, "referral_audit_oldest_queued_seconds") >= 3600
    assert metric(now, "referral_outbox_pending") == len(emails)
