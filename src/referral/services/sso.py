"""Single sign-on: who a provider's person is here, and the administrator's approval.

A network's provider vouches for a person (issuer and subject, checked by
`referral.oidc` before anything here runs). The first time, that identity is recorded as
pending, with no user and so no roles: the person is told to wait and sees no data. An
administrator of the same network approves it by naming the user it becomes: an
existing user of the network, or a new one with an organisation and roles. From then on
each sign-in through that provider opens that user's session in that network, the same
session a password opens.

An identity belongs to one network. The same person signing in through another
network's provider is another identity, pending there until that network's
administrator decides: approval in one network never lets anyone act in another.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select

from referral.audit.chain import AuditRecord
from referral.db.tables import RoleAssignment, SsoIdentity, User
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from referral.i18n import N_
from referral.logging import get_logger
from referral.oidc import Identity
from referral.services import admin
from referral.services.access import record
from referral.services.auth import SessionInfo, open_session
from referral.services.uow import UnitOfWork

log = get_logger(__name__)
NOT_ACTIVE = N_(
    "Your account in this network is not active. Ask your network's administrator to check it."
)


@dataclass(frozen=True)
class SsoSignIn:
    network: str  # the network's slug: its provider vouched for the identity
    identity: Identity
    previous_token: str | None = None


@dataclass(frozen=True)
class SsoOutcome:
    """A session when the identity is approved; None while it waits for approval."""

    session: SessionInfo | None
    network_name: str


def sign_in(uow: UnitOfWork, command: SsoSignIn) -> SsoOutcome:
    session = uow.unscoped("a single sign-on happens before anyone acts in a network")
    network = uow.repo.network_by_slug(command.network)
    if network is None:
        raise NotFound("no such network")
    claims = command.identity
    identity = session.scalars(
        select(SsoIdentity).where(
            SsoIdentity.network_id == network.id,
            SsoIdentity.issuer == claims.issuer,
            SsoIdentity.subject == claims.subject,
        )
    ).first()
    if identity is None:
        identity = SsoIdentity(
            network_id=network.id,
            issuer=claims.issuer,
            subject=claims.subject,
            first_seen_at=uow.now,
        )
        session.add(identity)
    # What the provider says now is what the administrator should see.
    identity.claimed_name = claims.name
    identity.claimed_email = claims.email
    identity.claimed_organisation = claims.organisation
    identity.last_seen_at = uow.now
    uow.flush()  # two first sign-ins at once: one row, the other a Conflict
    target = f"sso_identity:{identity.id}"
    user = session.get(User, identity.user_id) if identity.user_id is not None else None
    if user is None:
        uow.audit(
            AuditRecord(
                action="auth:sso_pending",
                allowed=False,
                actor=None,
                target=target,
                change={"network_id": network.id},
            )
        )
        uow.commit()
        log.info("sso_pending", identity_id=identity.id, network_id=network.id)
        return SsoOutcome(None, network.name)
    if not user.active or network not in uow.repo.networks_of(user):
        uow.refuse(
            AuditRecord(action="auth:login", allowed=False, actor=None, target=f"user:{user.id}"),
            PermissionDenied(NOT_ACTIVE),
        )
    change = {"method": "sso", "identity": target}
    info = open_session(uow, user, network, command.previous_token, change)
    return SsoOutcome(info, network.name)


# -- the administrator's side -----------------------------------------------------------


@dataclass(frozen=True)
class IdentityRow:
    id: int
    claimed_name: str
    claimed_email: str
    claimed_organisation: str
    first_seen_at: datetime
    last_seen_at: datetime
    user_id: int | None
    user_display_name: str
    username: str

    @property
    def pending(self) -> bool:
        return self.user_id is None


def identities(uow: UnitOfWork, actor: Actor) -> list[IdentityRow]:
    """The network's single sign-on identities: pending first, oldest first."""
    return _rows(uow, actor)


