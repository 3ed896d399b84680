"""Panel meetings as the pages show them: the list, the scheduling options, and one
meeting with its agenda read case by case under the policy."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true

from referral.db.tables import (
    AgendaItem,
    Case,
    MeetingAttendee,
    MeetingSummons,
    Organisation,
    PanelMeeting,
    RoleAssignment,
    User,
)
from referral.domain import clock, states
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound, PermissionDenied
from referral.domain.vocabulary import Category, Role
from referral.i18n import N_
from referral.services import case_operations, panel, referrals, summons
from referral.services.access import record
from referral.services.queue import parse_position, position_of
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via
from referral.workflow.schema import WorkflowObject

MEETING_ROLES = frozenset(
    {Role.COORDINATOR, Role.PANEL_MEMBER, Role.PANEL_CHAIR, Role.INVITED_OFFICIAL}
)
INVITEE_ROLES = (Role.PANEL_MEMBER, Role.PANEL_CHAIR, Role.COORDINATOR)
# What a panel needs to see of a case, in reading order; each obeys the policy.
PANEL_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "referring_org_kind",
    "concern_summary",
    "concern_types",
    "narrative",
    "health",
    "religion",
    "ethnicity",
    "other_special",
    "criminal_information",
    "deconfliction_result",
    "screening_notes",
    "vulnerability_assessment",
    "risk_rating",
    "support_plan",
)


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    organisation: str


@dataclass(frozen=True)
class MeetingRow:
    meeting_id: int
    state: str
    scheduled_for: datetime  # in the network's time zone (aware), as the pages show it
    location: str
    chair: str
    agenda_size: int
    upcoming: bool
    at: datetime | None = None  # the stored (UTC) time: where a page of the list ends


@dataclass(frozen=True)
class ScheduleOptions:
    chairs: list[Person]
    invitees: list[Person]


@dataclass(frozen=True)
class MeetingsOverview:
    meetings: list[MeetingRow]
    schedule: ScheduleOptions | None
    past_after: str = ""  # this page of past meetings starts after that position
    next_past: str = ""  # the next page of past meetings starts after this one
    time_zone: str = "UTC"  # the network's: times are shown and entered in it


@dataclass(frozen=True)
class ListMeetings:
    limit: int = 200  # upcoming meetings: every one, up to this many
    past_limit: int = 25  # past meetings: a page at a time, latest first
    past_after: str = ""  # a position from a previous page's `next_past`


def _require_meeting_role(actor: Actor) -> None:
    if not MEETING_ROLES & actor.roles:
        raise PermissionDenied("only coordinators and panel members see panel meetings")


def _visible_meetings(actor: Actor, now: datetime) -> ColumnElement[bool]:
    """Of the network's meetings (the scope selects those), the ones the actor may see:
    all for a coordinator, otherwise those they are invited to, and those they are
    summoned to while the summons is open (services.summons)."""
    if Role.COORDINATOR in actor.roles:
        return true()
    invited = select(MeetingAttendee.meeting_id).where(MeetingAttendee.user_id == actor.user_id)
    if Role.INVITED_OFFICIAL not in actor.roles:
        return PanelMeeting.id.in_(invited)
    return or_(PanelMeeting.id.in_(invited), summons.live_summons(actor, now))


def meetings_overview(uow: UnitOfWork, actor: Actor, query: ListMeetings) -> MeetingsOverview:
    """The meetings the actor may see, upcoming first; for a coordinator, what to schedule with."""
    _require_meeting_role(actor)
    agenda_size = (
        select(func.count(AgendaItem.id))
        .where(AgendaItem.meeting_id == PanelMeeting.id)
        .scalar_subquery()
    )
    scope = uow.scoped(actor)
    visible = (
        scope.select(PanelMeeting, User.display_name, agenda_size)
        .join(User, User.id == PanelMeeting.chair_user_id)
        .where(_visible_meetings(actor, uow.now))
    )
    position = parse_position(query.past_after)
    upcoming = (
        scope.execute(
            visible.where(PanelMeeting.scheduled_for >= uow.now)
            .order_by(PanelMeeting.scheduled_for, PanelMeeting.id)
            .limit(query.limit)
        ).all()
        if position is None  # the upcoming ones head the first page only
        else []
    )
    past = visible.where(PanelMeeting.scheduled_for < uow.now)
    if position is not None and position.due_at is not None:
        at, meeting_id = position.due_at, position.case_id
        past = past.where(
            or_(
                PanelMeeting.scheduled_for < at,
                and_(PanelMeeting.scheduled_for == at, PanelMeeting.id < meeting_id),
            )
        )
    earlier = scope.execute(
        past.order_by(PanelMeeting.scheduled_for.desc(), PanelMeeting.id.desc()).limit(
            query.past_limit + 1
        )
    ).all()
    more, earlier = len(earlier) > query.past_limit, earlier[: query.past_limit]
    zone = panel.time_zone_of(uow, actor.network_id)
    meetings = [
        MeetingRow(m.id, m.state, clock.to_local(m.scheduled_for, zone), m.location, chair,
                   size or 0, m.scheduled_for >= uow.now, at=m.scheduled_for)
        for m, chair, size in [*upcoming, *earlier]
    ]  # fmt: skip
    last = meetings[-1] if more and meetings else None
    return MeetingsOverview(
        meetings,
        _schedule_options(uow, actor),
        past_after=query.past_after,
        next_past=position_of(last.at or last.scheduled_for, last.meeting_id) if last else "",
        time_zone=zone,
    )


def _people(uow: UnitOfWork, actor: Actor, roles: Sequence[Role]) -> list[Person]:
    scope = uow.scoped(actor)
    holders = scope.select(RoleAssignment.user_id).where(RoleAssignment.role.in_(roles))
    rows = scope.execute(
        scope.select(User.id, User.display_name, Organisation.name)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.id.in_(holders), User.active.is_(True))
        .order_by(User.display_name, User.id)
    ).all()
    return [Person(user_id, name, org) for user_id, name, org in rows]


def _schedule_options(uow: UnitOfWork, actor: Actor) -> ScheduleOptions | None:
    if not uow.authz.decide(actor, "meeting", "schedule", None, uow.now).allowed:
        return None
    return ScheduleOptions(
        chairs=_people(uow, actor, (Role.PANEL_CHAIR,)),
        invitees=_people(uow, actor, INVITEE_ROLES),
    )


def schedule(uow: UnitOfWork, actor: Actor, command: panel.ScheduleMeeting) -> int:
    """Schedule a meeting, its chair and invitees chosen from the network's panel people.
    A time without a zone (the form's) is the network's local time; it is stored in UTC."""
    if command.scheduled_for.tzinfo is None:
        zone = panel.time_zone_of(uow, actor.network_id)
        command = replace(command, scheduled_for=clock.to_utc(command.scheduled_for, zone))
    options = _schedule_options(uow, actor)
    if options is not None:
        errors = {}
        if command.chair_user_id not in {p.user_id for p in options.chairs}:
            errors["chair_user_id"] = N_("Choose the chair from the network's panel chairs.")
        allowed = {p.user_id for p in options.invitees}
        if set(command.attendee_user_ids) - allowed:
            errors["attendee_user_ids"] = N_(
                "Invite only the network's panel members or coordinators."
            )
        if errors:
            raise InvalidInput("the meeting has errors", errors)
    # Without options the actor may not schedule: the service says so, and audits it.
    return panel.schedule_meeting(uow, actor, command)


# -- one meeting ------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowMeeting:
    meeting_id: int


@dataclass(frozen=True)
class AgendaCase:
    """One case on the agenda, as this viewer may see it now (view None: not at all)."""

    case_id: int
    position: int
    view: referrals.CaseView | None = None
    contributions: list[dict[str, object]] = field(default_factory=list)
    decisions: list[dict[str, object]] = field(default_factory=list)
    may_contribute: bool = False
    may_decide: bool = False
    # The viewer will record the decision, once the meeting has been marked as held.
    decides_once_held: bool = False
    # Whether the case's own page is open to the viewer (a summons opens the agenda only).
    may_open: bool = False


@dataclass(frozen=True)
class CaseOption:
    case_id: int
    referring_org_kind: str
    due_at: datetime | None
    reference: str = ""


@dataclass(frozen=True)
class SummonedRow:
    """An official summoned to the meeting, as its chair and coordinators see them."""

    name: str
    organisation: str
    window_start: datetime
    window_end: datetime
    ended: str | None


@dataclass(frozen=True)
class MeetingPage:
    meeting_id: int
    state: str
    scheduled_for: datetime  # in the network's time zone (aware), as the page shows it
    location: str
    chair: Person
    attendees: list[Person]
    agenda: list[AgendaCase]
    organisations: dict[int, str]
    minutes: str | None
    triggers: list[str]
    candidates: list[CaseOption]
    minutes_trigger: str | None  # the move the minutes form makes, when the actor may
    may_summon: bool = False  # the actor may summon an official to it now
    summoned: list[SummonedRow] = field(default_factory=list)
    time_zone: str = "UTC"  # the network's: the meeting's time is shown in it

    @property
    def may_write_minutes(self) -> bool:
        return self.minutes_trigger is not None


def _meeting_for(uow: UnitOfWork, actor: Actor, meeting_id: int) -> PanelMeeting:
    """The meeting if the actor may see it; otherwise "not found", never "forbidden"."""
    if not MEETING_ROLES & actor.roles:
        raise NotFound("meeting {meeting} not found", meeting=meeting_id)
    scope = uow.scoped(actor)
    meeting: PanelMeeting | None = scope.scalars(
        scope.select(PanelMeeting).where(
            PanelMeeting.id == meeting_id, _visible_meetings(actor, uow.now)
        )
    ).first()
    if meeting is None:
        raise NotFound("meeting {meeting} not found", meeting=meeting_id)
    return meeting


def _agenda_case(
    uow: UnitOfWork, actor: Actor, item: AgendaItem, visible: bool, meeting: PanelMeeting
) -> AgendaCase:
    if not visible:
        return AgendaCase(item.case_id, item.position)
    # Read as on this meeting's page: a summons opens its agenda here only. Audited there.
    view = referrals.read_case(uow, actor, item.case_id, at_meeting=item.meeting_id)
    case = uow.scoped(actor).repo.case(item.case_id)
    assert case is not None  # read_case found it a moment ago
    outside = uow.repo.case_facts(case, actor)
    facts = outside.at(item.meeting_id)
    mine = [r for r in view.linked.get("contributions", []) if r["meeting_id"] == item.meeting_id]
    decided = [r for r in view.linked.get("decisions", []) if r["meeting_id"] == item.meeting_id]
    writes = uow.authz.decide(actor, Category.DELIBERATION, "write", facts, uow.now).allowed
    decides = uow.authz.permission(actor, "case:decide", facts, uow.now).allowed
    decides = decides and case_operations.allowed(uow, case, "decide")
    meeting_open = panel.open_for_contributions(meeting)
    not_held = meeting.state in states.names(states.MEETING, "scheduled", "agenda_set")
    return AgendaCase(
        item.case_id,
        item.position,
        view,
        contributions=mine,
        decisions=decided,
        may_contribute=writes and meeting_open and case_operations.allowed(uow, case, "contribute"),
        # Decisions are recorded once the meeting is held (panel.record_panel_decision).
        may_decide=decides and panel.decisions_open(meeting),
        decides_once_held=decides and not_held,
        may_open=uow.authz.decide(actor, Category.STATUS, "read", outside, uow.now).allowed,
    )


def _minutes(
    uow: UnitOfWork, actor: Actor, meeting: PanelMeeting, case_ids: list[int]
) -> str | None:
    """The minutes, if the actor may read the deliberation of every case they cover."""
    if not case_ids:
        return None
    decisions = {}
    for case_id in case_ids:
        case = uow.scoped(actor).repo.case(case_id)
        if case is None:
            return None
        facts = uow.repo.case_facts(case, actor).at(meeting.id)
        decision = uow.authz.decide(actor, Category.DELIBERATION, "read", facts, uow.now)
        if not decision.allowed:
            return None
        decisions[case_id] = decision
    if meeting.minutes:
        for case_id, decision in decisions.items():
            uow.audit(
                record(
                    actor,
                    "meeting:read_minutes",
                    decision,
                    case_id=case_id,
                    target=f"meeting:{meeting.id}",
                    categories=(Category.DELIBERATION,),
                )
            )
        uow.commit()
    return meeting.minutes


def _candidates(uow: UnitOfWork, actor: Actor, meeting: PanelMeeting) -> list[CaseOption]:
    """Cases waiting for a panel that the actor may put on this meeting's agenda."""
    # The agenda takes cases until the meeting is held.
    if meeting.state not in states.names(states.MEETING, "scheduled", "agenda_set"):
        return []
    scope = uow.scoped(actor)
    where = (
        scope.case_filter(Category.STATUS, "read")
        & scope.case_filter("meeting", "set_agenda")
        & _waiting_for_panel(uow)
    )
    return [
        CaseOption(c.id, c.referring_org_kind, c.due_at, c.reference)
        for c in scope.repo.cases(where, limit=200)
    ]


def _waiting_for_panel(uow: UnitOfWork) -> ColumnElement[bool]:
    """Cases in a state that leaves them for a panel to take: those their workflow moves
    to a panel when put on an agenda (via the agenda). Cases already at a panel or
    reviewed at one may be put on an agenda too, but are not waiting for one."""
    waiting = []
    for workflow in uow.runtime.workflows.every():  # cases on earlier versions too
        if workflow.object is not WorkflowObject.CASE:
            continue
        waiting_in = [
            state
            for state in workflow.states_allowing("set_agenda")
            if workflow.one_via(Via.AGENDA, state) is not None
        ]
        if waiting_in:
            waiting.append(
                (Case.workflow_name == workflow.name)
                & (Case.workflow_version == workflow.version)
                & Case.state.in_(waiting_in)
            )
    return or_(*waiting) if waiting else false()


def _triggers(
    uow: UnitOfWork, actor: Actor, meeting: PanelMeeting, cases: Sequence[Case]
) -> list[str]:
    """Meeting transitions (other than setting the agenda) the actor may fire now; the
    minutes only where every case on the agenda is in a state that allows them."""
    workflow = uow.workflow(panel.WORKFLOW)
    minutes_allowed = all(case_operations.allowed(uow, c, "record_minutes") for c in cases)
    held = states.name(states.MEETING, "held")
    return [
        t.trigger
        for t in workflow.transitions_from(meeting.state)
        if t.via != Via.AGENDA  # the agenda form moves the meeting
        and (t.via != Via.MINUTES or minutes_allowed)
        # Not held before its day in the network's time zone (panel.move_meeting too).
        and (t.dest != held or not panel.before_its_day(uow, meeting))
        and uow.authz.permission(actor, t.permission, None, uow.now).allowed
    ]


def show_meeting(uow: UnitOfWork, actor: Actor, query: ShowMeeting) -> MeetingPage:
    """A meeting the actor may see, with each agenda case read under the policy (audited)."""
    meeting = _meeting_for(uow, actor, query.meeting_id)
    scope = uow.scoped(actor)
    # The agenda and the attendees hang off the meeting, which the scope found.
    items = scope.all(
        scope.select(AgendaItem)
        .where(AgendaItem.meeting_id == meeting.id)
        .order_by(AgendaItem.position)
    )
    case_ids = [item.case_id for item in items]
    readable = set(
        scope.scalars(
            scope.select(Case.id, readable=(Category.STATUS, "read")).where(Case.id.in_(case_ids))
        )
    ) | _summoned_readable(uow, actor, meeting.id, case_ids)
    agenda = [_agenda_case(uow, actor, item, item.case_id in readable, meeting) for item in items]
    attendees = scope.execute(
        scope.select(User.id, User.display_name, Organisation.name)
        .join(MeetingAttendee, MeetingAttendee.user_id == User.id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(MeetingAttendee.meeting_id == meeting.id)
        .order_by(User.display_name)
    ).all()
    people = [Person(*row) for row in attendees]
    chair = next(
        (p for p in people if p.user_id == meeting.chair_user_id),
        Person(meeting.chair_user_id, "", ""),
    )
    organisations: dict[int, str] = dict(
        scope.execute(scope.select(Organisation.id, Organisation.name)).all()
    )
    triggers = _triggers(uow, actor, meeting, panel.agenda_cases(uow, actor, meeting.id))
    zone = panel.time_zone_of(uow, meeting.network_id)
    return MeetingPage(
        meeting_id=meeting.id,
        state=meeting.state,
        scheduled_for=clock.to_local(meeting.scheduled_for, zone),
        location=meeting.location,
        chair=chair,
        attendees=people,
        agenda=agenda,
        organisations=organisations,
        minutes=_minutes(uow, actor, meeting, case_ids),
        triggers=triggers,
        candidates=_candidates(uow, actor, meeting),
        minutes_trigger=next(
            (t for t in triggers if uow.workflow(panel.WORKFLOW).vias.get(t) == Via.MINUTES),
            None,
        ),
        may_summon=_may_summon(uow, actor, meeting),
        summoned=_summoned(uow, actor, meeting),
        time_zone=zone,
    )


def _summoned_readable(
    uow: UnitOfWork, actor: Actor, meeting_id: int, case_ids: list[int]
) -> set[int]:
    """The agenda's cases a summons opens to the actor on this page. The list's SQL face
    cannot say (a summons opens nothing in a list), so each case of the short agenda is
    asked in Python, as on this page."""
    if Role.INVITED_OFFICIAL not in actor.roles:
        return set()
    opened = set()
    for case_id in case_ids:
        case = uow.scoped(actor).repo.case(case_id)
        if case is None:
            continue
        facts = uow.repo.case_facts(case, actor).at(meeting_id)
        if uow.authz.decide(actor, Category.STATUS, "read", facts, uow.now).allowed:
            opened.add(case_id)
    return opened


def _may_summon(uow: UnitOfWork, actor: Actor, meeting: PanelMeeting) -> bool:
    if meeting.state not in states.names(states.MEETING, "scheduled", "agenda_set"):
        return False
    if Role.COORDINATOR not in actor.roles and meeting.chair_user_id != actor.user_id:
        return False
    return uow.authz.permission(actor, summons.PERMISSION, None, uow.now).allowed


def _summoned(uow: UnitOfWork, actor: Actor, meeting: PanelMeeting) -> list[SummonedRow]:
    """Who is summoned, for those who may summon (the chair, coordinators)."""
    if Role.COORDINATOR not in actor.roles and meeting.chair_user_id != actor.user_id:
        return []
    session = uow.unscoped("officials summoned to the meeting may belong to other networks")
    rows = session.execute(
        select(MeetingSummons, User.display_name, Organisation.name)
        .join(User, User.id == MeetingSummons.user_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(MeetingSummons.meeting_id == meeting.id)
        .order_by(MeetingSummons.id)
    ).all()
    return [
        SummonedRow(name, org, s.window_start, s.window_end,
                    summons.ENDINGS.get(s.end_reason or "", s.end_reason))
        for s, name, org in rows
    ]  # fmt: skip
