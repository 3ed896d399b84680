"""Panel meetings: schedule, set the agenda, contribute, decide, hold, approve minutes."""

from dataclasses import dataclass, replace
from datetime import datetime

from referral.db.tables import (
    AgendaItem,
    Case,
    Contribution,
    Decision,
    MeetingAttendee,
    Network,
    PanelMeeting,
    RoleAssignment,
)
from referral.domain import clock, states
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.i18n import N_
from referral.services import case_operations, summons
from referral.services.access import authorise, record, write_fields
from referral.services.flow import Moved, case_workflow, fire_case, fire_linked, load_case
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via
from referral.workflow.schema import Transition, Workflow

WORKFLOW = "panel_meeting"


@dataclass(frozen=True)
class ScheduleMeeting:
    scheduled_for: datetime
    chair_user_id: int
    attendee_user_ids: tuple[int, ...]
    location: str = ""


def schedule_meeting(uow: UnitOfWork, actor: Actor, command: ScheduleMeeting) -> int:
    if command.scheduled_for.tzinfo is None:
        raise InvalidInput("give the meeting time with its time zone", {"scheduled_for": "naive"})
    decision = authorise(uow, actor, "meeting:schedule", None)
    scope = uow.scoped(actor)
    invited = {command.chair_user_id, *command.attendee_user_ids}
    # Only people who hold a role in this network may be invited to its panel.
    known = set(
        scope.all(scope.select(RoleAssignment.user_id).where(RoleAssignment.user_id.in_(invited)))
    )
    if invited - known:
        missing = ", ".join(map(str, sorted(invited - known)))
        raise InvalidInput(
            "no user with id {missing} in this network",
            {"attendee_user_ids": N_("unknown user")},
            missing=missing,
        )
    meeting = PanelMeeting(
        network_id=actor.network_id,
        state=uow.workflow(WORKFLOW).initial,
        scheduled_for=command.scheduled_for,
        location=command.location,
        chair_user_id=command.chair_user_id,
    )
    scope.add(meeting)
    uow.flush()
    scope.add_all(MeetingAttendee(meeting_id=meeting.id, user_id=u) for u in sorted(invited))
    uow.audit(
        record(
            actor,
            "meeting:schedule",
            decision,
            target=f"meeting:{meeting.id}",
            change={"attendees": sorted(invited), "at": command.scheduled_for.isoformat()},
        )
    )
    uow.commit()
    return meeting.id


def time_zone_of(uow: UnitOfWork, network_id: int) -> str:
    """The network's time zone (its IANA name): meeting times are entered and read in it."""
    network = uow.unscoped("a network's time zone, for its meeting times").get(Network, network_id)
    return network.time_zone if network is not None else "UTC"


def before_its_day(uow: UnitOfWork, meeting: PanelMeeting) -> bool:
    """Whether today, in the network's time zone, is still before the meeting's own day
    there (a meeting is held on its day, as the people of its network count days)."""
    zone = time_zone_of(uow, meeting.network_id)
    return clock.local_day(uow.now, zone) < clock.local_day(meeting.scheduled_for, zone)


NOT_HELD_YET = (
    "The meeting has not been held yet: record decisions once it has been marked as held."
)


def decisions_open(meeting: PanelMeeting) -> bool:
    """The panel's decisions are recorded once the meeting is held, until its minutes
    are approved (or it is called off)."""
    return meeting.state == states.name(states.MEETING, "held")


def _require_decisions_open(meeting: PanelMeeting) -> None:
    if decisions_open(meeting):
        return
    if meeting.state in states.names(states.MEETING, "scheduled", "agenda_set"):
        raise Conflict(NOT_HELD_YET)
    raise Conflict(
        "This meeting's minutes are approved or it was cancelled: it takes no more decisions."
    )


def _meeting(uow: UnitOfWork, actor: Actor, meeting_id: int) -> PanelMeeting:
    meeting = uow.scoped(actor).repo.meeting(meeting_id)
    if meeting is None:
        raise NotFound("meeting {meeting} not found", meeting=meeting_id)
    return meeting


@dataclass(frozen=True)
class SetAgenda:
    meeting_id: int
    case_ids: tuple[int, ...]


