"""Panel meetings: the list, scheduling, the meeting page with its agenda, contributions,
decisions, and the meeting's own moves (hold, approve minutes, cancel)."""

from datetime import UTC
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath
from litestar.response import Template

from referral.domain.errors import InvalidInput
from referral.i18n import N_
from referral.services import meetings, panel
from referral.services.referrals import REFERRAL_WORKFLOW
from referral.services.uow import UnitOfWork
from referral.web import done
from referral.web.controllers.binding import form_datetime, version_number, whole_number
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.render import page, see_other


def outcomes(uow: UnitOfWork) -> dict[str, str]:
    """The panel's choices (each outcome's word -> its label), from the referral workflow."""
    decisions = panel.decision_outcomes(uow.workflow(REFERRAL_WORKFLOW))
    return {outcome: t.shown_as for outcome, t in decisions.items()}


@get("/meetings", name="meetings", opt=ONE_STEP)
async def list_meetings(request: Request[Any, Any, Any]) -> Template:
    asked = meetings.ListMeetings(past_after=str(request.query_params.get("after", ""))[:80])

    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        overview = meetings.meetings_overview(uow, viewer.actor, asked)
        return page(request, "meetings/list.html", viewer, overview=overview, values={}, errors={})

    return await read_as_viewer(request, work)


def schedule_from_form(form: Form) -> tuple[panel.ScheduleMeeting | None, dict[str, str]]:
    errors: dict[str, str] = {}
    when = form_datetime(str(form.get("scheduled_for", "")))
    if when is None:
        errors["scheduled_for"] = "Enter the date and time of the meeting."
    elif when.tzinfo is not None:
        when = when.astimezone(UTC)
    # A time without a zone is the network's local time: the service reads it so.
    chair = whole_number(str(form.get("chair_user_id", "")))
    if chair is None:
        errors["chair_user_id"] = N_("Choose who chairs the meeting.")
    invited = [whole_number(str(v)) for v in form.getall("attendee_user_ids", [])]
    if None in invited:
        errors["attendee_user_ids"] = N_("Choose the invitees from the list.")
    if errors or when is None or chair is None:
        return None, errors
    command = panel.ScheduleMeeting(
        scheduled_for=when,
        chair_user_id=chair,
        attendee_user_ids=tuple(i for i in invited if i is not None),
        location=str(form.get("location", "")).strip()[:200],
    )
    return command, errors


@post("/meetings", name="schedule_meeting", sync_to_thread=True, status_code=303)
def schedule(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form) -> Any:
    command, errors = schedule_from_form(form)
    try:
        if command is None:
            raise InvalidInput("the meeting has errors", errors)
        meeting_id = meetings.schedule(uow, viewer.actor, command)
    except InvalidInput as exc:
        overview = meetings.meetings_overview(uow, viewer.actor, meetings.ListMeetings())
        values = {key: form.getall(key) if key == "attendee_user_ids" else form.get(key)
                  for key in form}  # fmt: skip
        return page(
            request,
            "meetings/list.html",
            viewer,
            overview=overview,
            values=values,
            errors={**errors, **messages(exc, "scheduled_for")},
            status_code=422,
        )
    return see_other(f"/meetings/{meeting_id}")


