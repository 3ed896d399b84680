"""Notifications: who is told about a move, written in the move's own transaction.

A transition's `notify` (workflows/*.yaml) names kinds of recipient; `recipients` turns
each into users of the network:

- `referrer`: the user who made the referral;
- `coordinator`: the case's coordinator once one has taken it (the first coordinator to
  start screening it), before that every coordinator of the network;
- `screener`, `dpo`: every holder of that role in the network;
- `panel`: the people invited to the meeting: for a case, every open (not cancelled)
  meeting whose agenda holds it; for a meeting, that meeting. Invitation is what lets a
  panel member see a case (the `on_agenda` condition), so nobody else is told;
- `provider`: providers of the organisations delivering the case's interventions (for an
  intervention's own move, its organisation), the people the `assigned` condition lets in;
- `subject`: nobody. The person a referral is about is not a user; consent is sought in
  person and recorded by the coordinator.

Two events are not moves of a workflow, so no `notify` names their audience: a new
information request tells the asked organisation's people who may answer it (its agency
contacts, and its screeners), and an intervention's assignment tells the providers of
the organisation it is assigned to. Each is told only of their own organisation's work.

Nobody is told about their own move, except the referrer: submitting is their own move,
and its receipt ("received") is the first feedback they are owed. Inactive users are
never told.

Each notice is a row in `notifications`, flushed with the move: both commit, or neither
does (the outbox). Its e-mail is sent later by services.outbox. What a notice says is a
fixed phrase per event and a link: the transition's `tell` in its workflow file (the
referrer's phrase says the outcome of the stage and nothing else), or for the two events
that are not moves, EVENT_MESSAGES. No notice ever carries a name, a date of birth, the
concern, the narrative or anything else written about the person: the phrases are fixed
words from files, and the only data in them is a case or meeting number.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select

from referral.db import prepared
from referral.db.base import AnySelect
from referral.db.repositories import current_connection, meeting_active
from referral.db.tables import (
    AgendaItem,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    Notification,
    PanelMeeting,
    RoleAssignment,
    User,
)
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.errors import NotFound
from referral.domain.vocabulary import Role
from referral.i18n import N_
from referral.logging import get_logger
from referral.services.case_status import AnyCase
from referral.services.uow import UnitOfWork
from referral.workflow.schema import Recipient, Transition, Workflow

log = get_logger(__name__)

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
LIST_LIMIT = 100

# What people are told of a move is the transition's `tell` (workflows/*.yaml); these two
# events are not moves, so their words are here. The referrer's phrase is the outcome of
# the stage, never the content.
EVENT_MESSAGES = {
    "information_request:send": N_("an information request for your organisation"),
    "intervention:assign": N_("an intervention was assigned to your organisation"),
    "linkage:ask": N_("another network asks whether this is an earlier referral of its case"),
    "linkage:confirm": N_("the other network confirmed the possible earlier referral"),
    "linkage:reject": N_("the other network rejected the possible earlier referral"),
}

# Why writing notices is not scoped to the mover: a move's notices go to the people of the
# case's (or meeting's) network, whoever moved it, a person or the system.
NOTICES = "notices go to the people of the moved object's network"


@dataclass(frozen=True)
class Audience:
    """The people one notice goes to, and the words and link they get."""

    user_ids: frozenset[int]
    message: str
    link: str
    told_of_own_moves: bool = False  # the referrer's receipt of their own submission


def notify_transition(
    uow: UnitOfWork,
    actor: Actor,
    case: AnyCase,
    transition: Transition,
    from_state: str,
    to_state: str,
) -> int:
    """Write the notices of a case's move, in its transaction; how many were written."""
    if not transition.notify:
        return 0
    event = f"case:{transition.trigger}"
    staff_link = f"/cases/{case.id}"
    audiences = []
    # The referrer first: whoever is also the referrer gets the referrer's words.
    for kind in sorted(transition.notify, key=lambda k: k is not Recipient.REFERRER):
        ids = recipients(uow, kind, case=case)
        if kind is Recipient.REFERRER:
            phrase = transition.tell.referrer or _moved_to(to_state)
            message = f"Referral {case.reference}: {phrase}"
            audiences.append(Audience(ids, message, staff_link, told_of_own_moves=True))
        else:
            phrase = transition.tell.staff or _moved_to(to_state)
            link = "/interventions" if kind is Recipient.PROVIDER else staff_link
            audiences.append(Audience(ids, f"Case {case.reference}: {phrase}", link))
    return _write(uow, actor, case.network_id, case.id, event, audiences)


