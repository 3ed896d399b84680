"""The data-protection officer's access reports: per user, organisation or case, and CSV."""

from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Stream

from referral.config import Settings
from referral.domain.errors import InvalidInput
from referral.services import access_report, audit_view
from referral.services.uow import UnitOfWork
from referral.web.controllers import binding
from referral.web.deps import ONE_STEP, CurrentViewer, Uow, Viewer, read_as_viewer
from referral.web.input_guard import MAX_ID
from referral.web.render import page, see_other

CSV = "text/csv; charset=utf-8"


# The chooser names its subject and dates per kind of report: user=, user-from=, ...
KINDS = ("user", "organisation", "case")
CHOOSER_DATES = tuple(f"{kind}-{end}" for kind in KINDS for end in ("from", "to"))


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return binding.query(request, {"page": MAX_ID}, dates=("from", "to"))


@get("/audit/reports", name="access_reports", opt=ONE_STEP)
async def chooser(request: Request[Any, Any, Any]) -> Any:
    def work(uow: UnitOfWork, viewer: Viewer) -> Any:
        params = binding.query(request, dict.fromkeys(KINDS, MAX_ID), dates=CHOOSER_DATES)
        options = audit_view.filter_options(uow, viewer.actor)  # refuses all but the dpo
        try:
            choice = access_report.choice_from_params(params)
        except InvalidInput as exc:
            errors, choice = exc.errors, None
        else:
            errors = {}
        if choice is not None:
            return see_other(choice.path + (f"?{urlencode(choice.dates)}" if choice.dates else ""))
        return page(
            request,
            "audit/reports/choose.html",
            viewer,
            options=options,
            values=params,
            errors=errors,
            status_code=422 if errors else 200,
        )

    return await read_as_viewer(request, work)


# The CSV's media type is the handler's: a Stream takes it from there, while the page's
# Template keeps the HTML type `page` gives it.
@get(
    "/audit/reports/{subject:str}/{ref:str}",
    name="access_report",
    sync_to_thread=True,
    media_type=CSV,
)
def report(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    subject: FromPath[str],
    ref: FromPath[str],
) -> Any:
    """`/audit/reports/case/12` is the page, `/audit/reports/case/12.csv` its CSV."""
    params = _params(request)
    settings: Settings = request.app.state.settings
    subject_id = str(binding.path_id(ref.removesuffix(".csv")))
    query = access_report.query_from_params(subject, subject_id, params, settings)
    if ref.endswith(".csv"):
        filename = f"access-{query.subject}-{query.subject_id}-{uow.now:%Y%m%d-%H%M%S}.csv"
        return Stream(
            access_report.export_report(uow, viewer.actor, query),
            media_type=CSV,
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )
    result = access_report.access_report(uow, viewer.actor, query)
    dates = urlencode({k: params[k] for k in ("from", "to") if params.get(k)})
    return page(request, "audit/reports/report.html", viewer, report=result, dates=dates)


ROUTES = [chooser, report]
