"""Switching networks, the national tier's networks page, and the network's protocol."""

from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from referral.config import Settings
from referral.domain.errors import InvalidInput
from referral.i18n import N_
from referral.services import auth, networks, protocols
from referral.services.uow import UnitOfWork
from referral.web.controllers.binding import whole_number
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.render import page, see_other
from referral.web.session import COOKIE, reading, set_session_cookie


@post("/network", name="switch_network", sync_to_thread=True, status_code=303)
def switch_network(request: Request[Any, Any, Any], uow: Uow, form: Form) -> Redirect:
    """Act in another of the user's networks: a new session there (new id and CSRF token),
    then their home page in it. A network they hold no role in answers 404."""
    settings: Settings = request.app.state.settings
    network_id = whole_number(str(form.get("network_id", "")))
    if network_id is None:
        message = N_("Choose one of your networks.")
        raise InvalidInput(message, {"network_id": message})
    info = auth.switch_network(uow, request.cookies.get(COOKIE, ""), network_id)
    response = see_other("/")
    set_session_cookie(response, info.token, settings)
    return response


NETWORK_MESSAGES = {"created": "The network was created."}


def _networks_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    rows: list[networks.NetworkRow],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "networks/list.html",
        viewer,
        networks=rows,
        kinds=networks.KINDS,
        messages=NETWORK_MESSAGES,
        values=values or {"kind": "city", "time_zone": "Europe/London", "languages": "en"},
        errors=errors or {},
        status_code=status_code,
    )


@get("/networks", name="networks", opt=ONE_STEP)
async def list_networks(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        return _networks_page(request, viewer, networks.all_networks(uow, viewer.actor))

    return await read_as_viewer(request, work)


@post("/networks", name="create_network", sync_to_thread=True, status_code=303)
def create_network(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Any:
    fields = ("name", "slug", "kind", "time_zone", "languages", "admin_username")
    values = {name: str(form.get(name, "")) for name in fields}
    try:
        networks.create_network(uow, viewer.actor, networks.CreateNetwork(**values))
    except InvalidInput as exc:
        with reading(uow) as reader:
            rows = networks.all_networks(reader, viewer.actor)
        return _networks_page(
            request, viewer, rows, values=values, errors=exc.errors, status_code=422
        )
    return see_other("/networks?done=created")


PROTOCOL_MESSAGES = {
    "acknowledged": "Thank you: your acknowledgement is recorded.",
    "published": "The new version is published. Everyone acknowledges it before their next case.",
    "agreement": "The sharing agreement's review date is set.",
}


def _protocol_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    shown: protocols.ProtocolPage,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "networks/protocol.html",
        viewer,
        protocol=shown,
        messages=PROTOCOL_MESSAGES,
        values=values or {},
        errors=errors or {},
        status_code=status_code,
    )


@get("/protocol", name="protocol", opt=ONE_STEP)
async def protocol(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        return _protocol_page(request, viewer, protocols.page(uow, viewer.actor))

    return await read_as_viewer(request, work)


@post("/protocol/acknowledge", name="acknowledge_protocol", sync_to_thread=True, status_code=303)
def acknowledge(uow: Uow, viewer: CurrentViewer, form: Form) -> Redirect:
    version = whole_number(str(form.get("version", "")))
    if version is None:
        message = N_("The form did not say which version you read. Reload the page.")
        raise InvalidInput(message, {"version": message})
    protocols.acknowledge(uow, viewer.actor, protocols.Acknowledge(version))
    return see_other("/protocol?done=acknowledged")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


@post("/protocol", name="publish_protocol", sync_to_thread=True, status_code=303)
def publish(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form) -> Any:
    values = {name: str(form.get(name, "")) for name in ("text", "owner", "review_on")}
    command = protocols.Publish(values["text"], values["owner"], _date(values["review_on"]))
    try:
        protocols.publish(uow, viewer.actor, command)
    except InvalidInput as exc:
        with reading(uow) as reader:
            shown = protocols.page(reader, viewer.actor)
        return _protocol_page(
            request, viewer, shown, values=values, errors=exc.errors, status_code=422
        )
    return see_other("/protocol?done=published")


@post("/protocol/agreement", name="agreement_review", sync_to_thread=True, status_code=303)
def agreement_review(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form
) -> Any:
    text = str(form.get("agreement_review_on", ""))
    try:
        protocols.set_agreement_review(uow, viewer.actor, protocols.SetAgreementReview(_date(text)))
    except InvalidInput as exc:
        with reading(uow) as reader:
            shown = protocols.page(reader, viewer.actor)
        values = {"agreement_review_on": text}
        return _protocol_page(
            request, viewer, shown, values=values, errors=exc.errors, status_code=422
        )
    return see_other("/protocol?done=agreement")


ROUTES = [
    switch_network,
    list_networks,
    create_network,
    protocol,
    acknowledge,
    publish,
    agreement_review,
]
