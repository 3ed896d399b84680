"""The data-protection officer's break-glass reviews: the queue, and an outcome per grant.

Opening break-glass is a form on the case page (see controllers.cases).
"""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from referral.domain.errors import InvalidInput
from referral.i18n import N_
from referral.services import breakglass
from referral.services.uow import UnitOfWork
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.language import error_in_language
from referral.web.render import page, see_other

OUTCOME_LABELS = {
    "justified": N_("Justified"),
    "not_justified": N_("Not justified: access ends now"),
    "referred": N_("Referred for further action"),
}


def _render(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    *,
    failed: int | None = None,
    error: InvalidInput | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    queue = breakglass.review_queue(uow, viewer.actor)
    return page(
        request,
        "audit/breakglass.html",
        viewer,
        status_code=422 if error else 200,
        queue=queue,
        outcomes=[(o, OUTCOME_LABELS[o]) for o in breakglass.OUTCOMES],
        failed=failed,
        error_message=error_in_language(request, error) if error else "",
        errors=(error.errors or {"_": error.message}) if error else {},
        values=values or {},
    )


@get("/audit/break-glass", name="break_glass_reviews", opt=ONE_STEP)
async def reviews(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        return _render(request, uow, viewer)

    return await read_as_viewer(request, work)


@post(
    "/audit/break-glass/{grant_id:int}/outcome",
    name="break_glass_outcome",
    sync_to_thread=True,
    status_code=303,
)
def outcome(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    grant_id: FromPath[int],
) -> Any:
    values = {key: str(form.get(key, "") or "") for key in ("outcome", "notes")}
    command = breakglass.RecordOutcome(grant_id, values["outcome"], values["notes"])
    try:
        breakglass.record_outcome(uow, viewer.actor, command)
    except InvalidInput as exc:
        return _render(request, uow, viewer, failed=grant_id, error=exc, values=values)
    return see_other("/audit/break-glass")


ROUTES: list[Any] = [reviews, outcome]
