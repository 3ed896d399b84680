"""Officials summoned to one panel meeting (issue 12, deliverable 6).

Like the Apex committees that "can summon officials as and when needed", a coordinator or
the meeting's chair invites someone from another organisation, another network or the
national level to one meeting, with a reason and a window. The summons:

- grants the role `invited_official` in the meeting's network (a role assignment like
  any other, so the official can act there: `enter` moves their session to it), and
  takes it back when their last live summons there ends;
- opens, through the policy's `summoned` condition, only that meeting's agenda cases, only
  on that meeting's page, only the categories a panel member of the official's
  organisation kind reads, only within the window;
- ends when the meeting leaves the open states (minutes approved, or cancelled:
  `end_for_meeting`, in the move's transaction) or when its window passes (the clock:
  `end_lapsed`). The invitation, each read (the disclosure ledger, target
  `meeting:<id>`), the entry into the network and the end are in the audit log.

Nothing here widens the network scope: the official's reads run as an actor of the
meeting's network, through its scope, like everyone else's. The only reads across
networks are an official's own summons (`own_summons`, for their landing page) and the
clock's, each on the plain session with its reason.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, update

from referral.audit.chain import AuditRecord
from referral.authz.conditions import MEETING_WINDOW
from referral.authz.enforcer import Permission
from referral.db.tables import (
    MeetingAttendee,
    MeetingSummons,
    Network,
    Organisation,
    PanelMeeting,
    RoleAssignment,
    User,
    WebSession,
)
from referral.domain import states
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from referral.domain.vocabulary import OrgKind, Role
from referral.i18n import N_
from referral.logging import get_logger
from referral.services.access import authorise, record
from referral.services.throttle import digest
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.operations import Via

log = get_logger(__name__)

PERMISSION = Permission.MEETING_SUMMON
REASON_MAX = 500
# Why a summons ended, as the landing page says it.
ENDINGS = {
    "minutes_approved": N_("the minutes of the meeting were approved"),
    "cancelled": N_("the meeting was cancelled"),
    "window_ended": N_("its time window has passed"),
}


@dataclass(frozen=True)
class Summon:
    meeting_id: int
    username: str
    reason: str
    window_start: datetime | None = None  # default: a week before the meeting, or now
    window_end: datetime | None = None  # default: a week after the meeting


def live_summons(actor: Actor, now: datetime) -> ColumnElement[bool]:
    """The meetings the actor is summoned to now (`PanelMeeting.id IN ...`): the summons
    live, its window open, its kind the actor's. The SQL face of what `summoned` reads."""
    return PanelMeeting.id.in_(
        select(MeetingSummons.meeting_id).where(
            MeetingSummons.user_id == actor.user_id,
            MeetingSummons.ended_at.is_(None),
            MeetingSummons.org_kind == actor.org_kind.value,
            MeetingSummons.window_start <= now,
            MeetingSummons.window_end >= now,
        )
    )


def summon(uow: UnitOfWork, actor: Actor, command: Summon) -> int:
    """Summon an official to one meeting of the actor's network (audited)."""
    scope = uow.scoped(actor)
    meeting = scope.repo.meeting(command.meeting_id)
    if meeting is None or not _sees(uow, actor, meeting):
        raise NotFound("meeting {meeting} not found", meeting=command.meeting_id)
    target = f"meeting:{meeting.id}"
    decision = authorise(uow, actor, PERMISSION, None, target=target)
    if Role.COORDINATOR not in actor.roles and meeting.chair_user_id != actor.user_id:
        # The policy allows chairs to summon; this meeting is not theirs: a refusal.
        refused = replace(record(actor, PERMISSION, decision, target=target), allowed=False)
        uow.refuse(
            refused,
            PermissionDenied("only the meeting's chair or a coordinator may summon an official"),
        )
    if meeting.state not in states.names(states.MEETING, "scheduled", "agenda_set"):
        raise Conflict(
            "meeting {meeting} is {state}: officials are summoned before it is held",
            meeting=meeting.id,
            state=meeting.state,
        )
    reason = command.reason.strip()
    errors = {}
    if not reason:
        errors["reason"] = N_("Say why the official is summoned.")
    elif len(reason) > REASON_MAX:
        errors["reason"] = f"Keep the reason under {REASON_MAX} characters."
    official = _official(uow, command.username)
    if official is None:
        errors["username"] = N_("No active user has that username.")
    elif official.id == actor.user_id:
        errors["username"] = N_("You cannot summon yourself.")
    starts = command.window_start or max(uow.now, meeting.scheduled_for - MEETING_WINDOW)
    ends = command.window_end or meeting.scheduled_for + MEETING_WINDOW
    if starts.tzinfo is None or ends.tzinfo is None:
        errors["window_start"] = N_("Give the window with its time zone.")
    elif not starts < ends:
        errors["window_end"] = N_("The window must end after it starts.")
    elif ends <= uow.now:
        errors["window_end"] = N_("The window must end in the future.")
    elif starts < meeting.scheduled_for - MEETING_WINDOW or ends > meeting.scheduled_for + (
        MEETING_WINDOW
    ):
        errors["window_end"] = (
            f"Keep the window within {MEETING_WINDOW.days} days either side of the meeting,"
            " as for panel members."
        )
    if errors or official is None:
        raise InvalidInput("the summons has errors", errors)
    _refuse_if_already_there(uow, meeting, official.id)
    kind = OrgKind(official.organisation.kind)
    summons = MeetingSummons(
        network_id=actor.network_id,
        meeting_id=meeting.id,
        user_id=official.id,
        org_kind=kind.value,
        invited_by_user_id=actor.user_id,
        invited_at=uow.now,
        window_start=starts,
        window_end=ends,
        reason=reason,
    )
    scope.add(summons)
    if not _holds_role(uow, actor.network_id, official.id):
        scope.add(
            RoleAssignment(
                user_id=official.id, network_id=actor.network_id, role=Role.INVITED_OFFICIAL
            )
        )
    uow.flush()
    uow.audit(
        record(
            actor,
            PERMISSION,
            decision,
            target=target,
            change={
                "summons": summons.id,
                "user": official.id,
                "org_kind": kind.value,
                "window": [starts.isoformat(), ends.isoformat()],
                "reason": reason,
            },
        )
    )
    uow.commit()
    log.info("official_summoned", meeting_id=meeting.id, summons_id=summons.id)
    return summons.id


