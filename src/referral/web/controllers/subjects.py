"""The data-protection officer's subject access: find a person, download their bundle."""

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath

from referral.domain.errors import InvalidInput
from referral.services import subject_export
from referral.services.uow import UnitOfWork
from referral.web.controllers import binding
from referral.web.deps import ONE_STEP, Viewer, read_as_viewer
from referral.web.input_guard import MAX_ID
from referral.web.language import reading_of
from referral.web.render import page, see_other
from referral.web.subject_bundle import bundle_html
from referral.web.templating import state_labeller

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return binding.query(request, {"subject": MAX_ID, "case": MAX_ID})


@get("/subjects", name="subject_access", opt=ONE_STEP)
async def chooser(request: Request[Any, Any, Any]) -> Any:
    def work(uow: UnitOfWork, viewer: Viewer) -> Any:
        params = _params(request)
        try:
            subject_id = subject_export.locate_subject(uow, viewer.actor, params)  # dpo only
        except InvalidInput as exc:
            return page(
                request,
                "subjects/choose.html",
                viewer,
                values=params,
                errors=exc.errors,
                status_code=422,
            )
        if subject_id is not None:
            return see_other(f"/subjects/{subject_id}")
        return page(request, "subjects/choose.html", viewer, values=params, errors={})

    return await read_as_viewer(request, work)


@get("/subjects/{subject_id:int}", name="subject_page", opt=ONE_STEP)
async def overview(request: Request[Any, Any, Any], subject_id: FromPath[int]) -> Any:
    def work(uow: UnitOfWork, viewer: Viewer) -> Any:
        result = subject_export.subject_overview(uow, viewer.actor, subject_id)
        return page(request, "subjects/show.html", viewer, overview=result)

    return await read_as_viewer(request, work)


def _download(body: str, media_type: str, filename: str) -> Response[str]:
    # An attachment, never a page of the app: the HTML file carries its own style block.
    return Response(
        body,
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


@get("/subjects/{subject_id:int}/export.json", name="subject_export_json", opt=ONE_STEP)
async def export_json(request: Request[Any, Any, Any], subject_id: FromPath[int]) -> Response[str]:
    def work(uow: UnitOfWork, viewer: Viewer) -> Response[str]:
        bundle = subject_export.export_subject(uow, viewer.actor, subject_id, fmt="json")
        return _download(subject_export.bundle_json(bundle), JSON, f"subject-{subject_id}.json")

    return await read_as_viewer(request, work)


@get("/subjects/{subject_id:int}/export.html", name="subject_export_html", opt=ONE_STEP)
async def export_html(request: Request[Any, Any, Any], subject_id: FromPath[int]) -> Response[str]:
    def work(uow: UnitOfWork, viewer: Viewer) -> Response[str]:
        bundle = subject_export.export_subject(uow, viewer.actor, subject_id, fmt="html")
        language = reading_of(request, viewer).language
        page = bundle_html(bundle, state_labeller(uow.runtime.workflows), language)
        return _download(page, HTML, f"subject-{subject_id}.html")

    return await read_as_viewer(request, work)


ROUTES = [chooser, overview, export_json, export_html]
