"""Webhooks: a network's partners told of events over HTTPS, through an outbox.

An administrator registers an endpoint (an HTTPS address and the EVENTS it wants) and is
shown its signing secret once. When an event happens, `enqueue` writes one delivery row
per endpoint that wants it, in the transaction of the change itself: one INSERT ...
SELECT, so the request path only writes a row and never waits on a partner's server.
The worker (`referral worker` / `referral tick`, after the e-mails) POSTs them later, as
services.outbox sends e-mails: claimed under a lease, sent without a transaction open,
settled each in its own transaction; a failure (no answer, or a status outside 2xx) is
retried after a back-off doubling from `retry_after`, and marked failed after
`max_attempts` tries.

A payload holds ids and states only, never personal data: the event, when, the network's
slug, the case number, the states (and the trigger) of a move, or the request's number,
its state and the asked organisation's number. Each POST carries

    X-Referral-Event: case.moved
    X-Referral-Delivery: 42                (the same on every retry: receivers dedupe on it)
    X-Referral-Signature: t=1765113600,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

The timestamp is that of the attempt and is signed with the body, so a receiver that
refuses a signature older than a few minutes (`verify_signature`) cannot be replayed an
old delivery. Plain http is refused except to localhost with
REFERRAL_WEBHOOKS_ALLOW_HTTP_LOCALHOST (tests, a local relay).
"""

import hashlib
import hmac
import http.client
import json
import secrets
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Table, insert, literal, select, true, update

from referral.authz.enforcer import Permission
from referral.db.base import UTCDateTime
from referral.db.tables import WebhookDelivery, WebhookEndpoint
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound
from referral.logging import get_logger
from referral.services.access import authorise, record
from referral.services.uow import Runtime, UnitOfWork

if TYPE_CHECKING:
    from referral.config import Settings

log = get_logger(__name__)

MANAGE = Permission.ADMIN_MANAGE.value

CASE_MOVED = "case.moved"
CASE_TRANSFERRED = "case.transferred"
REQUEST_ANSWERED = "information_request.answered"
EVENTS = {
    CASE_MOVED: "A case moved from one state to another.",
    CASE_TRANSFERRED: "A case was transferred: the person moved to another network.",
    REQUEST_ANSWERED: "An agency answered an information request.",
}
# A case state that `means: transferred` in its workflow file (or is so named) is a transfer.
TRANSFERRED = "transferred"

PENDING, SENT, FAILED = "pending", "sent", "failed"
LOCALHOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
SIGNATURE_HEADER = "X-Referral-Signature"
LOG_LIMIT = 50
# Why writing deliveries is not scoped to the actor: an event goes to the endpoints of the
# changed object's network, whoever changed it, a person or the system.
DELIVERIES = "deliveries go to the endpoints of the changed object's network"
WORKER = "the worker delivers the webhooks of every network"


# -- signing ------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver checks: the signature is ours, and no older than `tolerance` seconds."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# -- registration (the administrator) -----------------------------------------------------


@dataclass(frozen=True)
class RegisterEndpoint:
    url: str
    events: tuple[str, ...]
    allow_http_localhost: bool = False  # REFERRAL_WEBHOOKS_ALLOW_HTTP_LOCALHOST


@dataclass(frozen=True)
class Registered:
    endpoint_id: int
    secret: str  # shown once


def check_url(url: str, *, allow_http_localhost: bool) -> str:
    """The address, if an endpoint may have it; otherwise InvalidInput saying why."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        host, parts = "", urlsplit("")
    if not host or len(url) > 500:
        problem = "Give the endpoint's full address, e.g. https://partner.example.org/hooks."
    elif parts.username is not None or parts.password is not None:
        problem = "Leave credentials out of the address: deliveries are signed instead."
    elif parts.scheme == "https" or (
        parts.scheme == "http" and allow_http_localhost and host in LOCALHOSTS
    ):
        return url
    else:
        problem = "The address must start with https:// (plain http only to localhost, if set)."
    raise InvalidInput(problem, {"url": problem})


def register_endpoint(uow: UnitOfWork, actor: Actor, command: RegisterEndpoint) -> Registered:
    """Register an endpoint of the actor's network; its secret, shown once. Audited."""
    decision = authorise(uow, actor, MANAGE, None)
    problems: dict[str, str] = {}
    try:
        url = check_url(command.url, allow_http_localhost=command.allow_http_localhost)
    except InvalidInput as exc:
        problems.update(exc.errors)
    events = sorted(set(command.events))
    if not events or any(event not in EVENTS for event in events):
        problems["events"] = "Choose at least one of the listed events."
    if problems:  # every field's problem at once, each beside its field
        raise InvalidInput(" ".join(problems.values()), problems)
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        network_id=actor.network_id,
        url=url,
        events="," + ",".join(events) + ",",
        secret=secret,
        active=True,
        created_at=uow.now,
        created_by=actor.user_id,
    )
    uow.scoped(actor).add(endpoint)
    uow.flush()
    uow.audit(
        record(
            actor,
            "admin:webhook_register",
            decision,
            target=f"webhook:{endpoint.id}",
            change={"events": events, "host": urlsplit(url).hostname},
        )
    )
    uow.commit()
    log.info("webhook_registered", endpoint_id=endpoint.id)
    return Registered(endpoint.id, secret)