def notify_linked(
    uow: UnitOfWork,
    actor: Actor,
    obj: Any,
    workflow: Workflow,
    transition: Transition,
    case_id: int | None,
) -> int:
    """Write the notices of a linked object's move (consent, request, meeting, intervention)."""
    if not transition.notify:
        return 0
    case = uow.repo.case(case_id) if case_id is not None else None
    event = f"{workflow.object}:{transition.trigger}"
    phrase = transition.tell.staff or _moved_to(str(obj.state))
    if case is not None:
        subject, link = f"Case {case.reference}", f"/cases/{case.id}"
    else:
        subject, link = f"Meeting #{obj.id}", f"/meetings/{obj.id}"
    audiences = []
    for kind in transition.notify:
        ids = recipients(uow, kind, case=case, obj=obj)
        own_link = f"/interventions/{obj.id}" if isinstance(obj, Intervention) else "/interventions"
        audiences.append(
            Audience(ids, f"{subject}: {phrase}", own_link if kind is Recipient.PROVIDER else link)
        )
    network_id = case.network_id if case is not None else actor.network_id
    return _write(uow, actor, network_id, case.id if case else None, event, audiences)


# Who, in an organisation, is told of work addressed to it (events that are not moves).
ANSWERING_ROLES = (Role.AGENCY_CONTACT, Role.SCREENER)
PROVIDING_ROLES = (Role.PROVIDER,)


def notify_request_sent(
    uow: UnitOfWork, actor: Actor, case: AnyCase, request: InformationRequest
) -> int:
    """Tell the asked organisation's agency contacts (and screeners) of a new request,
    in the transaction that sends it; the link goes to their own page of requests."""
    event = "information_request:send"
    ids = organisation_members(uow, case.network_id, request.organisation_id, ANSWERING_ROLES)
    message = f"Case {case.reference}: {EVENT_MESSAGES[event]}"
    audience = Audience(ids, message, f"/information-requests/{request.id}")
    return _write(uow, actor, case.network_id, case.id, event, [audience])


def notify_review_due(
    uow: UnitOfWork, actor: Actor, network_id: int, event: str, message: str, link: str
) -> int:
    """Tell a network's dpos that a protocol or sharing agreement passed its review date
    (services.protocols, from the clock): fixed words and a link, no case at all."""
    ids = _role_holders(uow, network_id, Role.DPO)
    return _write(uow, actor, network_id, None, event, [Audience(ids, message, link)])


def notify_assignment(
    uow: UnitOfWork, actor: Actor, case: AnyCase, intervention: Intervention
) -> int:
    """Tell the providers of the organisation an intervention is assigned to, in the
    transaction that assigns it (an assignment is not a transition: no `notify` says so)."""
    event = "intervention:assign"
    ids = organisation_members(uow, case.network_id, intervention.provider_org_id, PROVIDING_ROLES)
    message = f"Case {case.reference}: {EVENT_MESSAGES[event]}"
    audience = Audience(ids, message, f"/interventions/{intervention.id}")
    return _write(uow, actor, case.network_id, case.id, event, [audience])


