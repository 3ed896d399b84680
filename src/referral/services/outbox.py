"""The far side of the outbox: send the e-mails of notices, retry, give up.

`deliver_emails` runs on the clock (`referral tick` / `referral worker`, after the timers)
in short transactions, never holding a lock while it talks to the SMTP server:

1. claim up to a batch of due pending e-mails (FOR UPDATE SKIP LOCKED on PostgreSQL, as the
   clock claims timers, so concurrent workers take different rows), count the attempt and
   push `next_attempt_at` a lease ahead, then commit: other workers now pass them by, and
   those of a worker killed mid-send are tried again once the lease runs out;
2. send them over one SMTP session;
3. settle each, in a transaction of its own: sent; or its error (the exception's type and
   SMTP code, never the server's words, which may quote the address) and the next try
   after a back-off doubling from `retry_after`; after `max_attempts` tries, failed.

So an e-mail is sent at least once, and twice only if its worker dies between sending it
and recording it. A notice already read in the app is not e-mailed (skipped), nor one
whose person has no address. With e-mail off (no mailer) nothing is touched: pending
e-mails wait until it is turned on.
"""

import smtplib
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from referral.db.tables import Notification, User
from referral.logging import get_logger
from referral.mail import SmtpMailer, error_text
from referral.services.notifications import FAILED, PENDING, SENT, SKIPPED
from referral.services.uow import Runtime

if TYPE_CHECKING:
    from referral.config import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class DeliveryRules:
    """How hard to try: from settings, or smaller in tests."""

    max_attempts: int = 5
    retry_after: timedelta = timedelta(minutes=1)  # then 2, 4, 8 minutes
    batch: int = 100
    # Longer than any batch takes to send, so no other worker claims a row in flight.
    lease: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: "Settings") -> "DeliveryRules":
        return cls(
            max_attempts=settings.mail_max_attempts,
            retry_after=timedelta(seconds=settings.mail_retry_seconds),
            batch=settings.mail_batch,
        )


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other: "DeliveryReport") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def __str__(self) -> str:
        return (
            f"{self.sent} e-mail(s) sent, {self.retrying} to retry, "
            f"{self.failed} failed, {self.skipped} skipped"
        )


@dataclass(frozen=True)
class Claimed:
    """One e-mail in flight: its notice, its address, and the attempt this is."""

    notification_id: int
    to: str
    case_id: int | None
    link: str
    attempt: int


@dataclass(frozen=True)
class Mailroom:
    """The clock's e-mail round (services.timers.tick): the mailer and how hard to try."""

    mailer: SmtpMailer
    rules: DeliveryRules = DeliveryRules()

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Mailroom | None":
        """None when e-mail is off (no REFERRAL_SMTP_HOST)."""
        mailer = SmtpMailer.from_settings(settings)
        return cls(mailer, DeliveryRules.from_settings(settings)) if mailer else None

    def deliver(self, runtime: Runtime) -> DeliveryReport:
        return deliver_emails(runtime, self.mailer, runtime.clock(), self.rules)


def deliver_emails(
    runtime: Runtime,
    mailer: SmtpMailer | None,
    now: datetime,
    rules: DeliveryRules = DeliveryRules(),
) -> DeliveryReport:
    """Send up to `rules.batch` due e-mails; what became of them."""
    report = DeliveryReport()
    if mailer is None:
        return report
    claimed, report.skipped = _claim(runtime, now, rules)
    unsettled = {c.notification_id: c for c in claimed}
    try:
        if claimed:
            with mailer.connect() as smtp:
                for item in claimed:
                    try:
                        smtp.send_message(mailer.compose(item.to, item.case_id, item.link))
                    except Exception as exc:  # one bad e-mail (address, server) stops no other
                        _failed(runtime, item, exc, now, rules, report)
                    else:
                        _settle(runtime, item.notification_id, email_state=SENT, emailed_at=now)
                        report.sent += 1
                    del unsettled[item.notification_id]
    except (smtplib.SMTPException, OSError) as exc:  # no session: this try failed for all
        for item in unsettled.values():
            _failed(runtime, item, exc, now, rules, report)
    if claimed or report.skipped:
        log.info("emails_delivered", **{f.name: getattr(report, f.name) for f in fields(report)})
    return report


def _claim(runtime: Runtime, now: datetime, rules: DeliveryRules) -> tuple[list[Claimed], int]:
    """Take the due e-mails for this worker; skip those nobody needs. (claimed, skipped)"""
    with runtime.session_factory() as session, session.begin():
        rows = session.execute(
            select(
                Notification.id,
                Notification.case_id,
                Notification.link,
                Notification.attempts,
                Notification.read_at,
                User.email,
            )
            .join(User, User.id == Notification.user_id)
            .where(Notification.email_state == PENDING, Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(rules.batch)
            .with_for_update(of=Notification, skip_locked=True)
        ).all()
        claimed: list[Claimed] = []
        skipped: dict[int, str] = {}
        for notice_id, case_id, link, attempts, read_at, email in rows:
            if read_at is not None:
                skipped[notice_id] = "read in the app first"
            elif not email.strip():
                skipped[notice_id] = "no e-mail address"
            else:
                claimed.append(Claimed(notice_id, email.strip(), case_id, link, attempts + 1))
        for notice_id, reason in skipped.items():
            _update(session, notice_id, email_state=SKIPPED, last_error=reason)
        if claimed:
            session.execute(
                update(Notification)
                .where(Notification.id.in_([c.notification_id for c in claimed]))
                .values(attempts=Notification.attempts + 1, next_attempt_at=now + rules.lease)
                .execution_options(synchronize_session=False)
            )
    return claimed, len(skipped)


def _failed(
    runtime: Runtime,
    item: Claimed,
    exc: BaseException,
    now: datetime,
    rules: DeliveryRules,
    report: DeliveryReport,
) -> None:
    """Record a failed try: retry after a back-off, or give up after the last attempt."""
    error = error_text(exc)
    if item.attempt >= rules.max_attempts:
        values: dict[str, Any] = {"email_state": FAILED, "next_attempt_at": None}
        report.failed += 1
    else:
        values = {"next_attempt_at": now + rules.retry_after * 2 ** (item.attempt - 1)}
        report.retrying += 1
    _settle(runtime, item.notification_id, last_error=error, **values)
    log.warning(
        "email_failed",
        notification_id=item.notification_id,
        attempt=item.attempt,
        error=type(exc).__name__,
    )


def _settle(runtime: Runtime, notification_id: int, **values: Any) -> None:
    with runtime.session_factory() as session, session.begin():
        _update(session, notification_id, **values)


def _update(session: Any, notification_id: int, **values: Any) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.email_state == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
