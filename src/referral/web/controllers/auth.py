"""Sign in and out, and the home page that sends each role to its work."""

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from referral.config import Settings
from referral.domain.errors import InvalidInput, PermissionDenied
from referral.domain.vocabulary import Role
from referral.i18n import N_
from referral.services import auth, people, second_factor, summons, tokens
from referral.services.tokens import TokenRow
from referral.services.uow import UnitOfWork
from referral.web.controllers import sso
from referral.web.deps import (
    ONE_STEP,
    CurrentViewer,
    Form,
    Uow,
    Viewer,
    read_as_viewer,
)
from referral.web.render import page, see_other
from referral.web.session import (
    COOKIE,
    confirmation,
    current_session,
    reading,
    set_session_cookie,
)

# Where each role starts, most specific first.
HOME_BY_ROLE = [
    (Role.COORDINATOR, "/queue"),
    (Role.SCREENER, "/queue"),
    (Role.PANEL_CHAIR, "/meetings"),
    (Role.PANEL_MEMBER, "/meetings"),
    (Role.PROVIDER, "/interventions"),
    (Role.AGENCY_CONTACT, "/information-requests"),
    (Role.DPO, "/audit"),
    (Role.ADMIN, "/admin/users"),
    (Role.REFERRER, "/referrals"),
    # The national tier's people: the analyst at the statistics, the coordinator at the
    # list of networks (no case anywhere).
    (Role.ANALYST, "/statistics"),
    (Role.NATIONAL_COORDINATOR, "/networks"),
]


def _login_page(request: Request[Any, Any, Any], **context: Any) -> Template:
    settings: Settings = request.app.state.settings
    return page(
        request,
        "login.html",
        csrf=current_session(request).csrf_token,
        providers=sso.providers(settings),
        **context,
    )


@get("/login", name="login")
async def login_form(request: Request[Any, Any, Any]) -> Template:
    return _login_page(request)


@post("/login", name="login_submit", sync_to_thread=True, status_code=303)
def login(request: Request[Any, Any, Any], uow: Uow, form: Form) -> Any:
    settings: Settings = request.app.state.settings
    command = auth.SignIn(
        username=str(form.get("username", "")),
        password=str(form.get("password", "")),
        client=request.client.host if request.client else "unknown",
        previous_token=request.cookies.get(COOKIE),
    )
    try:
        info = auth.sign_in(uow, command, settings)
    except PermissionDenied as exc:
        return _login_page(request, error=exc.message, username=command.username, status_code=400)
    # Half signed in: the second factor comes next (or, the first time, its enrolment).
    response = see_other("/" if info.signed_in else "/login/code")
    set_session_cookie(response, info.token, settings)
    return response


@post("/logout", name="logout", sync_to_thread=True, status_code=303)
def logout(request: Request[Any, Any, Any], uow: Uow) -> Response[Any]:
    """End our session; then, for one opened through a provider that offers it, sign out
    there too (single sign-out, see controllers.sso)."""
    token = request.cookies.get(COOKIE) or ""
    hint = sso.sign_out_hint(request, token)
    if token:
        auth.sign_out(uow, token)
    response = sso.signed_out(request, hint)
    response.delete_cookie(COOKIE, path="/")
    return response


@get("/", name="home", opt=ONE_STEP)
async def home(request: Request[Any, Any, Any]) -> Redirect:
    def work(uow: UnitOfWork, viewer: Viewer) -> Redirect:
        # A summons open now comes first: the official's way into the meeting's network.
        own = summons.own_summons(uow, viewer.actor.user_id)
        if any(s.open_at(uow.now) for s in own):
            return Redirect("/invitations")
        for role, path in HOME_BY_ROLE:
            if role in viewer.actor.roles:
                return Redirect(path)
        # No role here (a summons has ended): their landing page says so.
        return Redirect("/invitations" if own else "/account")

    return await read_as_viewer(request, work)


