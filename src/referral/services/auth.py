"""Sign-in, server-side sessions and API tokens.

Session cookies and API tokens are random strings; the database keeps only their
SHA-256, so a copy of the database does not let anyone sign in. Every session,
signed in or not, carries its own CSRF token (the synchroniser-token pattern).
"""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial

from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from referral.audit.chain import AuditRecord
from referral.config import Settings
from referral.db import prepared
from referral.db.repositories import current_connection
from referral.db.tables import ApiToken, LoginFailure, Network, User, WebSession
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound, PermissionDenied
from referral.logging import get_logger
from referral.security import hash_password, verify_password
from referral.services.uow import Runtime, UnitOfWork

log = get_logger(__name__)
GENERIC_FAILURE = "Sign-in failed. Check your username and password, or wait a few minutes."

TOUCH_EVERY = timedelta(minutes=1)


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both paths take as long."""
    return hash_password(secrets.token_urlsafe(16))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    """What the web layer needs from a session: who, where, and the CSRF token."""

    token: str
    csrf_token: str
    user_id: int | None
    network_id: int | None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


def _new_session(uow: UnitOfWork, user: User | None, network_id: int | None) -> SessionInfo:
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=digest(token),
        user_id=user.id if user else None,
        network_id=network_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=uow.now,
        last_seen_at=uow.now,
    )
    uow.session.add(row)
    return SessionInfo(token, row.csrf_token, row.user_id, network_id)


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
    row_id, csrf_token, user_id, network_id, created_at, last_seen_at = rows[0]
    if _expired(created_at, last_seen_at, now, settings):
        return ResolvedSession(None, partial(_remove_session, row_id))
    info = SessionInfo(token, csrf_token, user_id, network_id)
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


def _too_many_failures(uow: UnitOfWork, keys: dict[str, int], settings: Settings) -> bool:
    since = uow.now - timedelta(minutes=settings.login_window_minutes)
    for key, limit in keys.items():
        count = uow.session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.key == key, LoginFailure.at >= since)
        )
        if (count or 0) >= limit:
            return True
    return False


def sign_in(uow: UnitOfWork, command: SignIn, settings: Settings) -> SessionInfo:
    """Check the password (rate-limited), then start a fresh session: a new id at sign-in."""
    keys = {
        f"user:{digest(command.username.strip().lower())}": settings.login_max_failures,
        f"client:{digest(command.client)}": settings.login_max_failures_per_client,
    }
    user = uow.repo.user_by_username(command.username.strip())
    limited = _too_many_failures(uow, keys, settings)
    password_ok = verify_password(user.password_hash if user else _dummy_hash(), command.password)
    networks = uow.repo.networks_of(user) if user else []
    if limited or user is None or not user.active or not password_ok or not networks:
        uow.session.add_all(LoginFailure(key=key, at=uow.now) for key in keys)
        uow.session.commit()
        record = AuditRecord(
            action="auth:login", allowed=False, actor=None, target=f"user:{user.id}" if user else ""
        )
        log.info("sign_in_failed", user_id=user.id if user else None, rate_limited=limited)
        uow.refuse(record, PermissionDenied(GENERIC_FAILURE))
    assert user is not None  # for the type checker: refuse() raised otherwise
    return open_session(uow, user, networks[0], command.previous_token)


def open_session(
    uow: UnitOfWork,
    user: User,
    network: Network,
    previous_token: str | None,
    change: dict[str, str] | None = None,
) -> SessionInfo:
    """A fresh session for a user whose sign-in succeeded (password or single sign-on):
    a new id at sign-in, the visitor's old one gone, the login audited."""
    if previous_token:
        uow.session.execute(
            delete(WebSession).where(WebSession.token_hash == digest(previous_token))
        )
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
