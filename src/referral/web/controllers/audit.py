"""The data-protection officer's pages: the audit explorer, its CSV export, the chain check."""

from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.response import Stream, Template

from referral.domain.errors import InvalidInput
from referral.services import audit_view
from referral.services.uow import UnitOfWork
from referral.web.controllers import binding
from referral.web.deps import ONE_STEP, CurrentViewer, Uow, Viewer, read_as_viewer
from referral.web.input_guard import MAX_ID
from referral.web.render import page

FILTER_FIELDS = ("user", "organisation", "case", "action", "decision", "from", "to")
# Filters by id, and the page links' audit sequence numbers (64-bit).
NUMBERS = {
    **dict.fromkeys(("user", "organisation", "case"), MAX_ID),
    **dict.fromkeys(("before", "after"), binding.MAX_SEQ),
}


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return binding.query(request, NUMBERS, dates=("from", "to"))


def _filter_string(params: dict[str, str]) -> str:
    """The filters as a query string, for page links and the export that keep them."""
    return urlencode({k: params[k] for k in FILTER_FIELDS if params.get(k)})


@get("/audit", name="audit_explorer", opt=ONE_STEP)
async def explorer(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        params = _params(request)
        context: dict[str, Any] = {"values": params, "filters": _filter_string(params)}
        try:
            query = audit_view.query_from_params(params)
            result = audit_view.explore(uow, viewer.actor, query)
        except InvalidInput as exc:
            options = audit_view.filter_options(uow, viewer.actor)
            return page(
                request,
                "audit/explorer.html",
                viewer,
                partial="audit/_results.html",
                result=None,
                options=options,
                errors=exc.errors,
                status_code=422,
                **context,
            )
        return page(
            request,
            "audit/explorer.html",
            viewer,
            partial="audit/_results.html",
            result=result,
            options=result.options,
            errors={},
            **context,
        )

    return await read_as_viewer(request, work)


@get("/audit/export.csv", name="audit_export", sync_to_thread=True)
def export_csv(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer) -> Stream:
    query = audit_view.query_from_params(_params(request))
    lines = audit_view.export(uow, viewer.actor, query)
    filename = f"audit-{viewer.actor.network}-{uow.now:%Y%m%d-%H%M%S}.csv"
    return Stream(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


@get("/audit/chain", name="audit_chain", opt=ONE_STEP)
async def chain_page(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        status = audit_view.chain_status(uow, viewer.actor)
        return page(
            request,
            "audit/chain.html",
            viewer,
            partial="audit/_verify.html",
            status=status,
            result=None,
        )

    return await read_as_viewer(request, work)


@post("/audit/chain/verify", name="audit_verify", sync_to_thread=True, status_code=200)
def verify(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer) -> Template:
    # The answer is a report, not a changed record: shown at once rather than redirected.
    result = audit_view.verify_chain(uow, viewer.actor)
    return page(
        request,
        "audit/chain.html",
        viewer,
        partial="audit/_verify.html",
        status=None,
        result=result,
    )


ROUTES = [explorer, export_csv, chain_page, verify]
