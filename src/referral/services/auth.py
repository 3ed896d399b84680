"""Sign-in, server-side sessions and API tokens.

Session cookies and API tokens are random strings; the database keeps only their
SHA-256, so a copy of the database does not let anyone sign in. Every session,
signed in or not, carries its own CSRF token (the synchroniser-token pattern).
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial
from typing import NoReturn

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.orm import Session

from referral.audit.chain import AuditRecord
from referral.config import Settings
from referral.db import prepared
from referral.db.repositories import current_connection
from referral.db.tables import ApiToken, Network, User, WebSession
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound, PermissionDenied
from referral.i18n import N_
from referral.logging import get_logger
from referral.security import hash_password, verify_password
from referral.services import second_factor, throttle
from referral.services.throttle import digest
from referral.services.uow import Runtime, UnitOfWork

log = get_logger(__name__)
GENERIC_FAILURE = N_("Sign-in failed. Check your username and password, or wait a few minutes.")

TOUCH_EVERY = timedelta(minutes=1)


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both paths take as long."""
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SessionInfo:
    """What the web layer needs from a session: who, where, and the CSRF token."""

    token: str
    csrf_token: str
    user_id: int | None
    network_id: int | None
    # Half signed in: the password was right, the second factor is still to come.
    pending_user_id: int | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


def _new_session(
    uow: UnitOfWork,
    user: User | None,
    network_id: int | None,
    *,
    pending: User | None = None,
    second_factor_at: datetime | None = None,
) -> SessionInfo:
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=digest(token),
        user_id=user.id if user else None,
        network_id=network_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=uow.now,
        last_seen_at=uow.now,
        pending_user_id=pending.id if pending else None,
        second_factor_at=second_factor_at,
    )
    uow.session.add(row)
    return SessionInfo(token, row.csrf_token, row.user_id, network_id, row.pending_user_id)


def anonymous_session(csrf_token: str) -> SessionInfo:
    """A visitor's: no row anywhere, only the CSRF token of the sign-in form (its cookie)."""
    return SessionInfo(token="", csrf_token=csrf_token, user_id=None, network_id=None)


def _expired(
    created_at: datetime, last_seen_at: datetime, now: datetime, settings: Settings
) -> bool:
    idle = now - last_seen_at > timedelta(minutes=settings.session_idle_minutes)
    absolute = now - created_at > timedelta(hours=settings.session_absolute_hours)
    return idle or absolute


# A small write that keeps the sessions table current, run after the read that found it.
Upkeep = Callable[[Session], None]


@dataclass(frozen=True)
class ResolvedSession:
    """The live session behind a cookie (None when unknown or timed out), and the small
    write that keeps the table current (a timed-out row removed, or last_seen_at moved on
    once a minute), for the caller to run after the read: resolving never writes."""

    info: SessionInfo | None
    upkeep: Upkeep | None = None


# Every signed-in request looks its session up: the statement is built once.
_SESSION_BY_TOKEN = select(
    WebSession.id,
    WebSession.csrf_token,
    WebSession.user_id,
    WebSession.network_id,
    WebSession.created_at,
    WebSession.last_seen_at,
    WebSession.pending_user_id,
).where(WebSession.token_hash == bindparam("digest"))


def resolve_session(runtime: Runtime, token: str, settings: Settings) -> ResolvedSession:
    """The session a cookie names, in one statement on a reading connection: no unit of
    work, as a session is found before its network (the scope) is known and nothing
    here is decided or disclosed."""
    with runtime.read_connection() as connection:
        return _session_on(connection, token, runtime.clock(), settings)


def resolve_session_in(uow: UnitOfWork, token: str, settings: Settings) -> ResolvedSession:
    """`resolve_session` in a reading request's own unit, on its connection and snapshot:
    a page that does all its reading in one step finds its session there too."""
    session = uow.unscoped("a session is found before its network is known")
    return _session_on(current_connection(session), token, uow.now, settings)