def notify_link(uow: UnitOfWork, actor: Actor, case: AnyCase, event: str) -> int:
    """Tell a case's coordinator (its assigned one, else the network's) that another
    network asked about a possible link, or answered; in that transaction. Ids only."""
    ids = recipients(uow, Recipient.COORDINATOR, case=case)
    message = f"Case #{case.id}: {EVENT_MESSAGES[event]}"
    audience = Audience(ids, message, f"/cases/{case.id}#links-title")
    return _write(uow, actor, case.network_id, case.id, event, [audience])


def notify_people(
    uow: UnitOfWork,
    actor: Actor,
    *,
    network_id: int,
    case_id: int | None,
    event: str,
    user_ids: frozenset[int],
    message: str,
    link: str,
) -> int:
    """Notices of one fixed phrase to named people of one network (a transfer's parties),
    in the caller's transaction; how many were written."""
    return _write(uow, actor, network_id, case_id, event, [Audience(user_ids, message, link)])


def coordinators_of(uow: UnitOfWork, network_id: int) -> frozenset[int]:
    """The users holding the coordinator role in a network."""
    return _role_holders(uow, network_id, Role.COORDINATOR)


def organisation_members(
    uow: UnitOfWork, network_id: int, organisation_id: int, roles: Iterable[Role]
) -> frozenset[int]:
    """The users of one organisation who hold any of `roles` in the network."""
    values = {"network_id": network_id, "orgs": [organisation_id], "roles": [str(r) for r in roles]}
    return frozenset(row[0] for row in _run(uow, _QUERIES.organisation_members, values))


def _moved_to(state: str) -> str:
    """For a move the tables do not name (another network's workflow): the state it reached."""
    return f"now {state.replace('_', ' ')}"


def _write(
    uow: UnitOfWork,
    actor: Actor,
    network_id: int,
    case_id: int | None,
    event: str,
    audiences: list[Audience],
) -> int:
    # One notice a person: the first audience that names them wins, so a referrer who is
    # also a coordinator gets the referrer's words (the outcome only).
    chosen: dict[int, Audience] = {}
    for audience in audiences:
        for user_id in audience.user_ids:
            chosen.setdefault(user_id, audience)
    if actor.user_id in chosen and not chosen[actor.user_id].told_of_own_moves:
        del chosen[actor.user_id]
    if not chosen:
        return 0
    rows = _run(uow, _QUERIES.addresses, {"user_ids": list(chosen)})
    addresses = {row.id: row.email for row in rows}
    notices = []
    for user_id in sorted(addresses):
        audience = chosen[user_id]
        has_address = bool(addresses[user_id].strip())
        notices.append(
            {
                "network_id": network_id,
                "user_id": user_id,
                "case_id": case_id,
                "event": event,
                "message": audience.message[:200],
                "link": audience.link,
                "created_at": uow.now,
                "read_at": None,
                "email_state": PENDING if has_address else SKIPPED,
                "attempts": 0,
                "next_attempt_at": uow.now if has_address else None,
                "last_error": "" if has_address else "no e-mail address",
                "emailed_at": None,
            }
        )
    if notices:
        # One INSERT for every notice of the move, in its transaction, on the table: the
        # ORM would flush each row on its own and read back ids nobody uses.
        prepared.write(uow.unscoped(NOTICES).connection(), _WRITE_NOTICES, notices)
    log.info("notices_written", trigger=event, case_id=case_id, count=len(addresses))
    return len(addresses)


# Built once, a parameter per column `_write` fills: run on the driver's cursor.
_NOTICE_COLUMNS = (
    "network_id", "user_id", "case_id", "event", "message", "link", "created_at", "read_at",
    "email_state", "attempts", "next_attempt_at", "last_error", "emailed_at",
)  # fmt: skip
_WRITE_NOTICES = insert(cast(Table, Notification.__table__)).values(
    {name: bindparam(name) for name in _NOTICE_COLUMNS}
)


