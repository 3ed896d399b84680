"""A partner agency's pages: the information requests addressed to its organisation, one
request with its question and deadline, and the answer the agency gives itself."""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from referral.domain.errors import InvalidInput
from referral.services import information
from referral.services.uow import UnitOfWork
from referral.web.controllers.meetings import messages
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.render import page, see_other


@get("/information-requests", name="agency_requests", opt=ONE_STEP)
async def list_requests(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        rows = information.list_agency_requests(uow, viewer.actor)
        answered = str(request.query_params.get("answered", ""))
        return page(
            request,
            "agency/list.html",
            viewer,
            requests=rows,
            answered=int(answered) if answered.isdecimal() else None,
        )

    return await read_as_viewer(request, work)


@get("/information-requests/{request_id:int}", name="agency_request", opt=ONE_STEP)
async def show(request: Request[Any, Any, Any], request_id: FromPath[int]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        item = information.show_agency_request(uow, viewer.actor, request_id)
        return page(request, "agency/show.html", viewer, item=item, values={}, errors={})

    return await read_as_viewer(request, work)


@post(
    "/information-requests/{request_id:int}/answer",
    name="agency_answer",
    sync_to_thread=True,
    status_code=303,
)
def answer(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    request_id: FromPath[int],
) -> Any:
    values = {"answer": str(form.get("answer", "")), "declined": str(form.get("declined", ""))}
    command = information.RecordAnswer(
        request_id, values["answer"], declined=values["declined"] == "yes"
    )
    try:
        information.record_answer(uow, viewer.actor, command)
    except InvalidInput as exc:
        uow.rollback()  # nothing of the refused answer stays; the page below reads afresh
        item = information.show_agency_request(uow, viewer.actor, request_id)
        return page(
            request,
            "agency/show.html",
            viewer,
            item=item,
            values=values,
            errors=messages(exc, "answer"),
            status_code=422,
        )
    return see_other("/information-requests?answered=" + str(request_id))


ROUTES = [list_requests, show, answer]