def _session_on(
    connection: Connection, token: str, now: datetime, settings: Settings
) -> ResolvedSession:
    rows = prepared.run(connection, _SESSION_BY_TOKEN, {"digest": digest(token)})
    if not rows:
        return ResolvedSession(None)
    row_id, csrf_token, user_id, network_id, created_at, last_seen_at, pending = rows[0]
    if _expired(created_at, last_seen_at, now, settings):
        return ResolvedSession(None, partial(_remove_session, row_id))
    info = SessionInfo(token, csrf_token, user_id, network_id, pending)
    if now - last_seen_at <= TOUCH_EVERY:  # one write a minute, not one per request
        return ResolvedSession(info)
    return ResolvedSession(info, partial(_touch_session, row_id, now))


def _remove_session(row_id: int, session: Session) -> None:
    session.execute(delete(WebSession).where(WebSession.id == row_id))


def _touch_session(row_id: int, now: datetime, session: Session) -> None:
    session.execute(update(WebSession).where(WebSession.id == row_id).values(last_seen_at=now))


@dataclass(frozen=True)
class SignIn:
    username: str
    password: str
    client: str
    previous_token: str | None = None


def _refuse_sign_in(
    uow: UnitOfWork, counted: dict[str, int], user: User | None, limited: bool, message: str
) -> NoReturn:
    throttle.record_failure(uow, counted)
    record = AuditRecord(
        action="auth:login", allowed=False, actor=None, target=f"user:{user.id}" if user else ""
    )
    log.info("sign_in_failed", user_id=user.id if user else None, rate_limited=limited)
    uow.refuse(record, PermissionDenied(message))


def sign_in(uow: UnitOfWork, command: SignIn, settings: Settings) -> SessionInfo:
    """Check the password (rate-limited), then start a fresh session: a new id at sign-in.

    A user who has a second factor, or whose role must have one, gets a session that is
    only half signed in (`pending_user_id`): the code (or, the first time, enrolment)
    completes it, and until then the session reaches nothing but those steps.
    """
    limits = throttle.Limits.of(settings)
    counted = throttle.keys(command.username, command.client, limits)
    user = uow.repo.user_by_username(command.username.strip())
    limited = throttle.too_many_failures(uow, counted, limits)
    password_ok = verify_password(user.password_hash if user else _dummy_hash(), command.password)
    networks = uow.repo.networks_of(user) if user else []
    if limited or user is None or not user.active or not password_ok or not networks:
        _refuse_sign_in(uow, counted, user, limited, GENERIC_FAILURE)
    assert user is not None  # for the type checker: refuse() raised otherwise
    if _second_factor_wanted(uow, user, settings):
        return _half_signed_in(uow, user, networks[0], command.previous_token)
    return open_session(uow, user, networks[0], command.previous_token)


def _half_signed_in(
    uow: UnitOfWork, user: User, network: Network, previous_token: str | None
) -> SessionInfo:
    """The password was right; the code (or, the first time, enrolment) comes next."""
    _forget(uow, previous_token)
    second_factor.start_enrolment(uow, user.id)  # a secret waits if none is confirmed
    info = _new_session(uow, None, network.id, pending=user)
    uow.commit()
    log.info("password_accepted", user_id=user.id)
    return info


def _forget(uow: UnitOfWork, previous_token: str | None) -> None:
    if previous_token:
        uow.session.execute(
            delete(WebSession).where(WebSession.token_hash == digest(previous_token))
        )


def open_session(
    uow: UnitOfWork,
    user: User,
    network: Network,
    previous_token: str | None,
    change: dict[str, str] | None = None,
) -> SessionInfo:
    """A fresh session for a user whose sign-in succeeded (password or single sign-on):
    a new id at sign-in, the visitor's old one gone, the login audited. (Single sign-on
    leaves the second factor to the network's provider.)"""
    _forget(uow, previous_token)
    info = _new_session(uow, user, network.id)
    actor = uow.repo.actor_for(user, network)
    uow.audit(
        AuditRecord(
            action="auth:login", allowed=True, actor=actor, target=f"user:{user.id}", change=change
        )
    )
    uow.commit()
    log.info("signed_in", user_id=user.id, method=(change or {}).get("method", "password"))
    return info