def recipients(
    uow: UnitOfWork, kind: Recipient, *, case: AnyCase | None = None, obj: Any = None
) -> frozenset[int]:
    """The user ids one kind of recipient stands for (see the module's docstring)."""
    network_id = case.network_id if case is not None else getattr(obj, "network_id", None)
    if kind is Recipient.REFERRER:
        return frozenset({case.referrer_user_id}) if case is not None else frozenset()
    if kind is Recipient.COORDINATOR:
        if case is not None and case.coordinator_user_id is not None:
            return frozenset({case.coordinator_user_id})
        return _role_holders(uow, network_id, Role.COORDINATOR)
    if kind is Recipient.SCREENER:
        return _role_holders(uow, network_id, Role.SCREENER)
    if kind is Recipient.DPO:
        return _role_holders(uow, network_id, Role.DPO)
    if kind is Recipient.PANEL:
        return _panel(uow, case, obj)
    if kind is Recipient.PROVIDER:
        return _providers(uow, case, obj)
    return frozenset()  # Recipient.SUBJECT: not a user of the service


def _role_holders(uow: UnitOfWork, network_id: int | None, role: Role) -> frozenset[int]:
    if network_id is None:
        return frozenset()
    values = {"network_id": network_id, "role": str(role)}
    return frozenset(row[0] for row in _run(uow, _QUERIES.role_holders, values))


def _panel(uow: UnitOfWork, case: AnyCase | None, obj: Any) -> frozenset[int]:
    if isinstance(obj, PanelMeeting):
        found = _run(uow, _QUERIES.meeting_attendees, {"meeting_id": obj.id})
    elif case is not None:
        found = _run(uow, _QUERIES.case_attendees, {"case_id": case.id})
    else:
        return frozenset()
    return frozenset(row[0] for row in found)


def _providers(uow: UnitOfWork, case: AnyCase | None, obj: Any) -> frozenset[int]:
    if isinstance(obj, Intervention):
        orgs: Iterable[int] = [obj.provider_org_id]
    elif case is not None:
        orgs = [row[0] for row in _run(uow, _QUERIES.provider_orgs, {"case_id": case.id})]
    else:
        return frozenset()
    orgs = list(orgs)
    if not orgs:
        return frozenset()  # no intervention yet: nobody to ask for
    if case is None:
        found = _run(uow, _QUERIES.providers_anywhere, {"orgs": orgs})
    else:
        found = _run(uow, _QUERIES.providers, {"orgs": orgs, "network_id": case.network_id})
    return frozenset(row[0] for row in found)


class _Queries:
    """Who a notice goes to: statements built once (on first use), values bound per call."""

    @cached_property
    def role_holders(self) -> AnySelect:
        return select(RoleAssignment.user_id).where(
            RoleAssignment.network_id == bindparam("network_id"),
            RoleAssignment.role == bindparam("role"),
        )

    @cached_property
    def meeting_attendees(self) -> AnySelect:
        return select(MeetingAttendee.user_id).where(
            MeetingAttendee.meeting_id == bindparam("meeting_id")
        )

    @cached_property
    def case_attendees(self) -> AnySelect:
        meetings = (
            select(AgendaItem.meeting_id)
            .join(PanelMeeting, PanelMeeting.id == AgendaItem.meeting_id)
            .where(AgendaItem.case_id == bindparam("case_id"), meeting_active(PanelMeeting.state))
        )
        return select(MeetingAttendee.user_id).where(MeetingAttendee.meeting_id.in_(meetings))

    @cached_property
    def provider_orgs(self) -> AnySelect:
        return select(Intervention.provider_org_id).where(
            Intervention.case_id == bindparam("case_id"),
            *(Intervention.state != state for state in states.inactive_interventions()),
        )

    @cached_property
    def providers_anywhere(self) -> AnySelect:
        return (
            select(User.id)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(
                User.organisation_id.in_(bindparam("orgs", expanding=True)),
                RoleAssignment.role == Role.PROVIDER,
            )
        )

    @cached_property
    def organisation_members(self) -> AnySelect:
        return (
            select(User.id)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(
                User.organisation_id.in_(bindparam("orgs", expanding=True)),
                RoleAssignment.network_id == bindparam("network_id"),
                RoleAssignment.role.in_(bindparam("roles", expanding=True)),
            )
            .distinct()
        )

    @cached_property
    def providers(self) -> AnySelect:
        return self.providers_anywhere.where(RoleAssignment.network_id == bindparam("network_id"))

    @cached_property
    def addresses(self) -> AnySelect:
        return select(User.id, User.email).where(
            User.id.in_(bindparam("user_ids", expanding=True)), User.active.is_(True)
        )


