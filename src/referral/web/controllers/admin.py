"""The administrator's pages: users, their roles, organisations. No case content."""

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from referral.domain.errors import InvalidInput
from referral.domain.vocabulary import OrgKind
from referral.i18n import N_
from referral.services import admin, second_factor, tokens, user_import
from referral.services.uow import UnitOfWork
from referral.web.controllers.binding import whole_number
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.input_guard import UPLOAD
from referral.web.render import page, see_other
from referral.web.session import confirmation

# What `?done=` after a change may say: fixed texts, never text taken from the address.
MESSAGES = {
    "created": "The user was added.",
    "granted": "The role was granted.",
    "revoked": "The role was revoked.",
    "unchanged": "Nothing changed: the user already had that setting.",
    "activated": "The account was activated.",
    "deactivated": "The account was deactivated. The person can no longer sign in.",
    "password": "The password was set. Tell the person by a channel of your own.",
    "second_factor_reset": "The second factor was reset. The person sets up a new one at "
    "their next sign-in; their sessions have ended.",
    "imported": "The users were imported. Each one signs in once you have set their first "
    "password here (Set password).",
}


def _users_page(
    request: Request[Any, Any, Any],
    viewer: CurrentViewer,
    directory: admin.Directory,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/users.html",
        viewer,
        directory=directory,
        roles=list(admin.ASSIGNABLE_ROLES),
        messages=MESSAGES,
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@get("/admin/users", name="admin_users", opt=ONE_STEP)
async def users(request: Request[Any, Any, Any]) -> Template:
    after = str(request.query_params.get("after", ""))[:300]

    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        return _users_page(request, viewer, admin.directory(uow, viewer.actor, after=after))

    return await read_as_viewer(request, work)


@post("/admin/users", name="admin_create_user", sync_to_thread=True, status_code=303)
def create_user(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Any:
    command = admin.CreateUser(
        username=str(form.get("username", "")),
        display_name=str(form.get("display_name", "")),
        email=str(form.get("email", "")),
        organisation_id=whole_number(str(form.get("organisation_id", ""))),
        roles=tuple(str(r) for r in form.getall("roles", [])),
        password=str(form.get("password", "")),
    )
    try:
        admin.create_user(uow, viewer.actor, command)
    except InvalidInput as exc:
        # The password is never sent back into the page.
        values = {
            k: form.getall(k) if k == "roles" else form.get(k) for k in form if k != "password"
        }
        directory = admin.directory(uow, viewer.actor)
        return _users_page(
            request, viewer, directory, values=values, errors=exc.errors, status_code=422
        )
    return see_other("/admin/users?done=created")


def _change(form: Form) -> bool:
    change = str(form.get("change", ""))
    if change not in ("grant", "revoke"):
        message = N_("Choose to grant or revoke the role.")
        raise InvalidInput(message, {"change": message})
    return change == "grant"


@post(
    "/admin/users/{user_id:int}/roles",
    name="admin_change_role",
    sync_to_thread=True,
    status_code=303,
)
def change_role(uow: Uow, viewer: CurrentViewer, form: Form, user_id: FromPath[int]) -> Redirect:
    grant = _change(form)
    command = admin.ChangeRole(user_id=user_id, role=str(form.get("role", "")), grant=grant)
    changed = admin.change_role(uow, viewer.actor, command)
    done = ("granted" if grant else "revoked") if changed else "unchanged"
    return see_other(f"/admin/users?done={done}")


def _set_active(uow: Uow, viewer: CurrentViewer, user_id: int, active: bool) -> Redirect:
    changed = admin.set_active(uow, viewer.actor, admin.SetActive(user_id, active))
    done = ("activated" if active else "deactivated") if changed else "unchanged"
    return see_other(f"/admin/users?done={done}")


@post(
    "/admin/users/{user_id:int}/deactivate",
    name="admin_deactivate",
    sync_to_thread=True,
    status_code=303,
)
def deactivate(uow: Uow, viewer: CurrentViewer, user_id: FromPath[int]) -> Redirect:
    return _set_active(uow, viewer, user_id, active=False)


@post(
    "/admin/users/{user_id:int}/activate",
    name="admin_activate",
    sync_to_thread=True,
    status_code=303,
)
def activate(uow: Uow, viewer: CurrentViewer, user_id: FromPath[int]) -> Redirect:
    return _set_active(uow, viewer, user_id, active=True)


@post(
    "/admin/users/{user_id:int}/password",
    name="admin_set_password",
    sync_to_thread=True,
    status_code=303,
)
def set_password(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    user_id: FromPath[int],
) -> Any:
    command = admin.SetPassword(user_id, str(form.get(f"password-{user_id}", "")))
    try:
        admin.set_password(uow, viewer.actor, command)
    except InvalidInput as exc:
        directory = admin.directory(uow, viewer.actor)
        errors = {f"password-{user_id}": exc.message}
        return _users_page(request, viewer, directory, errors=errors, status_code=422)
    return see_other("/admin/users?done=password")


# -- resetting a lost second factor: a confirmation page, then the reset ------------------


def _reset_page(
    request: Request[Any, Any, Any],
    uow: UnitOfWork,
    viewer: CurrentViewer,
    user_id: int,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/reset_second_factor.html",
        viewer,
        user=admin.user_row(uow, viewer.actor, user_id),
        own_factor=second_factor.enrolled(uow, viewer.actor.user_id),
        errors=errors or {},
        status_code=status_code,
    )


@get(
    "/admin/users/{user_id:int}/second-factor",
    name="admin_reset_second_factor_form",
    sync_to_thread=True,
)
def reset_second_factor_form(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, user_id: FromPath[int]
) -> Template:
    return _reset_page(request, uow, viewer, user_id)


@post(
    "/admin/users/{user_id:int}/second-factor/reset",
    name="admin_reset_second_factor",
    sync_to_thread=True,
    status_code=303,
)
def reset_second_factor(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    user_id: FromPath[int],
) -> Any:
    offered = confirmation(request, str(form.get(second_factor.CODE_FIELD, "")))
    try:
        admin.reset_second_factor(uow, viewer.actor, user_id, offered)
    except InvalidInput as exc:
        errors = second_factor.sentence(exc)
        return _reset_page(request, uow, viewer, user_id, errors=errors, status_code=422)
    return see_other("/admin/users?done=second_factor_reset")


# -- importing users from a CSV file ------------------------------------------------------


def _import_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    report: user_import.Report | None = None,
    content: str = "",
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/import.html",
        viewer,
        report=report,
        content=content,
        columns=user_import.COLUMNS,
        kinds=list(OrgKind),
        roles=list(admin.ASSIGNABLE_ROLES),
        status_code=status_code,
    )


@get("/admin/import", name="admin_import", opt=ONE_STEP)
async def import_form(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        admin.list_organisations(uow, viewer.actor)  # an administrator's page only
        return _import_page(request, viewer)

    return await read_as_viewer(request, work)


@post(
    "/admin/import",
    name="admin_import_check",
    sync_to_thread=True,
    status_code=200,
    opt=UPLOAD,
)
def import_check(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Template:
    """A dry run of the uploaded file: everything checked, nothing written."""
    upload = form.get("file")
    content = b""
    if isinstance(upload, UploadFile):
        with upload.file:  # closed once read: the service checks bytes, not a file
            content = upload.file.read(user_import.MAX_BYTES + 1)
    command = user_import.ImportUsers(content, apply=False)
    report = user_import.import_as_admin(uow, viewer.actor, command)
    text = content.decode("utf-8-sig") if report.valid else ""
    return _import_page(request, viewer, report, text, 200 if report.valid else 422)


@post("/admin/import/apply", name="admin_import_apply", sync_to_thread=True, status_code=303)
def import_apply(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Any:
    """The checked file, applied whole: checked again first, as the network may have
    changed since (a username taken meanwhile)."""
    content = str(form.get("content", "")).encode()
    command = user_import.ImportUsers(content, apply=True)
    report = user_import.import_as_admin(uow, viewer.actor, command)
    if not report.applied:
        return _import_page(request, viewer, report, status_code=422)
    return see_other("/admin/users?done=imported")


def _organisations_page(
    request: Request[Any, Any, Any],
    viewer: CurrentViewer,
    organisations: list[admin.OrganisationRow],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/organisations.html",
        viewer,
        organisations=organisations,
        kinds=list(OrgKind),
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@get("/admin/organisations", name="admin_organisations", opt=ONE_STEP)
async def organisations(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        return _organisations_page(request, viewer, admin.list_organisations(uow, viewer.actor))

    return await read_as_viewer(request, work)


@post(
    "/admin/organisations", name="admin_create_organisation", sync_to_thread=True, status_code=303
)
def create_organisation(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Any:
    command = admin.CreateOrganisation(
        name=str(form.get("name", "")), kind=str(form.get("kind", ""))
    )
    try:
        admin.create_organisation(uow, viewer.actor, command)
    except InvalidInput as exc:
        values = {k: form.get(k) for k in ("name", "kind")}
        rows = admin.list_organisations(uow, viewer.actor)
        return _organisations_page(
            request, viewer, rows, values=values, errors=exc.errors, status_code=422
        )
    return see_other("/admin/organisations?done=created")


TOKEN_MESSAGES = {
    "revoked": "The token was revoked: programs using it are refused from now on.",
    "unchanged": "That token was already revoked.",
}


@get("/admin/tokens", name="admin_tokens", opt=ONE_STEP)
async def api_tokens(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        held = tokens.network_tokens(uow, viewer.actor)
        return page(request, "admin/tokens.html", viewer, tokens=held, messages=TOKEN_MESSAGES)

    return await read_as_viewer(request, work)


@post(
    "/admin/tokens/{token_id:int}/revoke",
    name="admin_revoke_token",
    sync_to_thread=True,
    status_code=303,
)
def revoke_token(uow: Uow, viewer: CurrentViewer, token_id: FromPath[int]) -> Redirect:
    changed = tokens.revoke_token(uow, viewer.actor, tokens.RevokeToken(token_id))
    return see_other(f"/admin/tokens?done={'revoked' if changed else 'unchanged'}")


ROUTES = [
    users,
    create_user,
    change_role,
    deactivate,
    activate,
    organisations,
    create_organisation,
    api_tokens,
    revoke_token,
    set_password,
    reset_second_factor_form,
    reset_second_factor,
    import_form,
    import_check,
    import_apply,
]
