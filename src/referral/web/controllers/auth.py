"""Sign in and out, and the home page that sends each role to its work."""

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from referral.config import Settings
from referral.domain.errors import InvalidInput, PermissionDenied
from referral.domain.vocabulary import Role
from referral.services import auth
from referral.web.controllers import sso
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, viewer_in_one_step
from referral.web.render import page, see_other
from referral.web.session import COOKIE, current_session, set_session_cookie

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
    response = see_other("/")
    set_session_cookie(response, info.token, settings)
    return response


@post("/logout", name="logout", sync_to_thread=True, status_code=303)
def logout(request: Request[Any, Any, Any], uow: Uow) -> Redirect:
    token = request.cookies.get(COOKIE)
    if token:
        auth.sign_out(uow, token)
    response = see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@get("/", name="home", opt=ONE_STEP)
async def home(request: Request[Any, Any, Any]) -> Redirect:
    viewer = await viewer_in_one_step(request)
    for role, path in HOME_BY_ROLE:
        if role in viewer.actor.roles:
            return Redirect(path)
    return Redirect("/account")


@get("/account", name="account", opt=ONE_STEP)
async def account(request: Request[Any, Any, Any]) -> Template:
    viewer = await viewer_in_one_step(request)
    return page(request, "account.html", viewer, errors={}, values={})


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
        return page(
            request, "account.html", viewer, errors=exc.errors, values={"label": label},
            status_code=422,
        )  # fmt: skip
    return page(request, "account.html", viewer, token=token, errors={}, values={})


ROUTES = [login_form, login, logout, home, account, issue_token]
