"""Networks as first-class objects: creating them, and the networks a user may act in.

A network is created from the national tier: by an `admin` of the network of kind
`national` (the policy grants `network:create` to admins; this module also refuses an
admin of a city or training network, whose scope is their own network only), or by the
operator's `referral networks create` command. A new network may name an existing user as
its first administrator, so somebody can add its organisations and people.

Which network a request acts in is the session's (or the API token's): switching is a
new session (services/auth.switch_network). Nothing here reads a case.
"""

import re
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import func, select

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Permission, overlay_rules
from referral.db.tables import Network, RoleAssignment, User
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound, PermissionDenied
from referral.domain.vocabulary import Role
from referral.i18n import N_
from referral.services.access import authorise, record
from referral.services.uow import UnitOfWork

KINDS = ("city", "national", "training")
# A slug is the policy's network column (the Casbin domain): the policy loader's pattern,
# without underscores so that it also reads well in addresses.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
# BCP 47 language tags as networks use them: "en", "nl", "pt-BR", "ar".
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
NOT_NATIONAL = N_(
    "Only an administrator of the national tier may create networks. Switch to the national"
    " network, or ask its administrator."
)


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@dataclass(frozen=True)
class CreateNetwork:
    name: str
    slug: str
    kind: str = "city"
    time_zone: str = "Europe/London"
    languages: str = "en"
    # An existing user who becomes the new network's first administrator (optional).
    admin_username: str = ""


@dataclass(frozen=True)
class NetworkRow:
    id: int
    slug: str
    name: str
    kind: str
    time_zone: str
    languages: str
    # How many lines of the sharing agreement apply to this network alone (its overlay,
    # policies/network-<slug>.csv, or any line naming it).
    overlay_rules: int = 0


def _languages(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _errors(uow: UnitOfWork, command: CreateNetwork) -> dict[str, str]:
    session = uow.unscoped("network slugs are unique across the deployment")
    errors: dict[str, str] = {}
    name = command.name.strip()
    if not name:
        errors["name"] = "Enter the network's name."
    elif len(name) > 200:
        errors["name"] = "The name has at most 200 characters."
    slug = command.slug.strip()
    if not SLUG.fullmatch(slug):
        errors["slug"] = (
            "Enter a short name of 2 to 63 lower-case letters, digits or hyphens, starting"
            " with a letter or digit (for example 'harbour-city')."
        )
    elif session.scalar(select(Network.id).where(func.lower(Network.slug) == slug).limit(1)):
        errors["slug"] = f"The short name '{slug}' is already used by another network."
    if command.kind not in KINDS:
        errors["kind"] = f"Choose the kind: one of {', '.join(KINDS)}."
    if command.time_zone.strip() not in _time_zones():
        errors["time_zone"] = "Enter a time zone by its IANA name, for example 'Europe/Amsterdam'."
    languages = _languages(command.languages)
    bad = [tag for tag in languages if not LANGUAGE.fullmatch(tag)]
    if not languages or bad or len(",".join(languages)) > 200:
        errors["languages"] = (
            "Enter language tags separated by commas, the default first (for example 'nl,en')."
        )
    if command.admin_username.strip() and _user(uow, command.admin_username) is None:
        errors["admin_username"] = (
            f"There is no active user '{command.admin_username.strip()}'. Leave it empty, or"
            " name an existing user."
        )
    return errors


def _user(uow: UnitOfWork, username: str) -> User | None:
    session = uow.unscoped("a network's first administrator may come from any network")
    return session.scalar(select(User).where(User.username == username.strip(), User.active))


def create_network(uow: UnitOfWork, actor: Actor | None, command: CreateNetwork) -> int:
    """A new, empty network. `actor` None: the operator's command (the CLI)."""
    decision = None
    if actor is not None:
        decision = authorise(uow, actor, Permission.NETWORK_CREATE.value, None)
        own = uow.unscoped("the kind of the actor's own network").get(Network, actor.network_id)
        if own is None or own.kind != "national":
            refusal = AuditRecord("network:create", False, actor, target="network:new")
            uow.refuse(refusal, PermissionDenied(NOT_NATIONAL))
    errors = _errors(uow, command)
    if errors:
        raise InvalidInput("the new network has errors", errors)
    session = uow.unscoped("a new network belongs to no network yet")
    network = Network(
        slug=command.slug.strip(),
        name=command.name.strip(),
        kind=command.kind,
        time_zone=command.time_zone.strip(),
        languages=",".join(_languages(command.languages)),
    )
    session.add(network)
    uow.flush()  # a slug taken meanwhile is a Conflict here, not a 500
    change = {
        "slug": network.slug,
        "kind": network.kind,
        "time_zone": network.time_zone,
        "languages": network.languages,
    }
    if command.admin_username.strip():
        first_admin = _user(uow, command.admin_username)
        assert first_admin is not None  # checked above
        session.add(RoleAssignment(user_id=first_admin.id, network_id=network.id, role="admin"))
        change["admin_user_id"] = str(first_admin.id)
    target = f"network:{network.id}"
    if actor is not None and decision is not None:
        uow.audit(record(actor, "network:created", decision, target=target, change=change))
    else:
        uow.audit(AuditRecord("network:created", True, None, target=target, change=change))
    uow.commit()
    return network.id


def all_networks(uow: UnitOfWork, actor: Actor | None) -> list[NetworkRow]:
    """Every network of the deployment (names and settings, nothing of their cases), for
    the national tier's pages and the operator."""
    if actor is not None:
        _national(uow, actor)
    session = uow.unscoped("the national tier lists every network")
    rows = session.execute(
        select(
            Network.id,
            Network.slug,
            Network.name,
            Network.kind,
            Network.time_zone,
            Network.languages,
        ).order_by(Network.name, Network.id)
    )
    rules = uow.authz.rules
    return [NetworkRow(*row, overlay_rules=len(overlay_rules(rules, row.slug))) for row in rows]


def _national(uow: UnitOfWork, actor: Actor) -> None:
    """Listing every network is the national tier's: its admin, coordinator or analyst."""
    own = uow.unscoped("the kind of the actor's own network").get(Network, actor.network_id)
    permission = next(
        (
            p
            for role, p in (
                (Role.ADMIN, Permission.NETWORK_CREATE),
                (Role.NATIONAL_COORDINATOR, Permission.NETWORK_OVERSEE),
                (Role.ANALYST, Permission.STATISTICS_READ),
            )
            if role in actor.roles
        ),
        None,
    )
    if own is None or own.kind != "national" or permission is None:
        raise NotFound("there is nothing at this address, or you may not see it")
    authorise(uow, actor, permission.value, None)


@dataclass(frozen=True)
class Held:
    """A network the user holds roles in: what the header's switcher lists."""

    id: int
    name: str
    kind: str


def networks_held(uow: UnitOfWork, user_id: int) -> list[Held]:
    """The networks a user holds any role in, in a stable order (the first opens at sign-in)."""
    session = uow.unscoped("a user's own networks, to choose the one to act in")
    rows = session.execute(
        select(Network.id, Network.name, Network.kind)
        .where(
            Network.id.in_(
                select(RoleAssignment.network_id).where(RoleAssignment.user_id == user_id)
            )
        )
        .order_by(Network.id)
    )
    return [Held(*row) for row in rows]
