"""E-mail delivery against a real SMTP server (aiosmtpd) started by the test: who gets
what, a link and nothing personal, each once; retries with back-off, then failed."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select, text, update

from referral.config import Settings
from referral.db.engine import make_session_factory
from referral.db.tables import Notification, User
from referral.demo import DemoWorld
from referral.mail import SmtpMailer
from referral.services import notifications, screening
from referral.services.outbox import DeliveryReport, DeliveryRules, Mailroom, deliver_emails
from referral.services.timers import ClockRules, tick
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING, TestClock
from tests.factories import make_world, submit
from tests.integration.test_notifications import PERSONAL
from tests.integration.test_worker import database, referral_env, url_of

__all__ = ["database"]  # a fixture: a database of its own, with real commits

BASE_URL = "https://referral.example.org"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses the addresses it is told."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    port: int = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.received if rcpt == [address]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox(port=free_port())
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def mailer(port: int) -> SmtpMailer:
    return SmtpMailer(
        host="127.0.0.1", port=port, sender="referral@demo.invalid", base_url=BASE_URL, timeout=5
    )


def rows(runtime: Runtime) -> list[Notification]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def email_of(runtime: Runtime, user_id: int) -> str:
    with runtime.session_factory() as session:
        return str(session.scalar(select(User.email).where(User.id == user_id)))


def screened(world: DemoWorld) -> int:
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    return case_id


def test_due_emails_go_once_each_to_their_people_with_a_link_and_nothing_personal(
    runtime: Runtime, world: DemoWorld, clock: TestClock, inbox: Inbox
) -> None:
    case_id = screened(world)  # coordinator and referrer told of the submission, referrer again
    pending = rows(runtime)
    assert [n.email_state for n in pending] == ["pending"] * 3
    report = deliver_emails(runtime, mailer(inbox.port), clock())
    assert report == DeliveryReport(sent=3)
    expected = sorted(email_of(runtime, n.user_id) for n in pending)
    assert sorted(rcpt[0] for rcpt, _ in inbox.received) == expected
    assert len(inbox.to("referrer@demo.invalid")) == 2
    for rcpt, message in inbox.received:
        assert message["To"] == rcpt[0]
        assert message["From"] == "referral@demo.invalid"
        assert message["Subject"] == f"referral: an update on case #{case_id}"
        body = message.get_content()
        assert f"{BASE_URL}/cases/{case_id}" in body.splitlines()
        whole = message.as_string()
        for marker in (*PERSONAL, "Riley", "Casey", "screened", "received"):
            assert marker not in whole, marker
    sent = rows(runtime)
    assert {(n.email_state, n.attempts, n.emailed_at) for n in sent} == {("sent", 1, clock())}
    # Delivering again sends nothing twice.
    clock.advance(hours=1)
    assert deliver_emails(runtime, mailer(inbox.port), clock()) == DeliveryReport()
    assert len(inbox.received) == 3


def test_a_refused_connection_backs_off_then_the_email_is_failed_after_the_last_try(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    submit(world)
    closed = mailer(free_port())  # nothing listens there
    rules = DeliveryRules(max_attempts=3, retry_after=timedelta(minutes=1))
    start = clock()
    assert deliver_emails(runtime, closed, clock(), rules) == DeliveryReport(retrying=2)
    for notice in rows(runtime):
        assert notice.email_state == "pending"
        assert notice.attempts == 1
        assert notice.last_error.startswith("ConnectionRefusedError")
        assert notice.next_attempt_at == start + timedelta(minutes=1)
    # Not due again until the back-off has passed.
    assert deliver_emails(runtime, closed, clock(), rules) == DeliveryReport()
    clock.advance(minutes=1)
    assert deliver_emails(runtime, closed, clock(), rules) == DeliveryReport(retrying=2)
    assert {n.next_attempt_at for n in rows(runtime)} == {clock() + timedelta(minutes=2)}
    clock.advance(minutes=2, seconds=-1)
    assert deliver_emails(runtime, closed, clock(), rules) == DeliveryReport()
    clock.advance(seconds=1)
    assert deliver_emails(runtime, closed, clock(), rules) == DeliveryReport(failed=2)
    failed = rows(runtime)
    assert {(n.email_state, n.attempts, n.next_attempt_at) for n in failed} == {("failed", 3, None)}
    clock.advance(days=30)
    assert deliver_emails(runtime, closed, clock(), rules) == DeliveryReport()


def test_a_refused_recipient_is_retried_alone_and_its_error_quotes_no_address(
    runtime: Runtime, world: DemoWorld, clock: TestClock, inbox: Inbox
) -> None:
    submit(world)
    inbox.refuse = {"referrer@demo.invalid"}
    report = deliver_emails(runtime, mailer(inbox.port), clock())
    assert report == DeliveryReport(sent=1, retrying=1)
    referrer_row = next(n for n in rows(runtime) if n.email_state == "pending")
    assert referrer_row.last_error == "SMTPRecipientsRefused (SMTP 550)"
    inbox.refuse = set()
    clock.advance(minutes=1)
    assert deliver_emails(runtime, mailer(inbox.port), clock()) == DeliveryReport(sent=1)
    assert len(inbox.to("referrer@demo.invalid")) == 1
    assert len(inbox.to("coordinator@demo.invalid")) == 1


def test_an_address_that_cannot_be_written_fails_alone(
    runtime: Runtime, world: DemoWorld, clock: TestClock, inbox: Inbox
) -> None:
    submit(world)
    with runtime.session_factory() as session, session.begin():
        bad = "coordinator@demo.invalid\nBcc: someone@example.org"
        session.execute(update(User).where(User.username == "coordinator").values(email=bad))
    assert deliver_emails(runtime, mailer(inbox.port), clock()) == DeliveryReport(
        sent=1, retrying=1
    )
    assert [rcpt for rcpt, _ in inbox.received] == [["referrer@demo.invalid"]]
    assert {n.last_error for n in rows(runtime)} == {"", "ValueError"}


def test_notices_read_in_the_app_and_people_without_address_get_no_email(
    runtime: Runtime, world: DemoWorld, clock: TestClock, inbox: Inbox
) -> None:
    submit(world)
    with UnitOfWork(runtime) as uow:
        notifications.mark_read(uow, world.actors["coordinator"], notifications.MarkRead())
    with runtime.session_factory() as session, session.begin():
        session.execute(update(User).where(User.username == "referrer").values(email=" "))
    assert deliver_emails(runtime, mailer(inbox.port), clock()) == DeliveryReport(skipped=2)
    assert inbox.received == []
    assert {(n.email_state, n.last_error) for n in rows(runtime)} == {
        ("skipped", "read in the app first"),
        ("skipped", "no e-mail address"),
    }


def test_with_email_off_pending_emails_wait_untouched(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    submit(world)
    assert deliver_emails(runtime, None, clock()) == DeliveryReport()
    assert {(n.email_state, n.attempts) for n in rows(runtime)} == {("pending", 0)}


def test_the_mailer_comes_from_settings_and_is_off_without_a_host() -> None:
    assert SmtpMailer.from_settings(Settings(smtp_host=" ")) is None
    configured = SmtpMailer.from_settings(
        Settings(
            smtp_host="mail.example.org",
            smtp_port=2525,
            smtp_username="referral",
            smtp_password="secret",  # type: ignore[arg-type]
            mail_from="noreply@example.org",
            public_base_url="https://referral.example.org/",
        )
    )
    assert configured == SmtpMailer(
        host="mail.example.org",
        port=2525,
        starttls=True,
        username="referral",
        password="secret",
        sender="noreply@example.org",
        base_url="https://referral.example.org",
    )
    message = configured.compose("someone@example.org", None, "/meetings/3")
    assert message["Subject"] == "referral: an update for you"
    assert "https://referral.example.org/meetings/3\n" in message.get_content()
    with pytest.raises(ValueError, match="address people use"):
        Settings(public_base_url="referral.example.org")


@pytest.mark.postgres
def test_emails_another_worker_has_claimed_are_passed_by_not_waited_for(
    fresh_database: Any, authz: Any, workflows: Any, inbox: Inbox
) -> None:
    engine: Engine = fresh_database()
    clock = TestClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    factory = make_session_factory(engine, TEST_KEYRING)
    runtime = Runtime(factory, authz, workflows, WorkflowEngine(), clock)
    submit(make_world(runtime))
    first, second = (n.id for n in rows(runtime))
    with engine.connect() as other_worker, other_worker.begin():
        other_worker.execute(
            text("SELECT id FROM notifications WHERE id = :id FOR UPDATE"), {"id": first}
        )
        assert deliver_emails(runtime, mailer(inbox.port), clock()) == DeliveryReport(sent=1)
    assert {n.id: n.email_state for n in rows(runtime)} == {first: "pending", second: "sent"}
    assert deliver_emails(runtime, mailer(inbox.port), clock()) == DeliveryReport(sent=1)
    assert len(inbox.received) == 2


# -- on the clock: `referral tick` and `referral worker` send them ---------------------------


def test_a_clock_tick_sends_the_due_emails_after_the_timers(
    runtime: Runtime, world: DemoWorld, clock: TestClock, inbox: Inbox
) -> None:
    screened(world)
    assert tick(runtime, ClockRules(drift_days=0)).handled == 0
    assert inbox.received == []  # e-mail off: no mail room
    rules = ClockRules(drift_days=0, mail=Mailroom(mailer(inbox.port)))
    tick(runtime, rules)
    assert len(inbox.received) == 3
    tick(runtime, rules)
    assert len(inbox.received) == 3


def test_the_clock_takes_its_mail_room_from_the_smtp_settings() -> None:
    assert ClockRules.from_settings(Settings(smtp_host=None), ()).mail is None
    settings = Settings(smtp_host="127.0.0.1", smtp_port=2525, mail_max_attempts=2)
    mail = ClockRules.from_settings(settings, ()).mail
    assert mail is not None
    assert (mail.mailer.port, mail.rules.max_attempts) == (2525, 2)


def test_referral_tick_as_a_process_sends_the_due_emails(
    database: tuple[Engine, Runtime], inbox: Inbox
) -> None:
    engine, runtime = database
    screened(make_world(runtime))
    env = {
        **referral_env(url_of(engine)),
        "REFERRAL_SMTP_HOST": "127.0.0.1",
        "REFERRAL_SMTP_PORT": str(inbox.port),
        "REFERRAL_SMTP_STARTTLS": "false",
        "REFERRAL_MAIL_FROM": "referral@demo.invalid",
        "REFERRAL_PUBLIC_BASE_URL": BASE_URL,
    }
    result = subprocess.run(
        [sys.executable, "-m", "referral", "tick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(rcpt[0] for rcpt, _ in inbox.received) == [
        "coordinator@demo.invalid",
        "referrer@demo.invalid",
        "referrer@demo.invalid",
    ]
    assert {n.email_state for n in rows(runtime)} == {"sent"}