# What `?done=` after a change on the account page may say: fixed texts only.
ACCOUNT_MESSAGES = {
    "revoked": N_("The token was revoked: programs using it are refused from now on."),
    "unchanged": N_("That token was already revoked."),
    "language": N_("Your choice of language is saved."),
}


def _account_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    tokens: list[TokenRow],
    *,
    token: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    enrolled: bool = False,
) -> Template:
    return page(
        request,
        "account.html",
        viewer,
        second_factor=enrolled,
        tokens=tokens,
        token=token,
        errors=errors or {},
        values=values or {},
        messages=ACCOUNT_MESSAGES,
        status_code=status_code,
    )


@get("/account", name="account", opt=ONE_STEP)
async def account(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        enrolled = second_factor.enrolled(uow, viewer.actor.user_id)
        held = tokens.own_tokens(uow, viewer.actor)
        return _account_page(request, viewer, held, enrolled=enrolled)

    return await read_as_viewer(request, work)


@post("/account/tokens", name="issue_token", sync_to_thread=True, status_code=200)
def issue_token(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Template:
    """A token for the JSON API, shown once on this page and never again."""
    settings: Settings = request.app.state.settings
    label = str(form.get("label", ""))
    try:
        token = auth.issue_api_token(uow, viewer.actor, auth.IssueToken(label), settings)
    except InvalidInput as exc:
        held = _own_tokens(uow, viewer)
        enrolled = second_factor.enrolled(uow, viewer.actor.user_id)
        return _account_page(
            request, viewer, held, errors=exc.errors, values={"label": label}, status_code=422,
            enrolled=enrolled,
        )  # fmt: skip
    enrolled = second_factor.enrolled(uow, viewer.actor.user_id)
    return _account_page(request, viewer, _own_tokens(uow, viewer), token=token, enrolled=enrolled)


@post(
    "/account/second-factor/recovery-codes",
    name="renew_recovery_codes",
    sync_to_thread=True,
    status_code=200,
)
def renew_recovery_codes(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Template:
    """New recovery codes, shown once, for a current code from the app; the old ones stop
    working at once."""
    offered = confirmation(request, str(form.get(second_factor.CODE_FIELD, "")))
    try:
        codes = second_factor.renew_recovery_codes(uow, viewer.actor, offered)
    except InvalidInput as exc:
        enrolled = second_factor.enrolled(uow, viewer.actor.user_id)
        return _account_page(
            request, viewer, _own_tokens(uow, viewer), errors=second_factor.sentence(exc),
            status_code=422, enrolled=enrolled,
        )  # fmt: skip
    return page(
        request, "login_recovery.html", viewer, codes=codes, next_url="/account", renewed=True
    )


def _own_tokens(uow: UnitOfWork, viewer: Viewer) -> list[TokenRow]:
    with reading(uow) as reader:
        return tokens.own_tokens(reader, viewer.actor)


@post(
    "/account/tokens/{token_id:int}/revoke",
    name="revoke_own_token",
    sync_to_thread=True,
    status_code=303,
)
def revoke_own_token(uow: Uow, viewer: CurrentViewer, token_id: FromPath[int]) -> Redirect:
    changed = tokens.revoke_own_token(uow, viewer.actor, tokens.RevokeToken(token_id))
    return see_other(f"/account?done={'revoked' if changed else 'unchanged'}")


@post("/account/language", name="choose_language", sync_to_thread=True, status_code=303)
def choose_language(uow: Uow, viewer: CurrentViewer, form: Form) -> Redirect:
    """The language the pages read in for this user: one of the shipped ones, or
    Automatic ("": their browser's, then their network's). An unknown one is refused."""
    chosen = str(form.get("language", "")).strip()
    people.choose_language(uow, viewer.actor, chosen or None)
    return see_other("/account?done=language")


ROUTES = [
    login_form,
    login,
    logout,
    home,
    account,
    issue_token,
    revoke_own_token,
    renew_recovery_codes,
    choose_language,
]