def set_agenda(uow: UnitOfWork, actor: Actor, command: SetAgenda) -> list[Moved]:
    """Put cases on a meeting's agenda; cases awaiting panel move to panel review."""
    if not command.case_ids:
        raise InvalidInput("choose at least one case for the agenda", {"case_ids": "required"})
    meeting = _meeting(uow, actor, command.meeting_id)
    moved = []
    case_facts = []
    for case_id in command.case_ids:
        loaded = load_case(uow, actor, case_id)
        case, facts = loaded.case, loaded.facts
        authorise(uow, actor, "meeting:set_agenda", facts, case_id=case.id)
        case_operations.require(uow, case, "set_agenda")
        case_facts.append(facts)
        if not uow.repo.agenda_has(meeting.id, case.id):
            position = uow.repo.next_agenda_position(meeting.id)
            uow.scoped(actor).add(
                AgendaItem(meeting_id=meeting.id, case_id=case.id, position=position)
            )
            uow.flush()
        to_panel = case_workflow(uow, case).one_via(Via.AGENDA, case.state)
        if to_panel is not None:
            # The case is on this meeting's agenda now: on an open agenda if the meeting
            # is open. Nothing else a guard reads has changed since the case was loaded.
            on_open = loaded.guards.on_open_agenda or meeting.state in states.open_meetings()
            guards = replace(loaded.guards, on_open_agenda=on_open)
            moved.append(fire_case(uow, actor, case, facts, to_panel.trigger, guards=guards))
    # The meeting moves when its agenda is first set; adding to a set agenda moves nothing.
    agenda_set = uow.workflow(WORKFLOW).one_via(Via.AGENDA, meeting.state)
    if agenda_set is not None and agenda_set.dest != meeting.state:
        fire_linked(
            uow,
            actor,
            meeting,
            WORKFLOW,
            agenda_set.trigger,
            # The meeting moves because of these cases: judge it as for the first of them.
            case_facts[0],
            uow.repo.meeting_guard_facts(meeting),
            case_id=None,
            target=f"meeting:{meeting.id}",
            change={"cases": sorted(command.case_ids)},
        )
    uow.commit()
    return moved


@dataclass(frozen=True)
class AddContribution:
    case_id: int
    meeting_id: int
    body: str


def open_for_contributions(meeting: PanelMeeting) -> bool:
    """Agencies contribute until the minutes are approved (or the meeting is called off)."""
    return meeting.state in states.names(states.MEETING, "scheduled", "agenda_set", "held")


def add_contribution(uow: UnitOfWork, actor: Actor, command: AddContribution) -> int:
    """An agency's contribution to the deliberation on a case on the agenda."""
    if not command.body.strip():
        raise InvalidInput("write the contribution", {"body": "required"})
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    meeting = _meeting(uow, actor, command.meeting_id)
    if not open_for_contributions(meeting):
        raise Conflict("this meeting's minutes are approved: it takes no more contributions")
    case_operations.require(uow, case, "contribute")
    if not uow.repo.agenda_has(meeting.id, case.id):
        raise Conflict(
            "case {case} is not on the agenda of meeting {meeting}",
            case=case.id,
            meeting=meeting.id,
        )
    contribution = Contribution(
        case_id=case.id,
        meeting_id=meeting.id,
        organisation_id=actor.organisation_id,
        author_user_id=actor.user_id,
        created_at=uow.now,
    )
    write_fields(
        uow, actor, contribution, facts, {"body": command.body.strip()}, action="case:contribute"
    )
    uow.scoped(actor).add(contribution)
    uow.flush()
    decision = uow.authz.decide(actor, "deliberation", "write", facts, uow.now)
    uow.audit(
        record(
            actor,
            "case:contribute",
            decision,
            case_id=case.id,
            target=f"contribution:{contribution.id}",
            categories=("deliberation",),
            change={"body": command.body},
        )
    )
    uow.commit()
    return contribution.id


def decision_outcomes(workflow: Workflow) -> dict[str, Transition]:
    """Each outcome a panel may decide (its word) -> the transition that records it."""
    return {t.outcome: t for t in workflow.via(Via.PANEL_DECISION) if t.outcome}


@dataclass(frozen=True)
class RecordDecision:
    case_id: int
    meeting_id: int
    outcome: str
    rationale: str
    dissent: str = ""
    outcome_for_referrer: str = ""
    expected_version: int | None = None