def meeting_page(
    request: Request[Any, Any, Any],
    uow: UnitOfWork,
    viewer: Viewer,
    meeting_id: int,
    *,
    summon_values: dict[str, Any] | None = None,
    summon_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    """The meeting page; after a refused summons, with the form's values and errors."""
    meeting = meetings.show_meeting(uow, viewer.actor, meetings.ShowMeeting(meeting_id))
    return page(
        request,
        "meetings/show.html",
        viewer,
        meeting=meeting,
        outcomes=outcomes(uow),
        meeting_triggers=uow.workflow(panel.WORKFLOW).trigger_labels,
        destructive=uow.workflow(panel.WORKFLOW).destructive_triggers,
        fields=meetings.PANEL_FIELDS,
        summon_values=summon_values or {},
        summon_errors=summon_errors or {},
        status_code=status_code,
        done_message="" if status_code != 200 else done.message(done.MEETING, request),
    )


@get("/meetings/{meeting_id:int}", name="meeting", opt=ONE_STEP)
async def show(request: Request[Any, Any, Any], meeting_id: FromPath[int]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        return meeting_page(request, uow, viewer, meeting_id)

    return await read_as_viewer(request, work)


def messages(exc: InvalidInput, default_field: str) -> dict[str, str]:
    """Field -> sentence: services give terse codes ("required"), forms want the message."""
    errors = exc.errors or {default_field: exc.message}
    return {key: value if value.endswith(".") else exc.message for key, value in errors.items()}


def _form_error(
    request: Request[Any, Any, Any],
    uow: UnitOfWork,
    viewer: Viewer,
    kind: str,
    meeting_id: int,
    case_id: int,
    form: FormMultiDict,
    exc: InvalidInput,
) -> Template:
    """A case's form again, beside its errors, on a page of its own."""
    return page(
        request,
        "meetings/form_error.html",
        viewer,
        partial=f"meetings/_{kind}_form.html",
        kind=kind,
        meeting_id=meeting_id,
        case_id=case_id,
        values={key: form.get(key) for key in form},
        errors=messages(exc, "body" if kind == "contribution" else "rationale"),
        outcomes=outcomes(uow),
        status_code=422,
    )


@post(
    "/meetings/{meeting_id:int}/cases/{case_id:int}/contributions",
    name="contribute",
    sync_to_thread=True,
    status_code=303,
)
def contribute(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    meeting_id: FromPath[int],
    case_id: FromPath[int],
) -> Any:
    command = panel.AddContribution(case_id, meeting_id, str(form.get("body", "")))
    try:
        panel.add_contribution(uow, viewer.actor, command)
    except InvalidInput as exc:
        return _form_error(request, uow, viewer, "contribution", meeting_id, case_id, form, exc)
    return see_other(f"/meetings/{meeting_id}?done=contribution#case-{case_id}")


@post(
    "/meetings/{meeting_id:int}/cases/{case_id:int}/decision",
    name="decide",
    sync_to_thread=True,
    status_code=303,
)
def decide(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    meeting_id: FromPath[int],
    case_id: FromPath[int],
) -> Any:
    command = panel.RecordDecision(
        case_id=case_id,
        meeting_id=meeting_id,
        outcome=str(form.get("outcome", "")),
        rationale=str(form.get("rationale", "")),
        dissent=str(form.get("dissent", "")),
        outcome_for_referrer=str(form.get("outcome_for_referrer", "")),
        expected_version=version_number(str(form.get("expected_version", ""))),
    )
    try:
        panel.record_panel_decision(uow, viewer.actor, command)
    except InvalidInput as exc:
        return _form_error(request, uow, viewer, "decision", meeting_id, case_id, form, exc)
    return see_other(f"/meetings/{meeting_id}?done=decision#case-{case_id}")


@post("/meetings/{meeting_id:int}/agenda", name="set_agenda", sync_to_thread=True, status_code=303)
def set_agenda(uow: Uow, viewer: CurrentViewer, form: Form, meeting_id: FromPath[int]) -> Any:
    chosen = (whole_number(str(v)) for v in form.getall("case_ids", []))
    case_ids = tuple(i for i in chosen if i is not None)
    panel.set_agenda(uow, viewer.actor, panel.SetAgenda(meeting_id, case_ids))
    return see_other(f"/meetings/{meeting_id}?done=agenda")


@post("/meetings/{meeting_id:int}/move", name="move_meeting", sync_to_thread=True, status_code=303)
def move(uow: Uow, viewer: CurrentViewer, form: Form, meeting_id: FromPath[int]) -> Any:
    command = panel.MoveMeeting(
        meeting_id, str(form.get("trigger", "")), minutes=str(form.get("minutes", ""))
    )
    panel.move_meeting(uow, viewer.actor, command)
    return see_other(f"/meetings/{meeting_id}?done=moved")


ROUTES = [list_meetings, schedule, show, contribute, decide, set_agenda, move]
