"""Break-glass: open a hidden category of a case; the dpo's review queue and outcomes."""

from dataclasses import asdict
from typing import Any

from litestar import Request, get, post
from litestar.params import JSONBody

from referral.config import Settings
from referral.services import breakglass
from referral.web.api.models import (
    BreakGlassIn,
    CreatedOut,
    OutcomeIn,
    PathId,
    QueuedGrantOut,
    ReviewQueueOut,
    errors,
)
from referral.web.deps import CurrentActor, Uow
from referral.web.session import confirmation

TAGS = ["break-glass"]


@post(
    "/api/cases/{case_id:int}/break-glass",
    tags=TAGS,
    summary="Break glass: open a hidden category for a while",
    sync_to_thread=True,
    responses=errors(400, 403, 404, 409, 413, 415, 422),
)
def open_break_glass(
    request: Request[Any, Any, Any],
    uow: Uow,
    actor: CurrentActor,
    case_id: PathId,
    data: JSONBody[BreakGlassIn],
) -> CreatedOut:
    """Coordinator or dpo: logged, flagged in access reports, reviewed by the dpo. The
    access lasts the deployment's `breakglass_minutes`; the case then shows it in
    `break_glass`. If you have a second factor, send a current code in the
    X-Second-Factor-Code header."""
    settings: Settings = request.app.state.settings
    command = breakglass.OpenBreakGlass(
        case_id,
        data.category,
        data.justification,
        settings.breakglass_minutes,
        confirmation(request, ""),
    )
    return CreatedOut(breakglass.open_break_glass(uow, actor, command))


@get(
    "/api/break-glass/reviews",
    tags=TAGS,
    summary="Break-glass grants waiting for review",
    sync_to_thread=True,
    responses=errors(403),
)
def review_queue(uow: Uow, actor: CurrentActor) -> ReviewQueueOut:
    """The dpo's queue, oldest first, with each justification. Reading it is audited."""
    queue = breakglass.review_queue(uow, actor)
    return ReviewQueueOut([QueuedGrantOut(**asdict(g)) for g in queue])


@post(
    "/api/break-glass/{grant_id:int}/outcome",
    tags=TAGS,
    summary="Record the outcome of a break-glass review",
    status_code=204,
    sync_to_thread=True,
    responses=errors(403, 404, 409, 413, 415, 422),
)
def record_outcome(
    uow: Uow, actor: CurrentActor, grant_id: PathId, data: JSONBody[OutcomeIn]
) -> None:
    """dpo: `justified`, `not_justified` (ends any access left) or `referred`."""
    breakglass.record_outcome(
        uow, actor, breakglass.RecordOutcome(grant_id, data.outcome, data.notes)
    )


ROUTES = [open_break_glass, review_queue, record_outcome]
