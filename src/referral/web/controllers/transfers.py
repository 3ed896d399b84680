"""Transfers between networks: the incoming list, a proposal's preview, accept and decline;
the national coordinator's list across networks. Proposing is a form on the case page
(see controllers.cases)."""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from referral.domain.errors import InvalidInput
from referral.services import transfers
from referral.services.uow import UnitOfWork
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.language import error_in_language
from referral.web.render import page, see_other


@get("/transfers", name="transfers", opt=ONE_STEP)
async def listing(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        found = transfers.transfers_page(uow, viewer.actor)
        return page(request, "transfers/list.html", viewer, listing=found)

    return await read_as_viewer(request, work)


def _preview(
    request: Request[Any, Any, Any],
    uow: UnitOfWork,
    viewer: Viewer,
    proposal_id: int,
    error: InvalidInput | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    preview = transfers.preview_transfer(uow, viewer.actor, proposal_id)
    return page(
        request,
        "transfers/preview.html",
        viewer,
        status_code=422 if error else 200,
        preview=preview,
        error_message=error_in_language(request, error) if error else "",
        errors=(error.errors or {"_": error.message}) if error else {},
        values=values or {},
    )


@get("/transfers/{proposal_id:int}", name="transfer_preview", opt=ONE_STEP)
async def preview(request: Request[Any, Any, Any], proposal_id: FromPath[int]) -> Template:
    return await read_as_viewer(request, lambda uow, viewer: _preview(request, uow, viewer,
                                                                      proposal_id))  # fmt: skip


@post(
    "/transfers/{proposal_id:int}/accept",
    name="transfer_accept",
    sync_to_thread=True,
    status_code=303,
)
def accept(uow: Uow, viewer: CurrentViewer, proposal_id: FromPath[int]) -> Redirect:
    accepted = transfers.accept_transfer(uow, viewer.actor, transfers.DecideTransfer(proposal_id))
    return see_other(f"/cases/{accepted.case_id}")


@post(
    "/transfers/{proposal_id:int}/decline",
    name="transfer_decline",
    sync_to_thread=True,
    status_code=303,
)
def decline(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    proposal_id: FromPath[int],
) -> Any:
    reason = str(form.get("reason", "") or "")
    try:
        transfers.decline_transfer(uow, viewer.actor, transfers.DecideTransfer(proposal_id, reason))
    except InvalidInput as exc:
        return _preview(request, uow, viewer, proposal_id, exc, {"reason": reason})
    return see_other("/transfers?done=declined")


ROUTES: list[Any] = [listing, preview, accept, decline]
