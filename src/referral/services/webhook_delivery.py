"""The far side of the webhooks' outbox: POST the deliveries, retry, give up.

`deliver_webhooks` runs on the clock (`referral tick` / `referral worker`, after the
e-mails) as services.outbox sends e-mails, never holding a transaction open while it
talks to a partner's server:

1. claim up to a batch of due pending deliveries (FOR UPDATE SKIP LOCKED on PostgreSQL,
   so concurrent workers take different rows), count the attempt and push
   `next_attempt_at` a lease ahead, then commit; a delivery whose endpoint was disabled,
   or whose address is no longer allowed, fails there without being sent;
2. POST each, signed at this attempt (services.webhooks.sign) with the endpoint's secret,
   unsealed with the master keyring for the claim only, following no redirect;
3. settle each in a transaction of its own: sent on a 2xx; otherwise its error (the
   status, or the exception's type, never its words) and the next try after a back-off
   doubling from `retry_after`; after `max_attempts` tries, failed.

So a delivery is made at least once, and twice only if its worker dies between the POST
and recording it: receivers drop an X-Referral-Delivery they have seen.
"""

import http.client
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select, update

from referral.db.sealing import data_keys
from referral.db.tables import WebhookDelivery, WebhookEndpoint
from referral.domain.errors import InvalidInput
from referral.keyring import Keyring, webhook_secret_context
from referral.logging import get_logger
from referral.services.uow import Runtime
from referral.services.webhooks import FAILED, PENDING, SENT, SIGNATURE_HEADER, check_url, sign

if TYPE_CHECKING:
    from referral.config import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class HookRules:
    """How hard to try: from settings, or smaller in tests."""

    max_attempts: int = 6
    retry_after: timedelta = timedelta(seconds=30)  # then 1, 2, 4, 8 minutes
    batch: int = 100
    timeout: float = 10.0
    allow_http_localhost: bool = False
    # Longer than a batch takes (batch x timeout), so no other worker claims a row in flight.
    lease: timedelta = timedelta(minutes=20)

    @classmethod
    def from_settings(cls, settings: "Settings") -> "HookRules":
        return cls(
            max_attempts=settings.webhooks_max_attempts,
            retry_after=timedelta(seconds=settings.webhooks_retry_seconds),
            batch=settings.webhooks_batch,
            timeout=settings.webhooks_timeout_seconds,
            allow_http_localhost=settings.webhooks_allow_http_localhost,
        )

    def deliver(self, runtime: Runtime) -> "HookReport":
        return deliver_webhooks(runtime, runtime.clock(), self)


@dataclass
class HookReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"{self.sent} webhook(s) sent, {self.retrying} to retry, {self.failed} failed"


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    event: str
    payload: str
    url: str
    secret: str
    attempt: int


class DeliveryFailed(Exception):
    """The endpoint answered, but not with 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def deliver_webhooks(runtime: Runtime, now: datetime, rules: HookRules) -> HookReport:
    """POST up to `rules.batch` due deliveries; what became of them."""
    report = HookReport()
    for item in _claim(runtime, now, rules):
        try:
            status = _post(item, now, rules)
        except Exception as exc:  # one endpoint's failure stops no other
            _failed(runtime, item, exc, now, rules, report)
        else:
            _settle(runtime, item.delivery_id, state=SENT, last_status=status, delivered_at=now)
            report.sent += 1
    if report.sent or report.retrying or report.failed:
        log.info("webhooks_delivered", **vars(report))
    return report


def _claim(runtime: Runtime, now: datetime, rules: HookRules) -> list[_Claimed]:
    """Take the due deliveries for this worker, each a lease ahead; fail those whose
    endpoint was disabled or whose address is no longer allowed."""
    with runtime.session_factory() as session, session.begin():
        rows = session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.event,
                WebhookDelivery.payload,
                WebhookDelivery.attempts,
                WebhookEndpoint.url,
                WebhookEndpoint.active,
                WebhookEndpoint.id,
                WebhookEndpoint.secret,
                WebhookEndpoint.sealed_secret,
                WebhookEndpoint.master_key_id,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(rules.batch)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        ).all()
        claimed: list[_Claimed] = []
        keyring = data_keys(session).keyring
        for row in rows:
            delivery_id, event, payload, attempts, url, active = row[:6]
            reason = "" if active else "endpoint disabled"
            if active:
                try:
                    check_url(url, allow_http_localhost=rules.allow_http_localhost)
                except InvalidInput:
                    reason = "address no longer allowed"
            if reason:
                _update(session, delivery_id, state=FAILED, last_error=reason, next_attempt_at=None)
            else:
                secret = _secret(keyring, row[6], row[7], row[8], row[9])
                claimed.append(_Claimed(delivery_id, event, payload, url, secret, attempts + 1))
        if claimed:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([c.delivery_id for c in claimed]))
                .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + rules.lease)
                .execution_options(synchronize_session=False)
            )
    return claimed


def _secret(
    keyring: Keyring, endpoint_id: int, clear: str | None, sealed: bytes | None, master: str | None
) -> str:
    """An endpoint's signing secret: unsealed, or (only until `referral db upgrade` seals
    the rows of before migration 0023) as it was stored in clear."""
    if sealed is None or master is None:
        return clear or ""
    return keyring.unwrap(sealed, master, webhook_secret_context(endpoint_id)).decode()


def _post(item: _Claimed, now: datetime, rules: HookRules) -> int:
    """POST one delivery, signed now; the status, or DeliveryFailed. Redirects are not
    followed: a delivery goes to the registered address or nowhere."""
    parts = urlsplit(item.url)
    body = item.payload.encode()
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=rules.timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "referral-webhooks/1",
        "X-Referral-Event": item.event,
        "X-Referral-Delivery": str(item.delivery_id),
        SIGNATURE_HEADER: sign(item.secret, int(now.timestamp()), body),
    }
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(1024)
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise DeliveryFailed(response.status)
    return response.status


def _failed(
    runtime: Runtime,
    item: _Claimed,
    exc: BaseException,
    now: datetime,
    rules: HookRules,
    report: HookReport,
) -> None:
    """Record a failed try: retry after a back-off, or give up after the last attempt."""
    status = exc.status if isinstance(exc, DeliveryFailed) else None
    # The exception's type (and errno or status), never its words: they may quote the URL.
    errno = getattr(exc, "errno", None)
    error = type(exc).__name__ + (f" (errno {errno})" if errno else "")
    error = f"HTTP {status}" if status is not None else error
    if item.attempt >= rules.max_attempts:
        values: dict[str, Any] = {"state": FAILED, "next_attempt_at": None}
        report.failed += 1
    else:
        values = {"next_attempt_at": now + rules.retry_after * 2 ** (item.attempt - 1)}
        report.retrying += 1
    _settle(runtime, item.delivery_id, last_status=status, last_error=error[:200], **values)
    log.warning("webhook_failed", delivery_id=item.delivery_id, attempt=item.attempt, error=error)


def _settle(runtime: Runtime, delivery_id: int, **values: Any) -> None:
    with runtime.session_factory() as session, session.begin():
        _update(session, delivery_id, **values)


def _update(session: Any, delivery_id: int, **values: Any) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
