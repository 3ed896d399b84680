"""API tokens a person holds, and revoking them.

Everyone lists and revokes their own tokens (in the network they act in); an
administrator lists and revokes everyone's of their network. A revoked token answers 401
on its next request: the actor of a bearer token is looked up on every request, and the
look-up asks for `revoked_at IS NULL` (db.repositories). Each revocation is audited in
its own transaction: `auth:token_revoke` by the holder, `admin:token_revoke` by an
administrator, target `token:N`.
"""

from dataclasses import dataclass
from datetime import datetime

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Permission
from referral.db.tables import ApiToken, User
from referral.domain.actors import Actor
from referral.domain.errors import NotFound
from referral.services.access import authorise, record
from referral.services.uow import UnitOfWork


@dataclass(frozen=True)
class TokenRow:
    id: int
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str  # "active", "revoked" or "expired"
    holder: str = ""  # the holder's display name (the administrator's list)
    username: str = ""


def _row(now: datetime, token_id: int, label: str, created: datetime, expires: datetime | None,
         revoked: datetime | None, *holder: str) -> TokenRow:  # fmt: skip
    status = (
        "revoked" if revoked is not None
        else "expired" if expires is not None and expires <= now
        else "active"
    )  # fmt: skip
    return TokenRow(token_id, label, created, expires, revoked, status, *holder)


_COLUMNS = (
    ApiToken.id,
    ApiToken.label,
    ApiToken.created_at,
    ApiToken.expires_at,
    ApiToken.revoked_at,
)


def own_tokens(uow: UnitOfWork, actor: Actor) -> list[TokenRow]:
    """The actor's tokens in the network they act in, newest first."""
    scope = uow.scoped(actor)
    rows = scope.execute(
        scope.select(*_COLUMNS)
        .where(ApiToken.user_id == actor.user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return [_row(uow.now, *row) for row in rows]


def network_tokens(uow: UnitOfWork, actor: Actor) -> list[TokenRow]:
    """Every token of the network, with its holder (an administrator's list)."""
    authorise(uow, actor, Permission.ADMIN_MANAGE.value, None)
    scope = uow.scoped(actor)
    rows = scope.execute(
        scope.select(*_COLUMNS, User.display_name, User.username)
        .join(User, User.id == ApiToken.user_id)
        .order_by(User.display_name, ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return [_row(uow.now, *row) for row in rows]


@dataclass(frozen=True)
class RevokeToken:
    token_id: int


def revoke_own_token(uow: UnitOfWork, actor: Actor, command: RevokeToken) -> bool:
    """Revoke one of the actor's own tokens; False when it was revoked already.
    Anyone else's token, or one of another network, is not found."""
    token = _token_in_network(uow, actor, command.token_id)
    if token.user_id != actor.user_id:
        raise NotFound("token {token} not found", token=command.token_id)
    if token.revoked_at is not None:
        return False
    token.revoked_at = uow.now
    uow.audit(
        AuditRecord(
            action="auth:token_revoke", allowed=True, actor=actor, target=f"token:{token.id}"
        )
    )
    uow.commit()
    return True


def revoke_token(uow: UnitOfWork, actor: Actor, command: RevokeToken) -> bool:
    """An administrator revokes any token of their network; False when it was already."""
    decision = authorise(uow, actor, Permission.ADMIN_MANAGE.value, None)
    token = _token_in_network(uow, actor, command.token_id)
    if token.revoked_at is not None:
        return False
    token.revoked_at = uow.now
    change = {"user_id": token.user_id}
    uow.audit(
        record(actor, "admin:token_revoke", decision, target=f"token:{token.id}", change=change)
    )
    uow.commit()
    return True


def _token_in_network(uow: UnitOfWork, actor: Actor, token_id: int) -> ApiToken:
    scope = uow.scoped(actor)
    token = scope.scalars(scope.select(ApiToken).where(ApiToken.id == token_id)).first()
    if not isinstance(token, ApiToken):
        raise NotFound("token {token} not found", token=token_id)
    return token
