"""A network's information-sharing protocol, its acknowledgement, and review reminders.

Each network publishes its protocol as versioned text with an owner and a review date;
the newest version is the current one. Every user acknowledges the current version
before they first reach a case in that network, and again when a new version comes out:
the web layer sends them to the protocol page until they have (`needs_acknowledgement`,
asked where the actor is found, web.session.provide_actor). Each acknowledgement is a row
and an audit entry (`protocol:acknowledged`).

The sharing agreement (the policy) carries its review date on the network's row
(`networks.agreement_review_on`): the policy files are shared by every network, while
each network agrees to them, and reviews that agreement, on its own timetable.

When a protocol or agreement passes its review date, the clock (`referral tick` and the
worker) tells the network's dpos once, by notification and e-mail (the outbox): a
protocol version once (`reminded_at`), an agreement once per review date
(`agreement_reminded_on`).
"""

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, func, select, update
from sqlalchemy.sql.elements import BindParameter

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Permission
from referral.db import prepared
from referral.db.base import AnySelect
from referral.db.repositories import current_connection
from referral.db.tables import Network, NetworkProtocol, ProtocolAcknowledgement
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.i18n import N_
from referral.logging import get_logger
from referral.services import notifications
from referral.services.access import authorise, record
from referral.services.uow import Runtime, UnitOfWork

log = get_logger(__name__)
NETWORKS = cast(Table, Network.__table__)
PROTOCOLS = cast(Table, NetworkProtocol.__table__)

MAX_TEXT = 100_000
PUBLISH = Permission.PROTOCOL_PUBLISH.value
# The protocol page: where a user who must acknowledge is sent, and what reminders link to.
PAGE = "/protocol"


@dataclass(frozen=True)
class ProtocolRow:
    id: int
    version: int
    text: str
    owner: str
    review_on: date
    published_at: datetime


@dataclass(frozen=True)
class ProtocolPage:
    """What the protocol page shows: the current version, whether the viewer has
    acknowledged it, and the network's sharing agreement review date."""

    current: ProtocolRow | None
    acknowledged: bool
    agreement_review_on: date | None
    versions: int


def _current_row(uow: UnitOfWork, network_id: int) -> NetworkProtocol | None:
    session = uow.unscoped("a network's protocol is read by everyone who acts in it")
    return session.scalars(
        select(NetworkProtocol)
        .where(NetworkProtocol.network_id == network_id)
        .order_by(NetworkProtocol.version.desc())
        .limit(1)
    ).first()


def _row(p: NetworkProtocol) -> ProtocolRow:
    return ProtocolRow(p.id, p.version, p.text, p.owner, p.review_on, p.published_at)


def page(uow: UnitOfWork, actor: Actor) -> ProtocolPage:
    """The actor's network's protocol and agreement review date (no case data)."""
    current = _current_row(uow, actor.network_id)
    session = uow.unscoped("a network's protocol is read by everyone who acts in it")
    network = session.get(Network, actor.network_id)
    return ProtocolPage(
        current=_row(current) if current is not None else None,
        acknowledged=current is None or not needs_acknowledgement(uow, actor),
        agreement_review_on=network.agreement_review_on if network is not None else None,
        versions=current.version if current is not None else 0,
    )


@cache
def _needs_query() -> AnySelect:
    """Is there a current version this user has not acknowledged? One statement, built
    once: the newest version of the network, and no acknowledgement of it by the user."""
    network_id: BindParameter[int] = bindparam("network_id")
    newest = (
        select(func.max(NetworkProtocol.version))
        .where(NetworkProtocol.network_id == network_id)
        .scalar_subquery()
    )
    acknowledged = exists().where(
        ProtocolAcknowledgement.protocol_id == NetworkProtocol.id,
        ProtocolAcknowledgement.user_id == bindparam("user_id"),
    )
    return select(NetworkProtocol.id).where(
        NetworkProtocol.network_id == network_id,
        NetworkProtocol.version == newest,
        ~acknowledged,
    )


def needs_acknowledgement(uow: UnitOfWork, actor: Actor) -> bool:
    """True while the network has a protocol whose current version this user has not
    acknowledged. The system (clock, worker) never acknowledges anything."""
    session = uow.unscoped("a network's protocol is read by everyone who acts in it")
    values = {"network_id": actor.network_id, "user_id": actor.user_id}
    return bool(prepared.run(current_connection(session), _needs_query(), values))


@dataclass(frozen=True)
class Acknowledge:
    version: int


