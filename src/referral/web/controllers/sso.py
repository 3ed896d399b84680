"""Single sign-on through a network's OpenID Connect provider, and its approval page.

`/sso/<network>/start` sends the browser to the provider with a fresh state, nonce and
PKCE verifier, kept for ten minutes in an HttpOnly cookie that only `/sso/` receives
(SameSite=Lax: the provider's redirect back is a top-level navigation, which carries it).
`/sso/<network>/callback` checks the state against that cookie, has `referral.oidc` swap
the code and verify the ID token, and only then opens a unit of work: a pending identity
is sent to the waiting page, an approved one gets the same session a password gives.

Both are links and redirects, not form posts: the pages' Content-Security-Policy allows
forms to post to this site only, and a browser applies that to a post's redirects too.

Single sign-out: a session opened here gets a second HttpOnly cookie, which only
`/logout` receives, holding the network, a digest of the session's token (so it speaks
for that session only) and the ID token. Signing out ends our session first; then, if
the provider's discovery document names an `end_session_endpoint`, the answer is a page
that sends the browser there (a `Refresh` header and a link: a redirect of the sign-out
form's POST to another site would break the form-action policy) with `id_token_hint`,
`client_id`, `post_logout_redirect_uri` (our sign-in page) and `state`.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from referral.config import OidcProvider, Settings
from referral.domain.errors import InvalidInput
from referral.i18n import N_
from referral.logging import get_logger
from referral.oidc import RelyingParty, SsoRefused
from referral.services import admin, sso
from referral.services.uow import UnitOfWork
from referral.web.controllers.binding import whole_number
from referral.web.deps import (
    ONE_STEP,
    CurrentViewer,
    Form,
    Uow,
    Viewer,
    read_as_viewer,
    request_unit,
)
from referral.web.render import page, see_other
from referral.web.session import COOKIE, set_session_cookie

log = get_logger(__name__)
SSO_COOKIE = "referral_sso"
SSO_PATH = "/sso/"
SSO_COOKIE_SECONDS = 600
# The single sign-out cookie: sent to /logout only.
SIGN_OUT_COOKIE = "referral_sso_session"
SIGN_OUT_PATH = "/logout"
NO_SESSION = {"no_session": True}
# What the provider's `error` may show of itself on the page.
ERROR_CODE = re.compile(r"[a-z_]{1,40}")
WRONG_STATE = SsoRefused(
    "wrong_state",
    "This sign-in did not start here, or took too long (its state does not match). "
    "Start again from the sign-in page.",
)


@dataclass(frozen=True)
class Provider:
    """What the sign-in page shows of a configured provider."""

    network: str
    label: str


def providers(settings: Settings) -> list[Provider]:
    return sorted(
        (Provider(slug, p.label) for slug, p in settings.oidc_providers.items()),
        key=lambda p: p.label.lower(),
    )


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _configured(settings: Settings, network: str) -> OidcProvider:
    provider = settings.oidc_providers.get(network)
    if provider is None:
        raise NotFoundException()
    return provider


def _party(settings: Settings, network: str) -> RelyingParty:
    redirect_uri = f"{settings.public_base_url}{SSO_PATH}{network}/callback"
    return RelyingParty(_configured(settings, network), redirect_uri, settings.oidc_timeout_seconds)


def _refused(request: Request[Any, Any, Any], network: str, exc: SsoRefused) -> Template:
    # The reason code only: never the code, a token, the state or a claim.
    log.info("sso_refused", network=network, reason=exc.reason)
    response = page(request, "sso/refused.html", message=exc.message, status_code=exc.status_code)
    response.delete_cookie(SSO_COOKIE, path=SSO_PATH)
    return response


@get("/sso/{network:str}/start", name="sso_start", opt=NO_SESSION, sync_to_thread=True)
def start(request: Request[Any, Any, Any], network: FromPath[str]) -> Response[Any]:
    settings = _settings(request)
    party = _party(settings, network)
    try:
        started = party.start()
    except SsoRefused as exc:
        return _refused(request, network, exc)
    response: Response[Any] = Redirect(started.url, status_code=303)
    kept = ".".join((started.state, started.nonce, started.verifier, network))
    response.set_cookie(
        Cookie(
            key=SSO_COOKIE,
            value=kept,
            httponly=True,
            secure=settings.cookie_secure,
            samesite="lax",
            path=SSO_PATH,
            max_age=SSO_COOKIE_SECONDS,
        )
    )
    return response


@dataclass(frozen=True)
class _Kept:
    state: str
    nonce: str
    verifier: str


def _kept(value: str | None, network: str) -> _Kept | None:
    """The cookie `start` set, if it was set for this network."""
    parts = (value or "").split(".", 3)
    if len(parts) != 4 or parts[3] != network or not all(parts[:3]):
        return None
    return _Kept(*parts[:3])


@get("/sso/{network:str}/callback", name="sso_callback", opt=NO_SESSION)
async def callback(request: Request[Any, Any, Any], network: FromPath[str]) -> Response[Any]:
    settings = _settings(request)
    party = _party(settings, network)
    kept = _kept(request.cookies.get(SSO_COOKIE), network)
    query = request.query_params
    try:
        if kept is None or not hmac.compare_digest(str(query.get("state", "")), kept.state):
            raise WRONG_STATE
        error = str(query.get("error", ""))
        if error:
            shown = error if ERROR_CODE.fullmatch(error) else "error"
            raise SsoRefused(
                "provider_error", f"The identity provider did not sign you in ({shown})."
            )
        code = str(query.get("code", ""))
        if not code:
            raise SsoRefused("no_code", "The identity provider sent no authorization code.")
        identity = await anyio.to_thread.run_sync(party.finish, code, kept.verifier, kept.nonce)
    except SsoRefused as exc:
        return _refused(request, network, exc)
    command = sso.SsoSignIn(network, identity, request.cookies.get(COOKIE))
    # The provider has been heard: only now does the request take its turn to write.
    async with request_unit(request, reading=False) as uow:
        outcome = await anyio.to_thread.run_sync(sso.sign_in, uow, command)
    if outcome.session is None:
        response: Response[Any] = see_other(f"/sso/waiting?network={network}")
    else:
        response = see_other("/")
        set_session_cookie(response, outcome.session.token, settings)
        if identity.id_token:
            _keep_for_sign_out(response, settings, network, outcome.session.token, identity)
    response.delete_cookie(SSO_COOKIE, path=SSO_PATH)
    return response


def _bound(session_token: str) -> str:
    """A digest of the session's token: the sign-out cookie speaks for that session only."""
    return hashlib.sha256(f"sso sign-out {session_token}".encode()).hexdigest()[:32]