_QUERIES = _Queries()


def _run(uow: UnitOfWork, query: AnySelect, values: dict[str, Any]) -> list[Any]:
    """The rows of one of the statements above: on the driver's cursor (db.prepared) when
    its values are plain, through `execute` when one is a list."""
    return prepared.named(current_connection(uow.unscoped(NOTICES)), query, values)


# -- in the app ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """A notice as its recipient sees it."""

    id: int
    message: str
    link: str
    created_at: datetime
    read_at: datetime | None

    @property
    def unread(self) -> bool:
        return self.read_at is None


@cache
def unread_query() -> AnySelect:
    """How many of a person's notices in a network are unread: one count in the bell's
    index, built once (`user_id` and `network_id` bound when it runs). Every page shows
    it (people.describe_viewer folds it into the viewer's one statement)."""
    return (
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == bindparam("user_id"),
            Notification.network_id == bindparam("network_id"),
            Notification.read_at.is_(None),
        )
    )


def unread_count(uow: UnitOfWork, actor: Actor) -> int:
    """How many of the actor's notices in this network are unread."""
    values = {"user_id": actor.user_id, "network_id": actor.network_id}
    session = uow.unscoped("the query names the person and their network itself")
    rows = prepared.run(current_connection(session), unread_query(), values)
    return int(rows[0][0])


def list_notifications(uow: UnitOfWork, actor: Actor, limit: int = LIST_LIMIT) -> list[Notice]:
    """The actor's latest notices in this network, newest first."""
    return notice_page(uow, actor, limit=limit).notices


@dataclass(frozen=True)
class NoticePage:
    notices: list[Notice]
    older: int | None = None  # the next page holds the notices before this id


PAGE_SIZE = 25


def notice_page(
    uow: UnitOfWork, actor: Actor, *, before: int | None = None, limit: int = PAGE_SIZE
) -> NoticePage:
    """A page of the actor's notices in this network, newest first, and where the next
    (older) page starts: by id, so a page costs the same however far back it is."""
    scope = uow.scoped(actor)
    query = scope.select(Notification).where(Notification.user_id == actor.user_id)
    if before is not None:
        query = query.where(Notification.id < before)
    rows = list(scope.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
    notices = [Notice(n.id, n.message, n.link, n.created_at, n.read_at) for n in rows[:limit]]
    older = notices[-1].id if len(rows) > limit else None
    return NoticePage(notices, older)


@dataclass(frozen=True)
class MarkRead:
    """One notice (by id), or every unread one when `notification_id` is None."""

    notification_id: int | None = None


def mark_read(uow: UnitOfWork, actor: Actor, command: MarkRead) -> int:
    """Mark the actor's own notices read; someone else's is "not found". How many changed."""
    scope = uow.scoped(actor)
    own = Notification.user_id == actor.user_id
    query = scope.update(Notification).where(own, Notification.read_at.is_(None))
    if command.notification_id is not None:
        notice = scope.get(Notification, command.notification_id)
        if notice is None or notice.user_id != actor.user_id:
            raise NotFound(
                "notification {notification} not found", notification=command.notification_id
            )
        query = query.where(Notification.id == command.notification_id)
    result = scope.execute(
        query.values(read_at=uow.now).execution_options(synchronize_session=False)
    )
    uow.commit()
    return int(getattr(result, "rowcount", 0) or 0)
