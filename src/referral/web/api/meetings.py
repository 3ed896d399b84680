"""Panel meetings: schedule, set the agenda, contribute, decide, hold."""

from litestar import post
from litestar.params import JSONBody

from referral.services import panel
from referral.web.api.models import (
    AgendaIn,
    AgendaOut,
    ContributionIn,
    CreatedOut,
    DecisionIn,
    MeetingIn,
    MeetingTransitionIn,
    MovedOut,
    PathId,
    StateOut,
    errors,
)
from referral.web.deps import CurrentActor, Uow

TAGS = ["meetings"]
MEETING_ERRORS = errors(400, 403, 404, 409, 413, 415, 422)


@post(
    "/api/meetings",
    tags=TAGS,
    summary="Schedule a panel meeting",
    sync_to_thread=True,
    responses=errors(400, 403, 413, 415, 422),
)
def schedule_meeting(uow: Uow, actor: CurrentActor, data: JSONBody[MeetingIn]) -> CreatedOut:
    """A meeting with its chair and invited attendees."""
    command = panel.ScheduleMeeting(
        data.scheduled_for, data.chair_user_id, tuple(data.attendee_user_ids), data.location
    )
    return CreatedOut(panel.schedule_meeting(uow, actor, command))


@post(
    "/api/meetings/{meeting_id:int}/agenda",
    tags=TAGS,
    summary="Put cases on the agenda",
    status_code=200,
    sync_to_thread=True,
    responses=MEETING_ERRORS,
)
def set_agenda(
    uow: Uow, actor: CurrentActor, meeting_id: PathId, data: JSONBody[AgendaIn]
) -> AgendaOut:
    """Cases awaiting panel move to panel review."""
    moved = panel.set_agenda(uow, actor, panel.SetAgenda(meeting_id, tuple(data.case_ids)))
    return AgendaOut([MovedOut.of(m) for m in moved])


@post(
    "/api/meetings/{meeting_id:int}/cases/{case_id:int}/contributions",
    tags=TAGS,
    summary="Add your agency's contribution",
    sync_to_thread=True,
    responses=MEETING_ERRORS,
)
def add_contribution(
    uow: Uow,
    actor: CurrentActor,
    meeting_id: PathId,
    case_id: PathId,
    data: JSONBody[ContributionIn],
) -> CreatedOut:
    """Deliberation data on a case on the meeting's agenda."""
    command = panel.AddContribution(case_id, meeting_id, data.body)
    return CreatedOut(panel.add_contribution(uow, actor, command))


@post(
    "/api/meetings/{meeting_id:int}/cases/{case_id:int}/decision",
    tags=TAGS,
    summary="Record the panel's decision",
    status_code=200,
    sync_to_thread=True,
    responses=MEETING_ERRORS,
)
def record_decision(
    uow: Uow,
    actor: CurrentActor,
    meeting_id: PathId,
    case_id: PathId,
    data: JSONBody[DecisionIn],
) -> MovedOut:
    """support, signpost or no_action, with the rationale and any dissent (the chair)."""
    command = panel.RecordDecision(
        case_id,
        meeting_id,
        data.outcome,
        data.rationale,
        data.dissent,
        data.outcome_for_referrer,
        data.expected_version,
    )
    return MovedOut.of(panel.record_panel_decision(uow, actor, command))


@post(
    "/api/meetings/{meeting_id:int}/transitions",
    tags=TAGS,
    summary="Hold a meeting, approve its minutes, or cancel it",
    status_code=200,
    sync_to_thread=True,
    responses=MEETING_ERRORS,
)
def move_meeting(
    uow: Uow, actor: CurrentActor, meeting_id: PathId, data: JSONBody[MeetingTransitionIn]
) -> StateOut:
    """Fire a trigger of the panel_meeting workflow; `minutes` are deliberation data."""
    command = panel.MoveMeeting(meeting_id, data.trigger, data.minutes)
    return StateOut(meeting_id, panel.move_meeting(uow, actor, command))


ROUTES = [schedule_meeting, set_agenda, add_contribution, record_decision, move_meeting]