def disable_endpoint(uow: UnitOfWork, actor: Actor, endpoint_id: int) -> None:
    """Stop telling an endpoint anything; its pending deliveries fail. Audited."""
    decision = authorise(uow, actor, MANAGE, None)
    scope = uow.scoped(actor)
    endpoint = scope.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    endpoint.active = False
    uow.audit(record(actor, "admin:webhook_disable", decision, target=f"webhook:{endpoint_id}"))
    uow.commit()


@dataclass(frozen=True)
class EndpointRow:
    id: int
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    endpoint_id: int
    event: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class Overview:
    endpoints: list[EndpointRow]
    deliveries: list[DeliveryRow]  # the newest LOG_LIMIT, newest first


def overview(uow: UnitOfWork, actor: Actor) -> Overview:
    """The network's endpoints and its latest deliveries, for the administrator."""
    authorise(uow, actor, MANAGE, None)
    scope = uow.scoped(actor)
    endpoints = [
        EndpointRow(e.id, e.url, tuple(e.events.strip(",").split(",")), e.active, e.created_at)
        for e in scope.scalars(scope.select(WebhookEndpoint).order_by(WebhookEndpoint.id))
    ]
    names = [f.name for f in fields(DeliveryRow)]
    columns = [getattr(WebhookDelivery, name) for name in names]
    rows = scope.execute(
        scope.select(*columns).order_by(WebhookDelivery.id.desc()).limit(LOG_LIMIT)
    )
    return Overview(endpoints, [DeliveryRow(*row) for row in rows])


# -- the request path: enqueue in the change's transaction --------------------------------

_DELIVERY_COLUMNS = (
    "network_id", "endpoint_id", "event", "payload", "created_at", "state", "attempts",
    "next_attempt_at", "last_error",
)  # fmt: skip


def enqueue(uow: UnitOfWork, network_id: int, event: str, payload: dict[str, Any]) -> None:
    """A delivery for each active endpoint of the network that wants `event`: one INSERT
    ... SELECT in the caller's transaction (no endpoint wanting it: no row, no round trip
    more than the statement)."""
    body = json.dumps({"event": event, "occurred_at": uow.now.isoformat(), **payload})
    chosen = select(
        WebhookEndpoint.network_id,
        WebhookEndpoint.id,
        literal(event),
        literal(body),
        literal(uow.now, UTCDateTime),
        literal(PENDING),
        literal(0),
        literal(uow.now, UTCDateTime),
        literal(""),
    ).where(
        WebhookEndpoint.network_id == network_id,
        WebhookEndpoint.active == true(),
        WebhookEndpoint.events.contains(f",{event},", autoescape=True),
    )
    table: Table = WebhookDelivery.__table__  # type: ignore[assignment]
    uow.unscoped(DELIVERIES).execute(insert(table).from_select(_DELIVERY_COLUMNS, chosen))


def case_moved(
    uow: UnitOfWork,
    case_id: int,
    network_id: int,
    network: str,
    trigger: str,
    from_state: str,
    to_state: str,
    *,
    transfer: bool,
) -> None:
    """The events of a case's move (services.flow.fire_case)."""
    payload = {
        "network": network,
        "case_id": case_id,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
    }
    enqueue(uow, network_id, CASE_MOVED, payload)
    if transfer:
        enqueue(uow, network_id, CASE_TRANSFERRED, payload)


def request_answered(
    uow: UnitOfWork, network_id: int, network: str, case_id: int | None, request: Any
) -> None:
    """The event of an information request's answer (services.flow.fire_linked)."""
    payload = {
        "network": network,
        "case_id": case_id,
        "information_request_id": request.id,
        "organisation_id": request.organisation_id,
        "state": request.state,
    }
    enqueue(uow, network_id, REQUEST_ANSWERED, payload)


# -- the worker: deliver, retry, give up --------------------------------------------------


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
                WebhookEndpoint.secret,
                WebhookEndpoint.active,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(rules.batch)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        ).all()
        claimed: list[_Claimed] = []
        for delivery_id, event, payload, attempts, url, secret, active in rows:
            reason = "" if active else "endpoint disabled"
            if active:
                try:
                    check_url(url, allow_http_localhost=rules.allow_http_localhost)
                except InvalidInput:
                    reason = "address no longer allowed"
            if reason:
                _update(session, delivery_id, state=FAILED, last_error=reason, next_attempt_at=None)
            else:
                claimed.append(_Claimed(delivery_id, event, payload, url, secret, attempts + 1))
        if claimed:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([c.delivery_id for c in claimed]))
                .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + rules.lease)
                .execution_options(synchronize_session=False)
            )
    return claimed


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