def _sees(uow: UnitOfWork, actor: Actor, meeting: PanelMeeting) -> bool:
    """A coordinator sees every meeting of the network; anyone else those they attend."""
    if Role.COORDINATOR in actor.roles:
        return True
    scope = uow.scoped(actor)
    attends = scope.scalar(
        scope.select(MeetingAttendee.id).where(
            MeetingAttendee.meeting_id == meeting.id, MeetingAttendee.user_id == actor.user_id
        )
    )
    return attends is not None


def _official(uow: UnitOfWork, username: str) -> User | None:
    session = uow.unscoped("an official may be summoned from any network")
    user: User | None = session.scalars(
        select(User).where(User.username == username.strip(), User.active.is_(True))
    ).first()
    return user


def _refuse_if_already_there(uow: UnitOfWork, meeting: PanelMeeting, user_id: int) -> None:
    session = uow.unscoped("the official's summons and attendance, by the meeting's id")
    attends = session.scalar(
        select(MeetingAttendee.id).where(
            MeetingAttendee.meeting_id == meeting.id, MeetingAttendee.user_id == user_id
        )
    )
    if attends is not None:
        raise Conflict("that person is already invited to the meeting as a panel member")
    summoned = session.scalar(
        select(MeetingSummons.id).where(
            MeetingSummons.meeting_id == meeting.id, MeetingSummons.user_id == user_id
        )
    )
    if summoned is not None:
        raise Conflict("that official has already been summoned to this meeting")


def _holds_role(uow: UnitOfWork, network_id: int, user_id: int) -> bool:
    session = uow.unscoped("the official's role in the meeting's network")
    found = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.user_id == user_id,
            RoleAssignment.network_id == network_id,
            RoleAssignment.role == Role.INVITED_OFFICIAL.value,
        )
    )
    return found is not None


# -- the end ---------------------------------------------------------------------------


def end_for_meeting(uow: UnitOfWork, actor: Actor, meeting: PanelMeeting) -> int:
    """End the meeting's live summons once it has left the open states (minutes approved,
    or cancelled), in the caller's transaction; how many ended."""
    if meeting.state in states.open_meetings():
        return 0
    session = uow.unscoped("the meeting's summons, by the meeting's id (found in scope)")
    live = session.scalars(
        select(MeetingSummons).where(
            MeetingSummons.meeting_id == meeting.id, MeetingSummons.ended_at.is_(None)
        )
    ).all()
    ending = "minutes_approved" if meeting.state == _minutes_approved(uow) else "cancelled"
    for summons in live:
        _end(uow, actor, summons, ending)
    return len(live)


def _minutes_approved(uow: UnitOfWork) -> str:
    """The state the minutes' move leads to, from the meeting's workflow file."""
    workflow = uow.workflow("panel_meeting")
    moves = workflow.via(Via.MINUTES)
    return moves[0].dest if moves else "minutes_approved"