def _keep_for_sign_out(
    response: Response[Any], settings: Settings, network: str, session_token: str, identity: Any
) -> None:
    response.set_cookie(
        Cookie(
            key=SIGN_OUT_COOKIE,
            value=".".join((network, _bound(session_token), identity.id_token)),
            httponly=True,
            secure=settings.cookie_secure,
            samesite="lax",
            path=SIGN_OUT_PATH,
            max_age=settings.session_absolute_hours * 3600,
        )
    )


@dataclass(frozen=True)
class SignOut:
    """What the sign-out cookie says of the session being ended."""

    network: str
    id_token: str = field(repr=False)


def sign_out_hint(request: Request[Any, Any, Any], session_token: str) -> SignOut | None:
    """The sign-out cookie, if it was set for this very session by a configured network."""
    parts = (request.cookies.get(SIGN_OUT_COOKIE) or "").split(".", 2)
    if len(parts) != 3 or not session_token or not all(parts):
        return None
    network, bound, id_token = parts
    if not hmac.compare_digest(bound, _bound(session_token)):
        return None
    if network not in _settings(request).oidc_providers:
        return None
    return SignOut(network, id_token)


def signed_out(request: Request[Any, Any, Any], hint: SignOut | None) -> Response[Any]:
    """The answer to a sign-out whose session is already ended: on to the provider's
    end_session_endpoint when there is one, else (or if it cannot be reached) to the
    sign-in page. Either way the sign-out cookie goes."""
    response: Response[Any] = see_other("/login")
    if hint is not None:
        settings = _settings(request)
        return_to = f"{settings.public_base_url}/login"
        try:
            url = _party(settings, hint.network).end_session_url(hint.id_token, return_to)
        except SsoRefused as exc:
            log.info("sso_sign_out_skipped", network=hint.network, reason=exc.reason)
            url = None
        if url is not None:
            label = settings.oidc_providers[hint.network].label
            response = page(request, "sso/signed_out.html", label=label, url=url)
            response.headers["Refresh"] = f"0; url={url}"
            response.headers["Cache-Control"] = "no-store"
            log.info("sso_sign_out", network=hint.network)
    response.delete_cookie(SIGN_OUT_COOKIE, path=SIGN_OUT_PATH)
    return response