def acknowledge(uow: UnitOfWork, actor: Actor, command: Acknowledge) -> None:
    """Record that the actor read and accepts the current version (idempotent)."""
    current = _current_row(uow, actor.network_id)
    if current is None:
        raise NotFound("this network has not published a protocol")
    if current.version != command.version:
        raise Conflict(
            "version {version} of the protocol was published meanwhile: read it, then acknowledge "
            "it",
            version=current.version,
        )
    session = uow.unscoped("a network's protocol is read by everyone who acts in it")
    done = session.scalar(
        select(ProtocolAcknowledgement.id).where(
            ProtocolAcknowledgement.protocol_id == current.id,
            ProtocolAcknowledgement.user_id == actor.user_id,
        )
    )
    if done is not None:
        return
    session.add(
        ProtocolAcknowledgement(
            network_id=actor.network_id,
            protocol_id=current.id,
            user_id=actor.user_id,
            acknowledged_at=uow.now,
        )
    )
    uow.flush()  # a double click races to the unique key: a Conflict, not a 500
    uow.audit(
        AuditRecord(
            action="protocol:acknowledged",
            allowed=True,
            actor=actor,
            target=f"protocol:{current.id}",
            change={"version": current.version},
        )
    )
    uow.commit()


@dataclass(frozen=True)
class Publish:
    text: str
    owner: str
    review_on: date | None


def _publish_errors(uow: UnitOfWork, command: Publish) -> dict[str, str]:
    errors: dict[str, str] = {}
    text = command.text.strip()
    if not text:
        errors["text"] = "Enter the protocol's text."
    elif len(text) > MAX_TEXT:
        errors["text"] = f"The protocol has at most {MAX_TEXT:,} characters."
    owner = command.owner.strip()
    if not owner:
        errors["owner"] = "Name the protocol's owner (a person or an office)."
    elif len(owner) > 200:
        errors["owner"] = "The owner has at most 200 characters."
    if command.review_on is None:
        errors["review_on"] = "Enter the review date as YYYY-MM-DD."
    elif command.review_on <= uow.now.date():
        errors["review_on"] = "The review date must be in the future."
    return errors


def publish(uow: UnitOfWork, actor: Actor, command: Publish) -> int:
    """A new version of the network's protocol; everyone acknowledges it again."""
    decision = authorise(uow, actor, PUBLISH, None)
    errors = _publish_errors(uow, command)
    if errors:
        raise InvalidInput("the protocol has errors", errors)
    assert command.review_on is not None  # checked above
    current = _current_row(uow, actor.network_id)
    row = NetworkProtocol(
        network_id=actor.network_id,
        version=(current.version if current is not None else 0) + 1,
        text=command.text.strip(),
        owner=command.owner.strip(),
        review_on=command.review_on,
        published_at=uow.now,
        published_by=actor.user_id if actor.user_id else None,
    )
    uow.unscoped("a network's protocol is its own table").add(row)
    uow.flush()  # two publishers racing to one version number: a Conflict, not a 500
    change = {"version": row.version, "review_on": row.review_on.isoformat()}
    target = f"protocol:{row.id}"
    uow.audit(record(actor, "protocol:published", decision, target=target, change=change))
    uow.commit()
    return row.version


@dataclass(frozen=True)
class SetAgreementReview:
    review_on: date | None


def set_agreement_review(uow: UnitOfWork, actor: Actor, command: SetAgreementReview) -> None:
    """The date the network next reviews its sharing agreement (the policy)."""
    decision = authorise(uow, actor, PUBLISH, None)
    if command.review_on is None:
        message = N_("Enter the review date as YYYY-MM-DD.")
        raise InvalidInput(message, {"agreement_review_on": message})
    if command.review_on <= uow.now.date():
        message = N_("The review date must be in the future.")
        raise InvalidInput(message, {"agreement_review_on": message})
    network = uow.unscoped("the actor's own network's row").get(Network, actor.network_id)
    assert network is not None  # the actor acts in it
    network.agreement_review_on = command.review_on
    network.agreement_reminded_on = None  # a new date is reminded of afresh
    change = {"agreement_review_on": command.review_on.isoformat()}
    target = f"network:{network.id}"
    uow.audit(record(actor, "agreement:review_date_set", decision, target=target, change=change))
    uow.commit()


# -- review reminders, from the clock ------------------------------------------------------

PROTOCOL_DUE = N_("The network's information-sharing protocol has passed its review date.")
AGREEMENT_DUE = N_("The network's sharing agreement has passed its review date.")