NOT_YOUR_NETWORK = N_("You hold no roles in that network.")


def switch_network(uow: UnitOfWork, token: str, network_id: int) -> SessionInfo:
    """Act in another of the user's networks: a fresh session (new id, new CSRF token) in
    that network, as at sign-in, keeping the moment of the last second-factor code. The
    old session ends; the switch is audited in the network the user now acts in."""
    session = uow.unscoped("a session is found before its network is known")
    row = session.scalars(select(WebSession).where(WebSession.token_hash == digest(token))).first()
    if row is None or row.user_id is None:
        raise NotFound("sign in to continue")
    user = session.get(User, row.user_id)
    network = session.get(Network, network_id)
    if user is None or not user.active:
        raise NotFound("your account is no longer active")
    if network is None or network not in uow.repo.networks_of(user):
        raise NotFound(NOT_YOUR_NETWORK)
    came_from = row.network_id
    second_factor_at = row.second_factor_at
    session.delete(row)
    info = _new_session(uow, user, network.id, second_factor_at=second_factor_at)
    actor = uow.repo.actor_for(user, network)
    change = {"from_network_id": str(came_from)}
    uow.audit(
        AuditRecord(
            action="auth:network_switched",
            allowed=True,
            actor=actor,
            target=f"user:{user.id}",
            change=change,
        )
    )
    uow.commit()
    log.info("network_switched", user_id=user.id, network_id=network.id)
    return info


def _second_factor_wanted(uow: UnitOfWork, user: User, settings: Settings) -> bool:
    if second_factor.enrolled(uow, user.id):
        return True
    required = second_factor.required_roles(settings, uow.authz)
    return bool(second_factor.roles_of(uow, user.id) & required)


PENDING_MINUTES = 10  # between the password and the code
EXPIRED_PENDING = N_("Your sign-in has timed out. Sign in again.")
GENERIC_CODE_FAILURE = N_(
    "That code did not work. Enter the current code from your authenticator app, or one of "
    "your recovery codes; or wait a few minutes."
)


@dataclass(frozen=True)
class SecondStep:
    """The code that completes a sign-in: the session half signed in, and the client."""

    token: str
    code: str
    client: str


@dataclass(frozen=True)
class SignedIn:
    """A completed sign-in; `recovery_codes` only after enrolment, to be shown once."""

    session: SessionInfo
    recovery_codes: tuple[str, ...] = ()


def pending_user(uow: UnitOfWork, token: str) -> int | None:
    """Who a half-signed-in session is for, while it lasts; None otherwise."""
    row = _pending_row(uow, token)
    return row.pending_user_id if row is not None else None


def _pending_row(uow: UnitOfWork, token: str) -> WebSession | None:
    if not token:
        return None
    row = (
        uow.unscoped("a session is found before its network is known")
        .scalars(select(WebSession).where(WebSession.token_hash == digest(token)))
        .first()
    )
    if row is None or row.pending_user_id is None:
        return None
    if uow.now - row.created_at > timedelta(minutes=PENDING_MINUTES):
        return None
    return row


