"""The provider's pages: assigned interventions, one intervention, its moves and progress."""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from referral.domain.errors import InvalidInput
from referral.services import caseload, support
from referral.services.uow import UnitOfWork
from referral.web import done
from referral.web.controllers.binding import whole_number
from referral.web.controllers.meetings import messages
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.render import page, see_other

INTERVENTIONS_PAGE = 25


@get("/interventions", name="interventions", opt=ONE_STEP)
async def list_interventions(request: Request[Any, Any, Any]) -> Template:
    before = whole_number(str(request.query_params.get("before", "")))
    asked = caseload.ListInterventions(limit=INTERVENTIONS_PAGE, before=before)

    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        listed = caseload.intervention_page(uow, viewer.actor, asked)
        workflow = uow.workflow(support.WORKFLOW)
        return page(
            request,
            "provider/list.html",
            viewer,
            interventions=listed.rows,
            older=listed.older,
            paged=before is not None,
            trigger_labels=workflow.trigger_labels,
            destructive=workflow.destructive_triggers,
            done_message=done.message(done.INTERVENTION, request),
        )

    return await read_as_viewer(request, work)


@get("/interventions/{intervention_id:int}", name="intervention", opt=ONE_STEP)
async def show(request: Request[Any, Any, Any], intervention_id: FromPath[int]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        query = caseload.ShowIntervention(intervention_id)
        intervention = caseload.show_intervention(uow, viewer.actor, query)
        return page(
            request,
            "provider/show.html",
            viewer,
            item=intervention,
            trigger_labels=uow.workflow(support.WORKFLOW).trigger_labels,
            destructive=uow.workflow(support.WORKFLOW).destructive_triggers,
            done_message=done.message(done.INTERVENTION, request),
            values={},
            errors={},
        )

    return await read_as_viewer(request, work)


@post(
    "/interventions/{intervention_id:int}/move",
    name="move_intervention",
    sync_to_thread=True,
    status_code=303,
)
def move(uow: Uow, viewer: CurrentViewer, form: Form, intervention_id: FromPath[int]) -> Any:
    command = support.MoveIntervention(intervention_id, str(form.get("trigger", "")))
    support.move_intervention(uow, viewer.actor, command)
    if form.get("back") == "list":
        return see_other("/interventions?done=moved")
    return see_other(f"/interventions/{intervention_id}?done=moved")


@post(
    "/interventions/{intervention_id:int}/progress",
    name="record_progress",
    sync_to_thread=True,
    status_code=303,
)
def progress(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    intervention_id: FromPath[int],
) -> Any:
    command = support.RecordProgress(intervention_id, str(form.get("body", "")))
    try:
        support.record_progress(uow, viewer.actor, command)
    except InvalidInput as exc:
        return page(
            request,
            "provider/progress_error.html",
            viewer,
            partial="provider/_progress_form.html",
            intervention_id=intervention_id,
            values={"body": form.get("body", "")},
            errors=messages(exc, "body"),
            status_code=422,
        )
    return see_other(f"/interventions/{intervention_id}?done=progress#progress")


ROUTES = [list_interventions, show, move, progress]
