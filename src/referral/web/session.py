"""Sessions and CSRF for every request.

A guard loads the server-side session behind the cookie (the busiest reading pages find
it themselves, in the one step that does all their reading: `session_in_step`) and, for
every state-changing request, compares the CSRF token sent in the `X-CSRF-Token` header
(HTMX) or the `_csrf` form field (plain forms) with the session's own. Loading only
reads: the once-a-minute `last_seen_at` touch runs afterwards as a short write of its own.

A visitor has no session row: an anonymous request writes nothing. The sign-in form is
protected by a double-submit token instead: a random value in an HttpOnly, SameSite=Strict
cookie that the form must send back. Only this site's pages can read it into the form, and
other sites cannot send the cookie with a cross-site post.
"""

import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import anyio
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import Message, Scope

from referral.config import Settings
from referral.domain.actors import Actor
from referral.domain.errors import AcknowledgementRequired
from referral.i18n import N_
from referral.services import auth, protocols, second_factor
from referral.services.uow import Runtime, UnitOfWork
from referral.web.reads import database_read

COOKIE = "referral_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATE_SESSION = "web_session"
CSRF_REFUSED = N_(
    "This form has expired or did not come from this site. Reload the page and try again."
)
STATE_NEW_CSRF = "new_csrf_cookie"
CSRF_COOKIE = "referral_csrf"
CSRF_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
# A reading handler's opt: it looks its session up itself, in its one database step.
IN_STEP = "session_in_step"


def _runtime(connection: ASGIConnection[Any, Any, Any, Any]) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


def _settings(connection: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


async def _load(
    connection: ASGIConnection[Any, Any, Any, Any], token: str | None
) -> auth.SessionInfo | None:
    if not token:
        return None
    runtime = _runtime(connection)
    settings = _settings(connection)
    resolved = await database_read(runtime, lambda: auth.resolve_session(runtime, token, settings))
    await keep_up(runtime, resolved.upkeep)
    return resolved.info


async def keep_up(runtime: Runtime, upkeep: auth.Upkeep | None) -> None:
    """Run a session's upkeep (a touch, or an expired row removed) after its read."""
    if upkeep is None:
        return
    if runtime.committer is not None:
        runtime.committer.submit(upkeep)  # nobody waits on a touch
    else:
        await anyio.to_thread.run_sync(runtime.write_now, upkeep)


def session_in_step(request: Request[Any, Any, Any], uow: UnitOfWork) -> auth.Upkeep | None:
    """For a reading handler marked `IN_STEP`, whose guard left the session to it: the
    session behind the cookie (or a visitor's), found in the request's own unit, within
    the one step that does all its reading. Returns the upkeep to run after the step."""
    if STATE_SESSION in request.state or _is_bearer(request):
        return None
    token = request.cookies.get(COOKIE)
    resolved = auth.resolve_session_in(uow, token, _settings(request)) if token else None
    info = resolved.info if resolved is not None else None
    request.state[STATE_SESSION] = info or _visitor(request)
    return resolved.upkeep if resolved is not None else None


def _visitor(connection: ASGIConnection[Any, Any, Any, Any]) -> auth.SessionInfo:
    sent = connection.cookies.get(CSRF_COOKIE, "")
    if CSRF_TOKEN.fullmatch(sent):
        return auth.anonymous_session(sent)
    fresh = secrets.token_urlsafe(32)
    connection.state[STATE_NEW_CSRF] = fresh
    return auth.anonymous_session(fresh)


async def session_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("no_session") or _is_bearer(connection):
        return
    if handler.opt.get(IN_STEP) and connection.scope.get("method") in SAFE_METHODS:
        return  # the handler finds the session in its one reading step (session_in_step)
    info = await _load(connection, connection.cookies.get(COOKIE)) or _visitor(connection)
    connection.state[STATE_SESSION] = info
    if connection.scope.get("method") not in SAFE_METHODS:
        sent = connection.headers.get(CSRF_HEADER)
        form = None
        if sent is None:
            form = await Request(connection.scope, connection.receive).form()
            sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, info.csrf_token):
            if form is not None:  # an upload's spooled file goes with the refused request
                for value in form.values():
                    if isinstance(value, UploadFile):
                        await value.close()
            raise PermissionDeniedException(CSRF_REFUSED)


def _is_bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return connection.headers.get("authorization", "").lower().startswith("bearer ")


def _cookie(key: str, value: str, settings: Settings, samesite: Literal["lax", "strict"]) -> Cookie:
    """HttpOnly and Secure: no script can read it, it travels over HTTPS only."""
    return Cookie(
        key=key,
        value=value,
        httponly=True,
        secure=settings.cookie_secure,
        samesite=samesite,
        path="/",
        max_age=settings.session_absolute_hours * 3600,
    )


