"""Webhooks: enqueued in the change's transaction, delivered by the worker to a real local
HTTP server, signed, retried with back-off after a failure; ids and states only."""

import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update

from referral.db.engine import make_session_factory
from referral.db.legacy import seal_webhook_secrets
from referral.db.rotation import master_key_use, rotate_webhook_secrets
from referral.db.tables import WebhookDelivery, WebhookEndpoint
from referral.domain.errors import ConfigurationError, InvalidInput, PermissionDenied
from referral.domain.vocabulary import OrgKind
from referral.keyring import Keyring, new_master_key, webhook_secret_context
from referral.services import information, lifecycle
from referral.services.access import visible_case
from referral.services.flow import fire_case
from referral.services.timers import ClockRules, tick
from referral.services.uow import Runtime, UnitOfWork
from referral.services.webhook_delivery import HookRules, deliver_webhooks
from referral.services.webhooks import (
    CASE_MOVED,
    CASE_TRANSFERRED,
    FAILED,
    PENDING,
    REQUEST_ANSWERED,
    SENT,
    RegisterEndpoint,
    register_endpoint,
    verify_signature,
)
from tests.conftest import TEST_KEYRING, TEST_MASTER_KEYS, TestClock
from tests.factories import make_world, submit, to_information_gathering

NEW_KEY = f"k2:{new_master_key()}"
RULES = HookRules(max_attempts=3, retry_after=timedelta(seconds=30), allow_http_localhost=True)


