"""The second step of signing in: a code from an authenticator app (or a recovery code),
or, the first time, enrolment by QR code; and setting a second factor up from the account
page. The QR code is an SVG drawn here and sent as a data: image (the CSP's img-src allows
it): no script, and its text alternative carries the key for those who cannot scan it."""

from typing import Any

import segno
from litestar import Request, get, post
from litestar.response import Redirect

from referral.config import Settings
from referral.domain.errors import NotFound, PermissionDenied
from referral.i18n import N_
from referral.services import auth, second_factor
from referral.web.deps import CurrentViewer, Form, Uow
from referral.web.render import page, see_other
from referral.web.session import COOKIE, current_session, set_session_cookie


def qr_image(uri: str) -> str:
    """The otpauth:// address as a QR code: an SVG data: URI for an <img>."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, light="#fff", border=4))


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _pending(request: Request[Any, Any, Any], uow: Uow) -> int | None:
    return auth.pending_user(uow, request.cookies.get(COOKIE, ""))


@get("/login/code", name="login_code", sync_to_thread=True)
def code_form(request: Request[Any, Any, Any], uow: Uow) -> Any:
    user_id = _pending(request, uow)
    if user_id is None:
        return Redirect("/login")
    if not second_factor.enrolled(uow, user_id):
        return Redirect("/login/enrol")
    return page(request, "login_code.html", csrf=current_session(request).csrf_token)


@get("/login/enrol", name="login_enrol", sync_to_thread=True)
def enrol_form(request: Request[Any, Any, Any], uow: Uow) -> Any:
    user_id = _pending(request, uow)
    if user_id is None:
        return Redirect("/login")
    return _enrol_page(request, uow, user_id, "/login/enrol", current_session(request).csrf_token)


def _enrol_page(
    request: Request[Any, Any, Any],
    uow: Uow,
    user_id: int,
    action: str,
    csrf: str,
    *,
    viewer: CurrentViewer | None = None,
    error: str = "",
) -> Any:
    enrolment = second_factor.enrolment(uow, user_id)
    if enrolment is None:  # confirmed meanwhile (another tab): the code step follows
        return Redirect("/login/code" if viewer is None else "/account")
    return page(
        request,
        "login_enrol.html",
        viewer,
        csrf=csrf,
        action=action,
        key=enrolment.grouped_secret,
        qr=qr_image(enrolment.uri),
        error=error,
        status_code=400 if error else 200,
    )


def _second_step(request: Request[Any, Any, Any], form: Form) -> auth.SecondStep:
    return auth.SecondStep(
        token=request.cookies.get(COOKIE, ""),
        code=str(form.get("code", ""))[:64],
        client=request.client.host if request.client else "unknown",
    )


@post("/login/code", name="login_code_submit", sync_to_thread=True, status_code=303)
def submit_code(request: Request[Any, Any, Any], uow: Uow, form: Form) -> Any:
    try:
        signed_in = auth.complete_sign_in(
            uow, _second_step(request, form), _settings(request), enrolling=False
        )
    except NotFound:
        return see_other("/login")
    except PermissionDenied as exc:
        csrf = current_session(request).csrf_token
        return page(request, "login_code.html", csrf=csrf, error=exc.message, status_code=400)
    response = see_other("/")
    set_session_cookie(response, signed_in.session.token, _settings(request))
    return response


@post("/login/enrol", name="login_enrol_submit", sync_to_thread=True, status_code=200)
def submit_enrolment(request: Request[Any, Any, Any], uow: Uow, form: Form) -> Any:
    step = _second_step(request, form)
    try:
        signed_in = auth.complete_sign_in(uow, step, _settings(request), enrolling=True)
    except NotFound:
        return see_other("/login")
    except PermissionDenied as exc:
        user_id = _pending(request, uow)
        if user_id is None:
            return see_other("/login")
        csrf = current_session(request).csrf_token
        return _enrol_page(request, uow, user_id, "/login/enrol", csrf, error=exc.message)
    response = page(
        request,
        "login_recovery.html",
        csrf=signed_in.session.csrf_token,
        codes=signed_in.recovery_codes,
        next_url="/",
    )
    set_session_cookie(response, signed_in.session.token, _settings(request))
    return response


# -- from the account page: any signed-in user may set one up -------------------------------


@post("/account/second-factor", name="account_enrol_start", sync_to_thread=True, status_code=303)
def start_enrolment(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer) -> Redirect:
    second_factor.begin(uow, viewer.actor)
    return see_other("/account/second-factor")


@get("/account/second-factor", name="account_enrol", sync_to_thread=True)
def account_enrol_form(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer) -> Any:
    action = "/account/second-factor/confirm"
    return _enrol_page(request, uow, viewer.actor.user_id, action, viewer.csrf_token, viewer=viewer)


@post(
    "/account/second-factor/confirm",
    name="account_enrol_confirm",
    sync_to_thread=True,
    status_code=200,
)
def account_enrol_confirm(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Any:
    code = str(form.get("code", ""))[:64]
    token = request.cookies.get(COOKIE, "")
    codes = second_factor.confirm_for(uow, viewer.actor, code, token)
    if codes is None:
        action = "/account/second-factor/confirm"
        message = N_("That code did not work. Enter the current code from your authenticator app.")
        return _enrol_page(
            request, uow, viewer.actor.user_id, action, viewer.csrf_token, viewer=viewer,
            error=message,
        )  # fmt: skip
    return page(request, "login_recovery.html", viewer, codes=codes, next_url="/account")


ROUTES: list[Any] = [
    code_form,
    enrol_form,
    submit_code,
    submit_enrolment,
    start_enrolment,
    account_enrol_form,
    account_enrol_confirm,
]