@get("/sso/waiting", name="sso_waiting", opt=NO_SESSION)
async def waiting(request: Request[Any, Any, Any]) -> Template:
    """Said to a person whose identity awaits approval: nothing else, no data."""
    provider = _settings(request).oidc_providers.get(str(request.query_params.get("network")))
    return page(request, "sso/waiting.html", label=provider.label if provider else "")


# -- the administrator's approval page -----------------------------------------------------

MESSAGES = {
    "approved": N_("The sign-in was approved. The person can now sign in."),
    "removed": N_("The sign-in identity was removed."),
}


@get("/admin/sign-ins", name="admin_sign_ins", opt=ONE_STEP)
async def sign_ins(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        rows = sso.identities(uow, viewer.actor)
        return page(request, "admin/sign_ins.html", viewer, identities=rows, messages=MESSAGES)

    return await read_as_viewer(request, work)


def _identity_page(
    request: Request[Any, Any, Any],
    uow: UnitOfWork,
    viewer: Viewer,
    identity_id: int,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/sign_in.html",
        viewer,
        identity=sso.identity(uow, viewer.actor, identity_id),
        directory=admin.directory(uow, viewer.actor),
        roles=list(admin.ASSIGNABLE_ROLES),
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@get("/admin/sign-ins/{identity_id:int}", name="admin_sign_in", opt=ONE_STEP)
async def sign_in_page(request: Request[Any, Any, Any], identity_id: FromPath[int]) -> Template:
    return await read_as_viewer(
        request, lambda uow, viewer: _identity_page(request, uow, viewer, identity_id)
    )


@post(
    "/admin/sign-ins/{identity_id:int}/approve",
    name="admin_sign_in_approve",
    sync_to_thread=True,
    status_code=303,
)
def approve(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    identity_id: FromPath[int],
) -> Any:
    existing = str(form.get("user_id", ""))
    command = sso.ApproveIdentity(
        identity_id=identity_id,
        user_id=whole_number(existing) if existing else None,
        username=str(form.get("username", "")),
        organisation_id=whole_number(str(form.get("organisation_id", ""))),
        roles=tuple(str(r) for r in form.getall("roles", [])),
    )
    if existing and command.user_id is None:
        message = N_("Choose an active user of this network.")
        errors = {"user_id": message}
    else:
        try:
            sso.approve(uow, viewer.actor, command)
        except InvalidInput as exc:
            errors = exc.errors
        else:
            return see_other("/admin/sign-ins?done=approved")
    values = {k: form.getall(k) if k == "roles" else form.get(k) for k in form}
    uow.rollback()
    return _identity_page(
        request, uow, viewer, identity_id, values=values, errors=errors, status_code=422
    )


@post(
    "/admin/sign-ins/{identity_id:int}/remove",
    name="admin_sign_in_remove",
    sync_to_thread=True,
    status_code=303,
)
def remove(uow: Uow, viewer: CurrentViewer, identity_id: FromPath[int]) -> Redirect:
    sso.forget(uow, viewer.actor, identity_id)
    return see_other("/admin/sign-ins?done=removed")


ROUTES = [start, callback, waiting, sign_ins, sign_in_page, approve, remove]
