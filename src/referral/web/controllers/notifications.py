"""Notices in the app: the list behind the bell, and marking them read."""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from referral.services import notifications
from referral.services.uow import UnitOfWork
from referral.web.controllers.binding import whole_number
from referral.web.deps import ONE_STEP, CurrentViewer, Uow, Viewer, read_as_viewer
from referral.web.render import page, see_other


@get("/notifications", name="notifications", opt=ONE_STEP)
async def list_notices(request: Request[Any, Any, Any]) -> Template:
    before = whole_number(str(request.query_params.get("before", "")))

    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        listed = notifications.notice_page(uow, viewer.actor, before=before)
        return page(
            request,
            "notifications/list.html",
            viewer,
            notices=listed.notices,
            older=listed.older,
            paged=before is not None,
        )

    return await read_as_viewer(request, work)


@post(
    "/notifications/{notification_id:int}/read",
    name="mark_notice_read",
    sync_to_thread=True,
    status_code=303,
)
def mark_read(uow: Uow, viewer: CurrentViewer, notification_id: FromPath[int]) -> Redirect:
    notifications.mark_read(uow, viewer.actor, notifications.MarkRead(notification_id))
    return see_other("/notifications")


@post("/notifications/read", name="mark_all_notices_read", sync_to_thread=True, status_code=303)
def mark_all_read(uow: Uow, viewer: CurrentViewer) -> Redirect:
    notifications.mark_read(uow, viewer.actor, notifications.MarkRead())
    return see_other("/notifications")


ROUTES = [list_notices, mark_read, mark_all_read]