def session_cookie(token: str, settings: Settings) -> Cookie:
    """SameSite=Lax: other sites cannot send it with their posts, links to us still work."""
    return _cookie(COOKIE, token, settings, "lax")


def set_session_cookie(response: Response[Any], token: str, settings: Settings) -> None:
    response.set_cookie(session_cookie(token, settings))


async def send_new_csrf_cookie(message: Message, scope: Scope) -> None:
    """A before-send hook: a visitor's new sign-in form token reaches the browser."""
    if message["type"] != "http.response.start":
        return
    token = scope.get("state", {}).get(STATE_NEW_CSRF)
    if not token:
        return
    settings: Settings = scope["app"].state.settings
    # Written out, not through http.cookies (a sixth of a visitor's request): the token
    # is URL-safe base64, nothing in it needs quoting.
    cookie = (
        f"{CSRF_COOKIE}={token}; HttpOnly; Max-Age={settings.session_absolute_hours * 3600};"
        f" Path=/; SameSite=strict{'; Secure' if settings.cookie_secure else ''}"
    )
    headers = list(message.get("headers", ()))
    headers.append((b"set-cookie", cookie.encode("latin-1")))
    message["headers"] = headers


# The API's way to give a second-factor code with a request that wants a fresh one.
SECOND_FACTOR_HEADER = "x-second-factor-code"


def confirmation(request: Request[Any, Any, Any], code: str) -> second_factor.Confirmation:
    """What this request offers for an action that wants a fresh second factor: the code
    given with it and, from a browser, the session (which remembers its last code)."""
    bearer = _is_bearer(request)
    return second_factor.Confirmation.offered(
        _settings(request),
        _runtime(request).authz,
        code=(request.headers.get(SECOND_FACTOR_HEADER, "") if bearer else code)[:64],
        session_token="" if bearer else request.cookies.get(COOKIE, ""),
        client=request.client.host if request.client else "unknown",
    )


def current_session(request: Request[Any, Any, Any]) -> auth.SessionInfo:
    info: auth.SessionInfo | None = request.state.get(STATE_SESSION)
    if info is None:
        raise NotAuthorizedException("sign in to continue")
    return info


@contextmanager
def reading(uow: UnitOfWork) -> Iterator[UnitOfWork]:
    """Where who is asking is looked up: the request's own unit when it only reads, a short
    read-only unit beside it when it writes.

    A writing request's transaction so begins with its service call, not with who it
    is: on SQLite it holds the write lock only for the change. A reading request takes
    no lock, so its one unit serves the look-up, the page and the audit of its reads, in
    one snapshot. Holding its connection from step to step cannot starve the pool: a
    process admits only as many requests as the pool serves twice over (web.deps).
    """
    if uow.read_only:
        yield uow
        return
    with UnitOfWork(uow.runtime, uow.request_id, read_only=True, refresh_policies=False) as reader:
        yield reader


def provide_actor(request: Request[Any, Any, Any], uow: NamedDependency[UnitOfWork]) -> Actor:
    """The signed-in actor (session cookie or API bearer token); 401 otherwise."""
    header = request.headers.get("authorization", "")
    with reading(uow) as reader:
        if header.lower().startswith("bearer "):
            actor = auth.actor_for_api_token(reader, header[7:].strip())
            if actor is None:
                raise NotAuthorizedException("the API token is unknown, revoked or expired")
        else:
            info = current_session(request)
            if info.user_id is None or info.network_id is None:
                raise NotAuthorizedException("sign in to continue")
            actor = auth.actor_of(reader, info.user_id, info.network_id)
        if _protocol_gated(request.url.path) and protocols.needs_acknowledgement(reader, actor):
            raise AcknowledgementRequired(PROTOCOL_FIRST)
        return actor


PROTOCOL_FIRST = N_(
    "Read and acknowledge this network's information-sharing protocol first (the Protocol"
    " page), then try again."
)
# What a user reaches before acknowledging the network's protocol: their account, their
# notices, the protocol itself, switching networks, administration (no case content) and
# the national tier's pages. Everything else (every case, meeting, request, list, audit
# and subject page, and the API beyond who-am-I) waits: a new route is gated by default.
UNGATED = ("/account", "/notifications", "/protocol", "/network", "/networks", "/admin",
           "/api/me", "/api/tokens")  # fmt: skip


def _protocol_gated(path: str) -> bool:
    if path == "/":
        return False
    return not any(path == p or path.startswith(p + "/") for p in UNGATED)