def identity(uow: UnitOfWork, actor: Actor, identity_id: int) -> IdentityRow:
    """One identity of the actor's network; another network's is not found."""
    rows = _rows(uow, actor, SsoIdentity.id == identity_id)
    if not rows:
        raise NotFound("sign-in identity {identity} not found", identity=identity_id)
    return rows[0]


def _rows(uow: UnitOfWork, actor: Actor, *criteria: ColumnElement[bool]) -> list[IdentityRow]:
    admin.manage(uow, actor)
    scope = uow.scoped(actor)
    rows = scope.execute(
        scope.select(SsoIdentity, User.display_name, User.username)
        .outerjoin(User, User.id == SsoIdentity.user_id)
        .where(*criteria)
        .order_by(SsoIdentity.user_id.is_not(None), SsoIdentity.first_seen_at, SsoIdentity.id)
    )
    return [
        IdentityRow(
            id=identity.id,
            claimed_name=identity.claimed_name,
            claimed_email=identity.claimed_email,
            claimed_organisation=identity.claimed_organisation,
            first_seen_at=identity.first_seen_at,
            last_seen_at=identity.last_seen_at,
            user_id=identity.user_id,
            user_display_name=display_name or "",
            username=username or "",
        )
        for identity, display_name, username in rows
    ]


@dataclass(frozen=True)
class ApproveIdentity:
    """Map an identity to an existing user (`user_id`), or to a new user with a username,
    an organisation and roles in the network."""

    identity_id: int
    user_id: int | None
    username: str = ""
    organisation_id: int | None = None
    roles: tuple[str, ...] = ()


def approve(uow: UnitOfWork, actor: Actor, command: ApproveIdentity) -> int:
    """Approve a pending identity; returns the user it now signs in as."""
    decision = admin.manage(uow, actor)
    scope = uow.scoped(actor)
    identity = scope.get(SsoIdentity, command.identity_id, for_update=True)
    if identity is None:
        raise NotFound("sign-in identity {identity} not found", identity=command.identity_id)
    if identity.user_id is not None:
        raise Conflict("This identity was approved already.")
    if command.user_id is not None:
        user = scope.get(User, command.user_id)
        if user is None or not user.active:
            message = N_("Choose an active user of this network.")
            raise InvalidInput(message, {"user_id": message})
        held = scope.scalar(
            scope.select(RoleAssignment.id).where(RoleAssignment.user_id == user.id).limit(1)
        )
        if held is None:
            message = N_("That user holds no role in this network: grant one first.")
            raise InvalidInput(message, {"user_id": message})
    else:
        new_user = admin.CreateUser(
            username=command.username,
            display_name=identity.claimed_name or command.username,
            email=identity.claimed_email,
            organisation_id=command.organisation_id,
            roles=command.roles,
            # Nobody knows it: this user signs in through the provider only.
            password=secrets.token_urlsafe(32),
        )
        user = admin.add_user(uow, actor, decision, new_user)
    identity.user_id = user.id
    identity.approved_at = uow.now
    identity.approved_by = actor.user_id
    change = {"user_id": user.id, "new_user": command.user_id is None}
    uow.audit(
        record(actor, "admin:sso_approve", decision, target=f"sso_identity:{identity.id}",
               change=change)
    )  # fmt: skip
    uow.commit()
    return user.id


def forget(uow: UnitOfWork, actor: Actor, identity_id: int) -> None:
    """Remove an identity: pending, it is turned away; approved, its sign-ins stop (the
    user and any password stay). Signing in again starts a new pending identity."""
    decision = admin.manage(uow, actor)
    scope = uow.scoped(actor)
    identity = scope.get(SsoIdentity, identity_id, for_update=True)
    if identity is None:
        raise NotFound("sign-in identity {identity} not found", identity=identity_id)
    scope.delete(identity)
    change = {"user_id": identity.user_id}
    uow.audit(
        record(actor, "admin:sso_forget", decision, target=f"sso_identity:{identity_id}",
               change=change)
    )  # fmt: skip
    uow.commit()