def complete_sign_in(
    uow: UnitOfWork, command: SecondStep, settings: Settings, *, enrolling: bool
) -> SignedIn:
    """Check the second-factor code of a half-signed-in session (a TOTP or recovery code;
    when `enrolling`, the first code of the waiting secret) and sign in: a new session,
    its second factor fresh. Wrong codes count as sign-in failures."""
    row = _pending_row(uow, command.token)
    if row is None:
        raise NotFound(EXPIRED_PENDING)
    user = uow.session.get(User, row.pending_user_id)
    network_id = row.network_id
    network = uow.session.get(Network, network_id) if network_id is not None else None
    if user is None or not user.active or network is None:
        raise NotFound(EXPIRED_PENDING)
    limits = throttle.Limits.of(settings)
    counted = throttle.keys(user.username, command.client, limits)
    limited = throttle.too_many_failures(uow, counted, limits)
    codes: list[str] | None = []
    if limited:
        used = None
    elif enrolling:
        codes = second_factor.confirm(uow, user.id, command.code)
        used = "enrolment" if codes is not None else None
    else:
        used = second_factor.use_code(uow, user.id, command.code)
    if used is None:
        _refuse_sign_in(uow, counted, user, limited, GENERIC_CODE_FAILURE)
    uow.session.delete(row)
    info = _new_session(uow, user, network.id, second_factor_at=uow.now)
    actor = uow.repo.actor_for(user, network)
    if enrolling:
        uow.audit(_record("auth:second_factor_enrolled", actor, user))
    if used == "recovery":
        uow.audit(_record("auth:recovery_code_used", actor, user))
    uow.audit(_record("auth:login", actor, user))
    uow.commit()
    log.info("signed_in", user_id=user.id, second_factor=used)
    return SignedIn(info, tuple(codes or ()))


def _record(action: str, actor: Actor, user: User) -> AuditRecord:
    return AuditRecord(action=action, allowed=True, actor=actor, target=f"user:{user.id}")


def sign_out(uow: UnitOfWork, token: str) -> None:
    row = uow.session.scalars(
        select(WebSession).where(WebSession.token_hash == digest(token))
    ).first()
    if row is None:
        return
    if row.user_id is not None:
        uow.audit(
            AuditRecord(
                action="auth:logout",
                allowed=True,
                actor=None,
                target=f"user:{row.user_id}",
            )
        )
    uow.session.delete(row)
    uow.commit()


def actor_of(uow: UnitOfWork, user_id: int, network_id: int) -> Actor:
    actor = uow.repo.actor_in(user_id, network_id)
    if actor is None:
        raise NotFound("your account is no longer active")
    return actor


def actor_by_username(uow: UnitOfWork, username: str, network: str | None = None) -> Actor:
    """The operator's `--as USERNAME [--network SLUG]`: that active user acting in that
    network (the only one they hold roles in, when none is named). NotFound otherwise."""
    session = uow.unscoped("the operator's command names a user before any network")
    user = session.scalar(select(User).where(User.username == username, User.active))
    if user is None:
        raise NotFound("no active user '{username}'", username=username)
    networks = [n for n in uow.repo.networks_of(user) if network in (None, n.slug)]
    if len(networks) != 1:
        where = f"network '{network}'" if network else "one network (name it with --network)"
        raise NotFound(
            "user '{username}' holds no roles in {where}", username=username, where=where
        )
    return actor_of(uow, user.id, networks[0].id)


@dataclass(frozen=True)
class IssueToken:
    label: str


def issue_api_token(uow: UnitOfWork, actor: Actor, command: IssueToken, settings: Settings) -> str:
    """A bearer token for the JSON API, shown once; only its digest is kept."""
    if not command.label.strip():
        raise InvalidInput("name the token so you can recognise it later", {"label": "required"})
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=digest(token),
        user_id=actor.user_id,
        network_id=actor.network_id,
        label=command.label.strip()[:100],
        created_at=uow.now,
        expires_at=uow.now + timedelta(days=settings.api_token_days),
    )
    uow.scoped(actor).add(row)
    uow.flush()
    uow.audit(
        AuditRecord(action="auth:token_issued", allowed=True, actor=actor, target=f"token:{row.id}")
    )
    uow.commit()
    return token


def actor_for_api_token(uow: UnitOfWork, token: str) -> Actor | None:
    """Who a bearer token speaks for: None if it is unknown, revoked or expired, or its
    user is no longer active."""
    return uow.repo.actor_of_token(digest(token), uow.now)