def remind_due_reviews(runtime: Runtime, *, request_id: str = "clock") -> int:
    """Tell each network's dpos once about each protocol version and each sharing
    agreement past its review date; how many reminders were sent (one per object).

    Each tick asks first in a reading unit (no write lock when nothing is due, the usual
    case); a reminder is then claimed by a conditional UPDATE, so two workers racing on
    PostgreSQL send it once between them."""
    with UnitOfWork(runtime, request_id=request_id, read_only=True) as reader:
        today = reader.now.date()
        session = reader.unscoped("the clock reminds every network of its reviews")
        protocol_ids = list(session.scalars(_due_protocols(today)))
        network_ids = list(session.scalars(_due_agreements(today)))
    if not protocol_ids and not network_ids:
        return 0
    sent = 0
    with UnitOfWork(runtime, request_id=request_id) as uow:
        session = uow.unscoped("the clock reminds every network of its reviews")
        networks = {n.id: n for n in session.scalars(select(Network))}
        for protocol_id in protocol_ids:
            # Core statements: the ORM's UPDATE ... RETURNING would refresh objects
            # outside any session's load (and nothing here needs them).
            claimed = session.execute(
                update(PROTOCOLS)
                .where(PROTOCOLS.c.id == protocol_id, PROTOCOLS.c.reminded_at.is_(None))
                .values(reminded_at=uow.now)
                .returning(PROTOCOLS.c.network_id, PROTOCOLS.c.review_on)
            ).first()
            if claimed is None:
                continue
            network = networks[claimed[0]]
            _remind(uow, network, "protocol", f"protocol:{protocol_id}", claimed[1])
            sent += 1
        for network_id in network_ids:
            agreed = session.execute(
                update(NETWORKS)
                .where(NETWORKS.c.id == network_id, _agreement_due(today))
                .values(agreement_reminded_on=today)
                .returning(NETWORKS.c.agreement_review_on)
            ).first()
            if agreed is None or agreed[0] is None:
                continue
            network = networks[network_id]
            _remind(uow, network, "agreement", f"network:{network_id}", agreed[0])
            sent += 1
        uow.commit()
    if sent:
        log.info("review_reminders_sent", count=sent)
    return sent


def _due_protocols(today: date) -> Any:
    """The current version of each network's protocol, past its review date, unreminded."""
    newest = (
        select(NetworkProtocol.network_id, func.max(NetworkProtocol.version).label("v"))
        .group_by(NetworkProtocol.network_id)
        .subquery()
    )
    return (
        select(NetworkProtocol.id)
        .join(
            newest,
            (newest.c.network_id == NetworkProtocol.network_id)
            & (newest.c.v == NetworkProtocol.version),
        )
        .where(NetworkProtocol.review_on <= today, NetworkProtocol.reminded_at.is_(None))
    )


def _agreement_due(today: date) -> Any:
    """A sharing agreement past its review date, not yet reminded of for that date."""
    return (
        Network.agreement_review_on.is_not(None)
        & (Network.agreement_review_on <= today)
        & (
            Network.agreement_reminded_on.is_(None)
            | (Network.agreement_reminded_on < Network.agreement_review_on)
        )
    )


def _due_agreements(today: date) -> Any:
    return select(NETWORKS.c.id).where(_agreement_due(today))


MESSAGES = {"protocol": PROTOCOL_DUE, "agreement": AGREEMENT_DUE}


def _remind(uow: UnitOfWork, network: Network, what: str, target: str, review_on: date) -> None:
    system = system_actor(network.id, network.slug)
    notifications.notify_review_due(
        uow, system, network.id, f"{what}:review_due", MESSAGES[what], PAGE
    )
    uow.audit(_reminded(system, target, review_on))


def _reminded(system: Actor, target: str, review_on: date) -> AuditRecord:
    return AuditRecord(
        action="review:reminded",
        allowed=True,
        actor=system,
        target=target,
        change={"review_on": review_on.isoformat()},
    )


@dataclass(frozen=True)
class ReviewLine:
    """One line of `referral policy report`'s review dates."""

    network: str
    what: str
    version: int | None
    review_on: date | None
    overdue: bool


def review_dates(uow: UnitOfWork) -> list[ReviewLine]:
    """Every network's protocol and sharing agreement review dates (the operator's)."""
    today = uow.now.date()
    session = uow.unscoped("the operator's report covers every network")
    lines = []
    for network in session.scalars(select(Network).order_by(Network.slug)):
        current = _current_row(uow, network.id)
        lines.append(
            ReviewLine(
                network.slug,
                "protocol",
                current.version if current else None,
                current.review_on if current else None,
                bool(current and current.review_on <= today),
            )
        )
        agreed = network.agreement_review_on
        lines.append(
            ReviewLine(
                network.slug, "sharing agreement", None, agreed, bool(agreed and agreed <= today)
            )
        )
    return lines