def _end(uow: UnitOfWork, actor: Actor, summons: MeetingSummons, ending: str) -> None:
    session = uow.unscoped("a summons and the role it granted, by their ids")
    summons.ended_at = uow.now
    summons.end_reason = ending
    others = session.scalar(
        select(MeetingSummons.id).where(
            MeetingSummons.user_id == summons.user_id,
            MeetingSummons.network_id == summons.network_id,
            MeetingSummons.ended_at.is_(None),
            MeetingSummons.id != summons.id,
        )
    )
    if others is None:
        session.execute(
            delete(RoleAssignment).where(
                RoleAssignment.user_id == summons.user_id,
                RoleAssignment.network_id == summons.network_id,
                RoleAssignment.role == Role.INVITED_OFFICIAL.value,
            )
        )
    uow.audit(
        AuditRecord(
            action="meeting:summons_ended",
            allowed=True,
            actor=actor,
            target=f"meeting:{summons.meeting_id}",
            change={"summons": summons.id, "user": summons.user_id, "ending": ending},
        )
    )
    log.info("summons_ended", summons_id=summons.id, ending=ending)


def end_lapsed(runtime: Runtime) -> int:
    """The clock's part: end every live summons whose window has passed, as the system of
    its network, one transaction for the lot; how many ended."""
    with UnitOfWork(runtime, request_id="clock") as uow:
        session = uow.unscoped("the clock ends lapsed summons in every network")
        rows = session.execute(
            select(MeetingSummons, Network.slug)
            .join(Network, Network.id == MeetingSummons.network_id)
            .where(MeetingSummons.ended_at.is_(None), MeetingSummons.window_end < uow.now)
            .order_by(MeetingSummons.id)
        ).all()
        for summons, slug in rows:
            _end(uow, system_actor(summons.network_id, slug), summons, "window_ended")
        if rows:
            uow.commit()
        return len(rows)


# -- the official's side -----------------------------------------------------------------


@dataclass(frozen=True)
class OwnSummons:
    """One of the official's summons, as their landing page shows it."""

    summons_id: int
    network: str
    network_id: int
    meeting_id: int
    scheduled_for: datetime
    window_start: datetime
    window_end: datetime
    ended: str | None  # why it ended, in words; None while live

    def open_at(self, now: datetime) -> bool:
        return self.ended is None and self.window_start <= now <= self.window_end


def own_summons(uow: UnitOfWork, user_id: int) -> list[OwnSummons]:
    """The user's own summons in every network, newest first: meeting numbers, dates and
    network names only (nothing of any case)."""
    session = uow.unscoped("a user's own summons, in every network")
    rows = session.execute(
        select(MeetingSummons, Network.name, PanelMeeting.scheduled_for)
        .join(Network, Network.id == MeetingSummons.network_id)
        .join(PanelMeeting, PanelMeeting.id == MeetingSummons.meeting_id)
        .where(MeetingSummons.user_id == user_id)
        .order_by(MeetingSummons.id.desc())
        .limit(50)
    ).all()
    found = []
    for s, network, when in rows:
        ended = s.end_reason and ENDINGS.get(s.end_reason, s.end_reason)
        if ended is None and s.window_end < uow.now:
            ended = ENDINGS["window_ended"]  # before the clock has recorded it
        found.append(
            OwnSummons(
                s.id, network, s.network_id, s.meeting_id, when, s.window_start, s.window_end,
                ended,
            )
        )  # fmt: skip
    return found


def enter(uow: UnitOfWork, user_id: int, token: str, summons_id: int) -> int:
    """Move the user's session to the network of their open summons (audited there) and
    give the meeting's id; "not found" for anything else."""
    mine = {s.summons_id: s for s in own_summons(uow, user_id)}
    found = mine.get(summons_id)
    if found is None or not found.open_at(uow.now):
        raise NotFound("that invitation is not open to you now")
    _move_session(uow, token, found.network_id)
    actor = uow.repo.actor_in(user_id, found.network_id)
    uow.audit(
        AuditRecord(
            action="meeting:summons_entered",
            allowed=True,
            actor=actor,
            target=f"meeting:{found.meeting_id}",
            change={"summons": found.summons_id},
        )
    )
    uow.commit()
    return found.meeting_id


def leave(uow: UnitOfWork, user_id: int, token: str) -> None:
    """Move the user's session back to their own organisation's network."""
    session = uow.unscoped("the user's own organisation's network")
    home = session.scalar(
        select(Organisation.network_id)
        .join(User, User.organisation_id == Organisation.id)
        .where(User.id == user_id)
    )
    if home is None:
        raise NotFound("your account is no longer active")
    _move_session(uow, token, home)
    uow.commit()


def _move_session(uow: UnitOfWork, token: str, network_id: int) -> None:
    session = uow.unscoped("the user's own web session")
    moved = session.execute(
        update(WebSession)
        .where(WebSession.token_hash == digest(token), WebSession.user_id.is_not(None))
        .values(network_id=network_id)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise NotFound("sign in again")
