"""Sessions and CSRF for every request.

A guard loads the server-side session behind the cookie (starting an anonymous one
when there is none) and, for every state-changing request, compares the CSRF token
sent in the `X-CSRF-Token` header (HTMX) or the `_csrf` form field (plain forms) with
the session's own. An after-request hook sets the cookie when a session was started.
"""

import hmac
from typing import Any

import anyio
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import Message, Scope

from referral.config import Settings
from referral.domain.actors import Actor
from referral.services import auth
from referral.services.uow import Runtime, UnitOfWork

COOKIE = "referral_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATE_SESSION = "web_session"
CSRF_REFUSED = (
    "This form has expired or did not come from this site. Reload the page and try again."
)
STATE_NEW_COOKIE = "new_session_cookie"


def _runtime(connection: ASGIConnection[Any, Any, Any, Any]) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


def _settings(connection: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def _load(runtime: Runtime, settings: Settings, token: str | None) -> tuple[auth.SessionInfo, bool]:
    with UnitOfWork(runtime) as uow:
        info = auth.resolve_session(uow, token, settings) if token else None
        if info is not None:
            return info, False
    with UnitOfWork(runtime) as uow:
        return auth.start_session(uow), True


async def session_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("no_session") or _is_bearer(connection):
        return
    info, started = await anyio.to_thread.run_sync(
        _load, _runtime(connection), _settings(connection), connection.cookies.get(COOKIE)
    )
    connection.state[STATE_SESSION] = info
    if started:
        connection.state[STATE_NEW_COOKIE] = info.token
    if connection.scope.get("method") not in SAFE_METHODS:
        sent = connection.headers.get(CSRF_HEADER)
        if sent is None:
            form = await Request(connection.scope, connection.receive).form()
            sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, info.csrf_token):
            raise PermissionDeniedException(CSRF_REFUSED)


def _is_bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return connection.headers.get("authorization", "").lower().startswith("bearer ")


def session_cookie(token: str, settings: Settings) -> Cookie:
    """Secure, HttpOnly, SameSite=Lax: scripts cannot read it, other sites cannot send it."""
    return Cookie(
        key=COOKIE,
        value=token,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
        max_age=settings.session_absolute_hours * 3600,
    )


def set_session_cookie(response: Response[Any], token: str, settings: Settings) -> None:
    response.set_cookie(session_cookie(token, settings))


async def send_new_session_cookie(message: Message, scope: Scope) -> None:
    """A before-send hook: a session started by the guard reaches the browser."""
    if message["type"] != "http.response.start":
        return
    token = scope.get("state", {}).get(STATE_NEW_COOKIE)
    if not token:
        return
    settings: Settings = scope["app"].state.settings
    name, value = session_cookie(token, settings).to_encoded_header()
    headers = MutableScopeHeaders.from_message(message)
    if not any(v.startswith(f"{COOKIE}=") for v in headers.getall("set-cookie", [])):
        headers.add(name.decode(), value.decode())


def current_session(request: Request[Any, Any, Any]) -> auth.SessionInfo:
    info: auth.SessionInfo | None = request.state.get(STATE_SESSION)
    if info is None:
        raise NotAuthorizedException("sign in to continue")
    return info


def provide_actor(request: Request[Any, Any, Any], uow: NamedDependency[UnitOfWork]) -> Actor:
    """The signed-in actor (session cookie or API bearer token); 401 otherwise."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        actor = auth.actor_for_api_token(uow, header[7:].strip())
        if actor is None:
            raise NotAuthorizedException("the API token is unknown, revoked or expired")
        return actor
    info = current_session(request)
    if info.user_id is None or info.network_id is None:
        raise NotAuthorizedException("sign in to continue")
    return auth.actor_of(uow, info.user_id, info.network_id)
