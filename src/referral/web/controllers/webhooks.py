"""The administrator's webhooks page: endpoints, their events, and the delivery log."""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from referral.config import Settings
from referral.domain.errors import InvalidInput
from referral.services import webhooks
from referral.services.uow import UnitOfWork
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.render import page, see_other


def _page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    overview: webhooks.Overview,
    *,
    registered: webhooks.Registered | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    settings: Settings = request.app.state.settings
    return page(
        request,
        "admin/webhooks.html",
        viewer,
        overview=overview,
        events=webhooks.EVENTS,
        registered=registered,
        allow_http=settings.webhooks_allow_http_localhost,
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@get("/admin/webhooks", name="admin_webhooks", opt=ONE_STEP)
async def show(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        return _page(request, viewer, webhooks.overview(uow, viewer.actor))

    return await read_as_viewer(request, work)


@post("/admin/webhooks", name="admin_register_webhook", sync_to_thread=True, status_code=200)
def register(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form) -> Any:
    """Answered with the page itself, not a redirect: the secret is shown this once and
    never travels in an address."""
    settings: Settings = request.app.state.settings
    command = webhooks.RegisterEndpoint(
        url=str(form.get("url", "")),
        events=tuple(str(e) for e in form.getall("events", [])),
        allow_http_localhost=settings.webhooks_allow_http_localhost,
    )
    try:
        registered = webhooks.register_endpoint(uow, viewer.actor, command)
    except InvalidInput as exc:
        values = {"url": form.get("url"), "events": form.getall("events", [])}
        overview = webhooks.overview(uow, viewer.actor)
        return _page(request, viewer, overview, values=values, errors=exc.errors, status_code=422)
    overview = webhooks.overview(uow, viewer.actor)
    return _page(request, viewer, overview, registered=registered, status_code=201)


@post(
    "/admin/webhooks/{endpoint_id:int}/disable",
    name="admin_disable_webhook",
    sync_to_thread=True,
    status_code=303,
)
def disable(uow: Uow, viewer: CurrentViewer, endpoint_id: FromPath[int]) -> Redirect:
    webhooks.disable_endpoint(uow, viewer.actor, endpoint_id)
    return see_other("/admin/webhooks?done=disabled")


ROUTES = [show, register, disable]
