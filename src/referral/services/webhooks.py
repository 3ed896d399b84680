"""Webhooks: a network's partners told of events over HTTPS, through an outbox.

An administrator registers an endpoint (an HTTPS address and the EVENTS it wants) and is
shown its signing secret once; it is kept only sealed with the current master key (bound
to the endpoint's id) and opened by the worker when it signs. When an event happens,
`enqueue` writes one delivery row per endpoint that wants it, in the transaction of the
change itself: one INSERT ... SELECT, so the request path only writes a row and never
waits on a partner's server.
The worker POSTs them later (services.webhook_delivery), with retries and back-off.

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
import json
import secrets
import time
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Table, insert, literal, select, true

from referral.authz.enforcer import Permission
from referral.db.base import UTCDateTime
from referral.db.sealing import data_keys
from referral.db.tables import WebhookDelivery, WebhookEndpoint
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound
from referral.i18n import N_
from referral.keyring import webhook_secret_context
from referral.logging import get_logger
from referral.services.access import authorise, record
from referral.services.uow import UnitOfWork

if TYPE_CHECKING:
    pass

log = get_logger(__name__)

MANAGE = Permission.ADMIN_MANAGE.value

CASE_MOVED = "case.moved"
CASE_TRANSFERRED = "case.transferred"
CASE_TRANSFER_PROPOSED = "case.transfer_proposed"
REQUEST_ANSWERED = "information_request.answered"
EVENTS = {
    CASE_MOVED: N_("A case moved from one state to another."),
    CASE_TRANSFERRED: N_("A case was transferred: the person moved to another network."),
    CASE_TRANSFER_PROPOSED: N_("A coordinator proposed handing a case over to another network."),
    REQUEST_ANSWERED: N_("An agency answered an information request."),
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
    if any(c.isspace() or not c.isprintable() for c in url):
        url = ""  # an address with spaces or control characters is no address
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        host, parts = "", urlsplit("")
    if not host or len(url) > 500:
        problem = N_("Give the endpoint's full address, e.g. https://partner.example.org/hooks.")
    elif parts.username is not None or parts.password is not None:
        problem = N_("Leave credentials out of the address: deliveries are signed instead.")
    elif parts.scheme == "https" or (
        parts.scheme == "http" and allow_http_localhost and host in LOCALHOSTS
    ):
        return url
    else:
        problem = N_("The address must start with https:// (plain http only to localhost, if set).")
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
        problems["events"] = N_("Choose at least one of the listed events.")
    if problems:  # every field's problem at once, each beside its field
        listed = " ".join(problems.values())  # each problem is a sentence of its own
        raise InvalidInput(listed, problems)
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        network_id=actor.network_id,
        url=url,
        events="," + ",".join(events) + ",",
        active=True,
        created_at=uow.now,
        created_by=actor.user_id,
    )
    uow.scoped(actor).add(endpoint)
    uow.flush()  # the id, which the sealed secret is bound to
    keyring = data_keys(uow.unscoped(DELIVERIES)).keyring
    endpoint.sealed_secret = keyring.wrap(
        secret.encode(), context=webhook_secret_context(endpoint.id)
    )
    endpoint.master_key_id = keyring.current_id
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
    uow.runtime.webhook_networks.pop(actor.network_id, None)  # this process: at once
    log.info("webhook_registered", endpoint_id=endpoint.id)
    return Registered(endpoint.id, secret)


def disable_endpoint(uow: UnitOfWork, actor: Actor, endpoint_id: int) -> None:
    """Stop telling an endpoint anything; its pending deliveries fail. Audited."""
    decision = authorise(uow, actor, MANAGE, None)
    scope = uow.scoped(actor)
    endpoint = scope.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("webhook endpoint {endpoint} not found", endpoint=endpoint_id)
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


# Whether a network has an active endpoint, as each process last saw it (the runtime's
# `webhook_networks`): a move in a network without any, most of them, costs no statement.
# A registration is seen at once by the process that made it, by others within this.
ENDPOINTS_FRESH_SECONDS = 5.0


def _has_endpoints(uow: UnitOfWork, network_id: int) -> bool:
    known = uow.runtime.webhook_networks
    now = time.monotonic()
    seen = known.get(network_id)
    if seen is not None and now - seen[1] <= ENDPOINTS_FRESH_SECONDS:
        return seen[0]
    query = select(WebhookEndpoint.id).where(
        WebhookEndpoint.network_id == network_id, WebhookEndpoint.active == true()
    )
    found = uow.unscoped(DELIVERIES).scalar(query.limit(1)) is not None
    known[network_id] = (found, now)
    return found


def enqueue(uow: UnitOfWork, network_id: int, event: str, payload: dict[str, Any]) -> None:
    """A delivery for each active endpoint of the network that wants `event`: one INSERT
    ... SELECT in the caller's transaction, and nothing in a network without endpoints."""
    if not _has_endpoints(uow, network_id):
        return
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


def transfer_proposed(
    uow: UnitOfWork, network_id: int, network: str, case_id: int, proposal: Any
) -> None:
    """The event of a proposed handover (services.transfers), to the sending network's
    endpoints: ids and states only."""
    payload = {
        "network": network,
        "case_id": case_id,
        "transfer_proposal_id": proposal.id,
        "to_network_id": proposal.to_network_id,
        "state": proposal.from_state,
        "status": proposal.status,
    }
    enqueue(uow, network_id, CASE_TRANSFER_PROPOSED, payload)