@dataclass
class Receiver:
    """A partner's endpoint: answers each POST with the next status of `statuses` (200
    once they run out) and keeps what it was sent."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers.items()), body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks?network=demo"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _register(world: Any, url: str, *events: str) -> str:
    command = RegisterEndpoint(url, events, allow_http_localhost=True)
    return str(world.run("admin", register_endpoint, command).secret)


def _deliveries(runtime: Runtime) -> list[WebhookDelivery]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_a_move_is_delivered_signed_after_a_failed_try(
    runtime: Runtime, clock: TestClock, receiver: Receiver
) -> None:
    world = make_world(runtime)
    secret = _register(world, receiver.url, CASE_MOVED)
    case_id = submit(world)

    # The move only wrote the row: nothing was sent on the request path.
    (queued,) = _deliveries(runtime)
    assert (queued.event, queued.state, queued.attempts) == (CASE_MOVED, PENDING, 0)
    assert receiver.received == []

    receiver.statuses = [503]
    report = deliver_webhooks(runtime, clock(), RULES)
    assert (report.sent, report.retrying) == (0, 1)
    (retrying,) = _deliveries(runtime)
    assert (retrying.state, retrying.attempts, retrying.last_status) == (PENDING, 1, 503)
    assert retrying.next_attempt_at == clock() + timedelta(seconds=30)
    # Not due again before its back-off is over.
    assert deliver_webhooks(runtime, clock(), RULES).sent == 0
    assert len(receiver.received) == 1

    clock.advance(seconds=30)
    assert deliver_webhooks(runtime, clock(), RULES).sent == 1
    (sent,) = _deliveries(runtime)
    assert (sent.state, sent.attempts, sent.last_status) == (SENT, 2, 200)

    headers, body = receiver.received[-1]
    now = int(clock().timestamp())
    assert verify_signature(secret, headers["X-Referral-Signature"], body, now)
    assert not verify_signature("whsec_other", headers["X-Referral-Signature"], body, now)
    assert not verify_signature(secret, headers["X-Referral-Signature"], body + b" ", now)
    # An old signature is refused: a captured delivery cannot be replayed later.
    assert not verify_signature(secret, headers["X-Referral-Signature"], body, now + 301)
    assert headers["X-Referral-Event"] == CASE_MOVED
    assert headers["X-Referral-Delivery"] == str(sent.id)
    payload = json.loads(body)
    assert set(payload) == {
        "event", "occurred_at", "network", "case_id", "trigger", "from_state", "to_state"
    }  # fmt: skip
    assert payload["case_id"] == case_id and payload["to_state"] == "submitted"
    assert b"Fixture" not in body and b"MARK" not in body


def test_a_delivery_is_given_up_after_its_last_attempt(
    runtime: Runtime, clock: TestClock, receiver: Receiver
) -> None:
    world = make_world(runtime)
    _register(world, receiver.url, CASE_MOVED)
    submit(world)
    receiver.statuses = [500, 500, 500]
    for wait in (0, 30, 60):  # through the clock's tick, as `referral worker` runs it
        clock.advance(seconds=wait)
        tick(runtime, ClockRules(hooks=RULES))
    (failed,) = _deliveries(runtime)
    assert (failed.state, failed.attempts, failed.last_error) == (FAILED, 3, "HTTP 500")
    assert failed.next_attempt_at is None


def test_answers_and_transfers_are_events_of_their_own(runtime: Runtime) -> None:
    world = make_world(runtime)
    _register(world, "http://localhost:9/answers", REQUEST_ANSWERED, CASE_TRANSFERRED)
    case_id = to_information_gathering(world)
    assert _deliveries(runtime) == []  # moves, but no endpoint wants them
    (request_id,) = world.run(
        "coordinator",
        information.send_information_requests,
        information.SendInformationRequests(case_id, (world.org_ids[OrgKind.HEALTH],), "Q?"),
    )
    world.run("coordinator", information.record_answer, information.RecordAnswer(request_id, "A"))
    world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "transfer"))
    answered, transferred = _deliveries(runtime)
    assert answered.event == REQUEST_ANSWERED
    assert json.loads(answered.payload)["information_request_id"] == request_id
    assert json.loads(answered.payload)["state"] == "answered"
    assert transferred.event == CASE_TRANSFERRED
    assert json.loads(transferred.payload)["to_state"] == "transferred"


def test_endpoints_must_be_https_and_registered_by_an_admin(runtime: Runtime) -> None:
    world = make_world(runtime)
    refused = (
        "http://partner.example.org/h",
        "ftp://x/h",
        "https://u:p@partner.example.org/",
        "https://partner.example.org/a b",
        "https://partner.example.org:port/",
    )
    for url in refused:
        with pytest.raises(InvalidInput):
            world.run("admin", register_endpoint, RegisterEndpoint(url, (CASE_MOVED,)))
    with pytest.raises(InvalidInput):  # localhost over http needs the setting
        world.run("admin", register_endpoint, RegisterEndpoint("http://127.0.0.1/h", (CASE_MOVED,)))
    with pytest.raises(InvalidInput):
        world.run("admin", register_endpoint, RegisterEndpoint("https://p.example/", ("nope",)))
    with pytest.raises(PermissionDenied):
        world.run(
            "coordinator", register_endpoint, RegisterEndpoint("https://p.example/", (CASE_MOVED,))
        )
    world.run("admin", register_endpoint, RegisterEndpoint("https://p.example/", (CASE_MOVED,)))


def test_a_moves_deliveries_commit_with_it_or_not_at_all(runtime: Runtime) -> None:
    world = make_world(runtime)
    _register(world, "https://partner.example.org/h", CASE_MOVED, CASE_TRANSFERRED)
    case_id = submit(world)
    coordinator = world.actors["coordinator"]
    with UnitOfWork(runtime) as uow:
        case, facts = visible_case(uow, coordinator, case_id)
        fire_case(uow, coordinator, case, facts, "transfer")
        queued = uow.session.scalars(select(WebhookDelivery.event)).all()
        assert sorted(queued) == [CASE_MOVED, CASE_MOVED, CASE_TRANSFERRED]
        # Left without a commit: the move rolls back, and its deliveries with it.
    assert [d.event for d in _deliveries(runtime)] == [CASE_MOVED]  # the submission's only
    with pytest.raises(PermissionDenied):
        world.run("referrer", lifecycle.move_case, lifecycle.MoveCase(case_id, "transfer"))
    assert len(_deliveries(runtime)) == 1


def _endpoint(runtime: Runtime) -> WebhookEndpoint:
    with runtime.session_factory() as session:
        row = session.scalars(select(WebhookEndpoint)).one()
        session.expunge(row)
        return row


def test_secrets_are_stored_sealed_and_deliveries_still_verify_after_rotation(
    runtime: Runtime, clock: TestClock, receiver: Receiver
) -> None:
    world = make_world(runtime)
    secret = _register(world, receiver.url, CASE_MOVED)
    stored = _endpoint(runtime)
    assert stored.secret is None and stored.sealed_secret is not None
    assert secret.encode() not in stored.sealed_secret
    assert stored.master_key_id == TEST_KEYRING.current_id
    # Bound to its endpoint: the sealed value opens for no other endpoint's id.
    with pytest.raises(ConfigurationError):
        TEST_KEYRING.unwrap(
            stored.sealed_secret, stored.master_key_id, webhook_secret_context(stored.id + 1)
        )

    # A new master key, current: rotation re-wraps the secret; the old key may go.
    both = Keyring.from_config(f"{TEST_MASTER_KEYS},{NEW_KEY}", "k2")
    with runtime.session_factory() as session, session.begin():
        assert rotate_webhook_secrets(session, both) == 1
        assert rotate_webhook_secrets(session, both) == 0
        assert master_key_use(session).get("k2") == 1
    rewrapped = _endpoint(runtime)
    assert rewrapped.master_key_id == "k2" and rewrapped.sealed_secret != stored.sealed_secret

    only_new = Keyring.from_config(NEW_KEY, None)
    engine = runtime.session_factory.kw["bind"]
    rotated = dataclasses.replace(runtime, session_factory=make_session_factory(engine, only_new))
    submit(world)
    assert deliver_webhooks(rotated, clock(), RULES).sent == 1
    headers, body = receiver.received[-1]
    assert verify_signature(secret, headers["X-Referral-Signature"], body, int(clock().timestamp()))


def test_db_upgrade_seals_the_secrets_stored_in_clear_before_0023(
    runtime: Runtime, clock: TestClock, receiver: Receiver
) -> None:
    world = make_world(runtime)
    _register(world, receiver.url, CASE_MOVED)
    legacy = "whsec_stored-in-clear-before-migration-0023"
    with runtime.session_factory() as session, session.begin():
        session.execute(
            update(WebhookEndpoint).values(secret=legacy, sealed_secret=None, master_key_id=None)
        )
    submit(world)
    # Not sealed yet (`db upgrade` has not run): the worker still signs with it.
    assert deliver_webhooks(runtime, clock(), RULES).sent == 1
    headers, body = receiver.received[-1]
    now = int(clock().timestamp())
    assert verify_signature(legacy, headers["X-Referral-Signature"], body, now)

    connection = runtime.session_factory.kw["bind"]
    with pytest.raises(ConfigurationError, match="1 webhook secrets are stored in clear"):
        seal_webhook_secrets(connection, Keyring())
    assert seal_webhook_secrets(connection, TEST_KEYRING) == 1
    assert seal_webhook_secrets(connection, TEST_KEYRING) == 0
    sealed = _endpoint(runtime)
    assert sealed.secret is None and sealed.sealed_secret is not None
    assert legacy.encode() not in sealed.sealed_secret
    submit(world)
    assert deliver_webhooks(runtime, clock(), RULES).sent == 1
    headers, body = receiver.received[-1]
    assert verify_signature(legacy, headers["X-Referral-Signature"], body, now)
