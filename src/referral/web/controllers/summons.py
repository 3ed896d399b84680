"""Officials summoned to one meeting: the chair's or coordinator's form on the meeting
page, and the official's landing page, from which they enter the meeting's network."""

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from referral.domain.errors import InvalidInput
from referral.i18n import N_
from referral.services import summons
from referral.services.uow import UnitOfWork
from referral.web.controllers.binding import form_datetime
from referral.web.controllers.meetings import meeting_page, messages
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.render import page, see_other
from referral.web.session import COOKIE


def _utc(raw: object) -> tuple[datetime | None, bool]:
    """A form's date and time in UTC; (None, True) when blank, (None, False) when bad."""
    text = str(raw or "").strip()
    if not text:
        return None, True
    when = form_datetime(text)
    if when is None:
        return None, False
    return (when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)), True


@post(
    "/meetings/{meeting_id:int}/summons",
    name="summon_official",
    sync_to_thread=True,
    status_code=303,
)
def summon(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    meeting_id: FromPath[int],
) -> Any:
    starts, starts_ok = _utc(form.get("window_start"))
    ends, ends_ok = _utc(form.get("window_end"))
    command = summons.Summon(
        meeting_id,
        str(form.get("username", ""))[:100],
        str(form.get("reason", "")),
        window_start=starts,
        window_end=ends,
    )
    try:
        if not (starts_ok and ends_ok):
            field = "window_start" if not starts_ok else "window_end"
            raise InvalidInput(
                "the summons has errors", {field: N_("Enter a date and time in UTC.")}
            )
        summons.summon(uow, viewer.actor, command)
    except InvalidInput as exc:
        uow.rollback()
        values = {key: form.get(key) for key in form if key != "_csrf"}
        return meeting_page(
            request, uow, viewer, meeting_id, summon_values=values,
            summon_errors=messages(exc, "username"), status_code=422,
        )  # fmt: skip
    return see_other(f"/meetings/{meeting_id}#summoned")


@get("/invitations", name="invitations", opt=ONE_STEP)
async def invitations(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        own = summons.own_summons(uow, viewer.actor.user_id)
        return page(request, "summons/invitations.html", viewer, own=own, now=uow.now)

    return await read_as_viewer(request, work)


@post(
    "/invitations/{summons_id:int}/enter",
    name="enter_invitation",
    sync_to_thread=True,
    status_code=303,
)
def enter(
    request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, summons_id: FromPath[int]
) -> Any:
    token = request.cookies.get(COOKIE, "")
    meeting_id = summons.enter(uow, viewer.actor.user_id, token, summons_id)
    return see_other(f"/meetings/{meeting_id}")


@post("/invitations/leave", name="leave_invitation", sync_to_thread=True, status_code=303)
def leave(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer) -> Any:
    summons.leave(uow, viewer.actor.user_id, request.cookies.get(COOKIE, ""))
    return see_other("/")


ROUTES = [summon, invitations, enter, leave]