def record_panel_decision(uow: UnitOfWork, actor: Actor, command: RecordDecision) -> Moved:
    """The panel's decision by consensus, with its rationale, attendees and any dissent.
    The outcomes are the case workflow's transitions via the panel's decision."""
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    outcomes = decision_outcomes(case_workflow(uow, case))
    if command.outcome not in outcomes:
        raise InvalidInput(
            "unknown decision '{outcome}'; choose {choices}",
            {"outcome": "unknown"},
            outcome=command.outcome,
            choices=", ".join(outcomes),
        )
    if not command.rationale.strip():
        raise InvalidInput("record the rationale for the decision", {"rationale": "required"})
    trigger = outcomes[command.outcome].trigger
    meeting = _meeting(uow, actor, command.meeting_id)
    case_operations.require(uow, case, "decide")
    if not uow.repo.agenda_has(meeting.id, case.id):
        raise Conflict(
            "case {case} is not on the agenda of meeting {meeting}",
            case=case.id,
            meeting=meeting.id,
        )
    # Decisions wait for the meeting to be held; one who may not decide at all hears
    # that instead (fire_case refuses and audits it).
    transition = outcomes[command.outcome]
    if uow.authz.permission(actor, transition.permission, facts, uow.now).allowed:
        _require_decisions_open(meeting)
    decision_row = Decision(
        case_id=case.id,
        meeting_id=meeting.id,
        recorded_by=actor.user_id,
        recorded_at=uow.now,
    )
    values = {
        "outcome": command.outcome,
        "rationale": command.rationale.strip(),
        "dissent": command.dissent.strip(),
        "attendee_user_ids": uow.repo.attendee_ids(meeting.id),
    }
    write_fields(uow, actor, decision_row, facts, values, action=f"case:{trigger}")
    uow.scoped(actor).add(decision_row)
    if command.outcome_for_referrer.strip():
        case.outcome_for_referrer = command.outcome_for_referrer.strip()
    moved = fire_case(
        uow,
        actor,
        case,
        facts,
        trigger,
        expected_version=command.expected_version,
        categories=("deliberation",),
        change=values,
        guards=loaded.guards,  # the decision row changes nothing a guard reads
    )
    uow.commit()
    return moved


@dataclass(frozen=True)
class MoveMeeting:
    meeting_id: int
    trigger: str
    minutes: str = ""


def move_meeting(uow: UnitOfWork, actor: Actor, command: MoveMeeting) -> str:
    """Hold a meeting, approve its minutes, or cancel it."""
    meeting = _meeting(uow, actor, command.meeting_id)
    transition = uow.workflow(WORKFLOW).transition(command.trigger, meeting.state)
    via = transition.via if transition is not None else None
    if via is not None and via != Via.MINUTES:
        raise InvalidInput(
            "'{trigger}' is made by its own form", {"trigger": "own form"}, trigger=command.trigger
        )
    if (
        transition is not None
        and transition.dest == states.name(states.MEETING, "held")
        and before_its_day(uow, meeting)
    ):
        # A meeting is held on its day (in its network's time zone): one "held" early
        # would open the decisions.
        local = clock.to_local(meeting.scheduled_for, time_zone_of(uow, meeting.network_id))
        raise Conflict(
            "this meeting is set for {day:%d %B %Y}: mark it as held on or after that day",
            day=local,
        )
    if command.minutes.strip() or via == Via.MINUTES:
        for case in agenda_cases(uow, actor, meeting.id):
            case_operations.require(uow, case, "record_minutes")
    if command.minutes.strip():
        meeting.minutes = command.minutes.strip()
    state = fire_linked(
        uow,
        actor,
        meeting,
        WORKFLOW,
        command.trigger,
        None,
        uow.repo.meeting_guard_facts(meeting),
        case_id=None,
        target=f"meeting:{meeting.id}",
        categories=("deliberation",) if command.minutes.strip() else (),
    )
    # Minutes approved (or the meeting cancelled): summoned officials' access ends with it.
    summons.end_for_meeting(uow, actor, meeting)
    uow.commit()
    return state


def agenda_cases(uow: UnitOfWork, actor: Actor, meeting_id: int) -> list[Case]:
    """The cases on a meeting's agenda (the meeting came through the actor's scope)."""
    scope = uow.scoped(actor)
    statement = (
        scope.select(Case)
        .join(AgendaItem, AgendaItem.case_id == Case.id)
        .where(AgendaItem.meeting_id == meeting_id)
        .order_by(AgendaItem.position)
    )
    return list(scope.scalars(statement))
