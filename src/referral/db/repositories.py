"""Repositories: the queries services need, in one place. No policy logic here."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Table,
    and_,
    bindparam,
    exists,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql.elements import BindParameter

from referral.db import prepared
from referral.db.base import AnySelect, reading_connection
from referral.db.sealing import WITH_SEALED, data_keys, open_columns
from referral.db.side_by_side import apart, side_by_side
from referral.db.tables import (
    AgendaItem,
    ApiToken,
    AuditEntry,
    Case,
    Consent,
    ConsentScopeRow,
    DataKey,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    MeetingSummons,
    Network,
    NetworkHoliday,
    Organisation,
    PanelMeeting,
    ProgressNote,
    RoleAssignment,
    Subject,
    Timer,
    User,
)
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.facts import (
    CaseFacts,
    ConsentScope,
    GuardFacts,
    MeetingSlot,
    Summons,
)
from referral.domain.vocabulary import Category, OrgKind, Purpose, Role


@dataclass(frozen=True)
class CasePosition:
    """A place in the (deadline, id) order of case lists, where a page ended."""

    due_at: datetime | None
    case_id: int

    def later(self) -> ColumnElement[bool]:
        """The cases after this place, deadlines first and no deadline last."""
        if self.due_at is None:
            return and_(Case.due_at.is_(None), Case.id > self.case_id)
        return or_(
            Case.due_at > self.due_at,
            and_(Case.due_at == self.due_at, Case.id > self.case_id),
            Case.due_at.is_(None),
        )


_M = TypeVar("_M")


def _detached(model: type[_M], values: dict[str, Any]) -> _M:
    """An object of `model` holding `values`, outside any session, built as the ORM's own
    loading builds one (an instance and its state, the values in its dict): the
    constructor's attribute events for forty columns cost 25 times as much (120 µs)."""
    obj: _M = manager_of_class(model).new_instance()
    obj.__dict__.update(values)
    return obj


def current_connection(session: Session) -> Connection:
    """The session's connection for a statement built once, its pending changes flushed
    first, as `session.execute` would: a read after a change in the same unit sees it.
    A loop reader's unit (which changes nothing) hands its connection over directly."""
    reader = reading_connection(session)
    if reader is not None:
        return reader
    if session.autoflush:
        session.flush()
    return session.connection()


@cache
def _actor_query(*, via_token: bool) -> AnySelect:
    """The actor's one query, built once per process (every request asks it): by a token's
    digest while it is live, or by user and network. Values are bound at execution."""
    query = select(
        User.id,
        User.organisation_id,
        Organisation.kind,
        Network.id,
        Network.slug,
        RoleAssignment.role,
    )
    if via_token:
        query = query.select_from(ApiToken).join(User, User.id == ApiToken.user_id)
        network = Network.id == ApiToken.network_id
        who = and_(
            ApiToken.token_hash == bindparam("token_hash"),
            ApiToken.revoked_at.is_(None),
            or_(
                ApiToken.expires_at.is_(None),
                ApiToken.expires_at > bindparam("now", type_=ApiToken.expires_at.type),
            ),
        )
    else:
        network = Network.id == bindparam("network")
        who = User.id == bindparam("user")
    return (
        query.join(Organisation, Organisation.id == User.organisation_id)
        .join(Network, network)
        .outerjoin(
            RoleAssignment,
            and_(RoleAssignment.user_id == User.id, RoleAssignment.network_id == Network.id),
        )
        .where(who, User.active.is_(True))
    )


# A meeting's state against domain.states' lists, as plain comparisons rather than
# (NOT) IN: a statement built once and run on the cursor (db.prepared) takes no list.
def meeting_active(state: Any) -> ColumnElement[bool]:
    """The meeting is not cancelled (or otherwise inactive)."""
    return and_(*(state != inactive for inactive in states.inactive_meetings()))


def meeting_open(state: Any) -> ColumnElement[bool]:
    """The meeting's agenda can still take a case."""
    return or_(*(state == open_state for open_state in states.open_meetings()))


@cache
def _facts_queries() -> tuple[AnySelect, ...]:
    """The four queries of `case_facts`, built once; case and viewer bound at execution:
    the case's open meetings (and whether the viewer is invited), the providers of its
    live interventions, its current consent's state with that consent's grants, and the
    organisations its open information requests are addressed to."""
    case_id: BindParameter[int] = bindparam("case_id")
    invited = exists().where(
        MeetingAttendee.meeting_id == PanelMeeting.id,
        MeetingAttendee.user_id == bindparam("user_id"),
    )
    # The viewer's live summons to the meeting, if any (one at most: unique per meeting).
    summons = and_(
        MeetingSummons.meeting_id == PanelMeeting.id,
        MeetingSummons.user_id == bindparam("user_id"),
        MeetingSummons.ended_at.is_(None),
    )
    meetings = (
        select(
            PanelMeeting.id,
            PanelMeeting.scheduled_for,
            invited,
            MeetingSummons.window_start,
            MeetingSummons.window_end,
            MeetingSummons.org_kind,
        )
        .join(AgendaItem, AgendaItem.meeting_id == PanelMeeting.id)
        .outerjoin(MeetingSummons, summons)
        .where(AgendaItem.case_id == case_id, meeting_active(PanelMeeting.state))
    )
    providers = select(Intervention.provider_org_id).where(
        Intervention.case_id == case_id,
        *(Intervention.state != state for state in states.inactive_interventions()),
    )
    # The current (latest) consent's state and its grants, in one query of plain columns.
    latest = (
        select(Consent.id, Consent.state)
        .where(Consent.case_id == case_id)
        .order_by(Consent.id.desc())
        .limit(1)
        .subquery()
    )
    grants = (
        select(
            latest.c.state,
            ConsentScopeRow.category,
            ConsentScopeRow.org_kind,
            ConsentScopeRow.purpose,
        )
        .select_from(latest)
        .outerjoin(ConsentScopeRow, ConsentScopeRow.consent_id == latest.c.id)
    )
    asked = select(InformationRequest.organisation_id).where(
        InformationRequest.case_id == case_id,
        *(InformationRequest.state != state for state in states.settled_by_agency()),
    )
    return meetings, providers, grants, asked


def _summons(starts: datetime | None, ends: datetime | None, kind: str | None) -> Summons | None:
    if starts is None or ends is None or kind is None:
        return None
    return Summons(starts, ends, OrgKind(kind))


@cache
def _facts_query() -> CompoundSelect[Any]:
    """The four queries of `case_facts` as one statement (db.side_by_side)."""
    return side_by_side(*_facts_queries())


@cache
def _case_to_show_query() -> tuple[AnySelect, tuple[str, ...], tuple[str, ...]]:
    """Every column of a case and of its subject, then the subject's data key as stored
    (wrapped, and the master key that wraps it), in one row (built once); and the
    attribute names of the case's and the subject's parts."""
    case_columns = {attr.key: attr.columns[0] for attr in inspect(Case).column_attrs}
    subject_columns = {attr.key: attr.columns[0] for attr in inspect(Subject).column_attrs}
    query = (
        select(
            *case_columns.values(),
            *subject_columns.values(),
            DataKey.wrapped,
            DataKey.master_key_id,
        )
        .join(Subject, Subject.id == Case.subject_id)
        .outerjoin(DataKey, DataKey.id == Subject.data_key_id)
        .where(Case.id == bindparam("case_id"))
    )
    return query, tuple(case_columns), tuple(subject_columns)


@cache
def _guard_facts_queries() -> tuple[AnySelect, AnySelect]:
    """The two queries of `case_guard_facts`, built once; the case bound at execution."""
    case_id: BindParameter[int] = bindparam("case_id")
    requests = select(InformationRequest.state, InformationRequest.due_at).where(
        InformationRequest.case_id == case_id
    )
    consent_state = (
        select(Consent.state)
        .where(Consent.case_id == case_id)
        .order_by(Consent.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    on_open_agenda = exists().where(
        AgendaItem.case_id == case_id,
        AgendaItem.meeting_id == PanelMeeting.id,
        meeting_open(PanelMeeting.state),
    )
    return requests, select(consent_state, on_open_agenda)


@cache
def _guard_facts_query() -> CompoundSelect[Any]:
    """The two queries of `case_guard_facts` as one statement (db.side_by_side)."""
    return side_by_side(*_guard_facts_queries())


class Repositories:
    """Named queries. Bound to a network (as a service's scope hands them out), the getters
    answer None for another network's row; unbound, they serve the system's own work."""

    def __init__(self, session: Session, network_id: int | None = None) -> None:
        self.session = session
        self.network_id = network_id
        self._holidays: dict[int, frozenset[date]] = {}

    def _mine(self, network_id: int | None) -> bool:
        return self.network_id is None or network_id == self.network_id

    # -- people -------------------------------------------------------------------------

    def user_by_username(self, username: str) -> User | None:
        return self.session.scalars(select(User).where(User.username == username)).first()

    def network_by_slug(self, slug: str) -> Network | None:
        return self.session.scalars(select(Network).where(Network.slug == slug)).first()

    def actor_for(self, user: User, network: Network) -> Actor:
        roles = self.session.scalars(
            select(RoleAssignment.role).where(
                RoleAssignment.user_id == user.id, RoleAssignment.network_id == network.id
            )
        ).all()
        return Actor(
            user_id=user.id,
            organisation_id=user.organisation_id,
            org_kind=OrgKind(user.organisation.kind),
            network_id=network.id,
            network=network.slug,
            roles=frozenset(Role(role) for role in roles),
        )

    def actor_in(self, user_id: int, network_id: int) -> Actor | None:
        """The active user's actor in a network, in one query (every request asks it)."""
        return self._actor(_actor_query(via_token=False), user=user_id, network=network_id)

    def actor_of_token(self, token_hash: str, now: datetime) -> Actor | None:
        """The actor an API token speaks for, while it is unrevoked and unexpired."""
        return self._actor(_actor_query(via_token=True), token_hash=token_hash, now=now)

    def _actor(self, query: AnySelect, **values: Any) -> Actor | None:
        rows = prepared.run(current_connection(self.session), query, values)
        if not rows:
            return None
        first = rows[0]
        return Actor(
            user_id=first[0],
            organisation_id=first[1],
            org_kind=OrgKind(first[2]),
            network_id=first[3],
            network=first[4],
            roles=frozenset(Role(row[5]) for row in rows if row[5] is not None),
        )

    def networks_of(self, user: User) -> Sequence[Network]:
        return self.session.scalars(
            select(Network)
            .join(RoleAssignment, RoleAssignment.network_id == Network.id)
            .where(RoleAssignment.user_id == user.id)
            .distinct()
            .order_by(Network.id)
        ).all()

    def organisation(self, organisation_id: int) -> Organisation | None:
        org = self.session.get(Organisation, organisation_id)
        return org if org is not None and self._mine(org.network_id) else None

    # -- cases --------------------------------------------------------------------------

    def case(self, case_id: int, *, sealed: bool = False) -> Case | None:
        """The case; with `sealed`, its and its subject's sealed fields opened, read in one
        query for a page or a read that shows them and changes nothing (`_case_to_show`)."""
        case = self._case_to_show(case_id) if sealed else self.session.get(Case, case_id)
        return case if case is not None and self._mine(case.network_id) else None

    def _case_to_show(self, case_id: int) -> Case | None:
        """The case and its subject, sealed fields opened, from one row read on the cursor,
        as objects outside the session: a page or an API read shows them and changes
        nothing, and building them costs a fraction of the ORM's load of the same row."""
        query, case_keys, subject_keys = _case_to_show_query()
        rows = prepared.run(current_connection(self.session), query, {"case_id": case_id})
        if not rows:
            return None
        width, row = len(case_keys), rows[0]
        case_values = dict(zip(case_keys, row[:width], strict=True))
        subject_values = dict(zip(subject_keys, row[width:-2], strict=True))
        # The key read with the row: opening the fields asks for no other statement.
        wrapped, master_key_id = row[-2:]
        key_id = subject_values["data_key_id"]
        data_keys(self.session).remember(case_id, key_id, wrapped, master_key_id)
        open_columns(self.session, Case, [case_values])
        open_columns(self.session, Subject, [subject_values])
        subject = _detached(Subject, subject_values)
        return _detached(Case, {**case_values, "subject": subject})

    def cases(
        self,
        where: ColumnElement[bool],
        *,
        limit: int = 100,
        offset: int = 0,
        after: "CasePosition | None" = None,
    ) -> Sequence[Case]:
        """Cases matching a policy-derived filter, most urgent deadline first.

        `after` pages by position (keyset): the next page costs the same however deep it
        is, where an offset would count its way past every earlier row.
        """
        if after is not None:
            where = where & after.later()
        return self.session.scalars(
            select(Case)
            .where(where)
            # Same order as (due_at IS NULL, due_at, id), but in the form an index on
            # (network_id, due_at, id) serves on both backends: no sort of every match.
            .order_by(Case.due_at.asc().nulls_last(), Case.id)
            .limit(limit)
            .offset(offset)
        ).all()

    def count_cases(self, where: ColumnElement[bool], *, cap: int | None = None) -> int:
        """How many cases match; with `cap`, stop counting past cap + 1 (a bounded cost)."""
        if cap is None:
            return self.session.scalar(select(func.count()).select_from(Case).where(where)) or 0
        matches = select(Case.id).where(where).limit(cap + 1).subquery()
        return self.session.scalar(select(func.count()).select_from(matches)) or 0

    def case_facts(self, case: Case, actor: Actor) -> CaseFacts:
        """The facts named policy conditions read, for this case as seen by this actor."""
        connection = current_connection(self.session)
        values = {"case_id": case.id, "user_id": actor.user_id}
        rows = prepared.run(connection, _facts_query(), values)
        meetings, provider_orgs, grants, asked = apart(rows, _facts_queries())
        consent_state = grants[0][0] if grants else states.NO_CONSENT
        scope: frozenset[ConsentScope] = frozenset()
        if consent_state == states.consent_given():
            scope = frozenset(
                ConsentScope(Category(g[1]), OrgKind(g[2]), Purpose(g[3]))
                for g in grants
                if g[1] is not None
            )
        return CaseFacts(
            case_id=case.id,
            network_id=case.network_id,
            state=case.state,
            referrer_user_id=case.referrer_user_id,
            coordinator_user_id=case.coordinator_user_id,
            meetings=tuple(
                MeetingSlot(m[0], m[1], bool(m[2]), _summons(m[3], m[4], m[5])) for m in meetings
            ),
            provider_org_ids=frozenset(row[0] for row in provider_orgs),
            consent_state=consent_state,
            consent_scope=scope,
            asked_org_ids=frozenset(row[0] for row in asked),
        )

    def case_guard_facts(self, case: Case, now: datetime) -> GuardFacts:
        """What the workflow's guards read, in one statement and without opening any sealed
        field: the requests' states and deadlines; the current consent and the agenda."""
        connection = current_connection(self.session)
        rows = prepared.run(connection, _guard_facts_query(), {"case_id": case.id})
        requests, ((consent, on_agenda),) = apart(rows, _guard_facts_queries())
        return GuardFacts(
            consent_state=consent or states.NO_CONSENT,
            information_request_states=tuple(state for state, _ in requests),
            information_deadline_passed=bool(requests) and max(due for _, due in requests) <= now,
            on_open_agenda=bool(on_agenda),
        )

    # -- linked objects -----------------------------------------------------------------

    def current_consent(self, case_id: int) -> Consent | None:
        return self.session.scalars(
            select(Consent).where(Consent.case_id == case_id).order_by(Consent.id.desc()).limit(1)
        ).first()

    def information_requests(self, case_id: int) -> Sequence[InformationRequest]:
        return self.session.scalars(
            select(InformationRequest)
            .where(InformationRequest.case_id == case_id)
            .order_by(InformationRequest.id)
            .options(WITH_SEALED)
        ).all()

    def meeting(self, meeting_id: int) -> PanelMeeting | None:
        meeting = self.session.get(PanelMeeting, meeting_id)
        return meeting if meeting is not None and self._mine(meeting.network_id) else None

    def meeting_guard_facts(self, meeting: PanelMeeting) -> GuardFacts:
        size = self.session.scalar(
            select(func.count()).select_from(AgendaItem).where(AgendaItem.meeting_id == meeting.id)
        )
        return GuardFacts(agenda_size=size or 0, minutes_recorded=bool(meeting.minutes.strip()))

    def agenda_has(self, meeting_id: int, case_id: int) -> bool:
        return bool(
            self.session.scalar(
                select(
                    exists().where(
                        and_(AgendaItem.meeting_id == meeting_id, AgendaItem.case_id == case_id)
                    )
                )
            )
        )

    def next_agenda_position(self, meeting_id: int) -> int:
        current = self.session.scalar(
            select(func.max(AgendaItem.position)).where(AgendaItem.meeting_id == meeting_id)
        )
        return (current or 0) + 1

    def attendee_ids(self, meeting_id: int) -> list[int]:
        return list(
            self.session.scalars(
                select(MeetingAttendee.user_id)
                .where(MeetingAttendee.meeting_id == meeting_id)
                .order_by(MeetingAttendee.user_id)
            )
        )

    def intervention(self, intervention_id: int) -> Intervention | None:
        intervention = self.session.get(Intervention, intervention_id)
        if intervention is None or self.case(intervention.case_id) is None:
            return None
        return intervention

    def interventions(self, case_id: int) -> Sequence[Intervention]:
        return self.session.scalars(
            select(Intervention)
            .where(Intervention.case_id == case_id)
            .order_by(Intervention.id)
            .options(WITH_SEALED)
        ).all()

    # -- the clock ----------------------------------------------------------------------

    def holidays(self, network_id: int) -> frozenset[date]:
        """The network's holidays, read once per unit of work."""
        if network_id not in self._holidays:
            days = self.session.scalars(
                select(NetworkHoliday.day).where(NetworkHoliday.network_id == network_id)
            ).all()
            self._holidays[network_id] = frozenset(days)
        return self._holidays[network_id]

    def cancel_timers(self, object_kind: str, object_id: int, note: str) -> None:
        """Cancel the object's pending timers (it left the state they were waiting in).

        A timer a worker is firing right now is locked: it is skipped, not waited for
        (waiting could deadlock with the worker, which locks the timer, then the object).
        The worker's move then conflicts with this one, and the timer, found pending on
        its next claim with the object moved on, is cancelled there.
        """
        timers = cast(Table, Timer.__table__)
        free = (
            select(timers.c.id)
            .where(
                timers.c.object_kind == object_kind,
                timers.c.object_id == object_id,
                timers.c.state == "pending",
            )
            .with_for_update(skip_locked=True)
        )
        # A Core UPDATE on the table: the ORM's bulk-update path (synchronising the
        # session, evaluating the criteria) cost more than the statement itself.
        self.session.execute(
            update(timers)
            .where(timers.c.id.in_(free.scalar_subquery()))
            .values(state="cancelled", note=note[:200])
        )

    def claim_due_timer(self, now: datetime, drift_before: datetime | None) -> Timer | None:
        """The next due pending timer, locked for this transaction; None when none is due.

        PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent workers each take a different
        row and none waits for another. SQLite ignores it: BEGIN IMMEDIATE already lets
        one writer in at a time. Drift checks are due `drift` after their run_after.
        """
        due = and_(Timer.kind == "transition", Timer.run_after <= now)
        if drift_before is not None:
            due = or_(due, and_(Timer.kind == "drift", Timer.run_after <= drift_before))
        return self.session.scalars(
            select(Timer)
            .where(Timer.state == "pending", due)
            .order_by(Timer.run_after, Timer.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()

    def last_case_activity(self, case_ids: Sequence[int]) -> dict[int, datetime]:
        """When each case last changed: its latest audited change, alerts left out."""
        rows = self.session.execute(
            select(AuditEntry.case_id, func.max(AuditEntry.at))
            .where(
                AuditEntry.case_id.in_(case_ids),
                AuditEntry.allowed.is_(True),
                AuditEntry.change_digest != "",
                AuditEntry.action.not_like("%:drift"),
            )
            .group_by(AuditEntry.case_id)
        ).all()
        return {int(case_id): at for case_id, at in rows if case_id is not None}

    def last_intervention_activity(self, intervention: Intervention) -> datetime | None:
        """When the intervention last changed or had a progress note recorded."""
        moved = self.session.scalar(
            select(func.max(AuditEntry.at)).where(
                AuditEntry.case_id == intervention.case_id,
                AuditEntry.target == f"intervention:{intervention.id}",
                AuditEntry.allowed.is_(True),
                AuditEntry.change_digest != "",
                AuditEntry.action.not_like("%:drift"),
            )
        )
        noted = self.session.scalar(
            select(func.max(ProgressNote.created_at)).where(
                ProgressNote.intervention_id == intervention.id
            )
        )
        return max((t for t in (moved, noted) if t is not None), default=None)

    def overdue_requests(self, case_ids: Sequence[int]) -> dict[int, int]:
        """How many of each case's information requests are overdue (and still unanswered)."""
        rows = self.session.execute(
            select(InformationRequest.case_id, func.count())
            .where(
                InformationRequest.case_id.in_(case_ids),
                InformationRequest.state == states.name(states.REQUEST, "overdue"),
            )
            .group_by(InformationRequest.case_id)
        ).all()
        return {int(case_id): int(count) for case_id, count in rows}

    def drift_alerts(self, case_ids: Sequence[int]) -> dict[int, datetime]:
        """The latest drift alert of each case that has one."""
        rows = self.session.execute(
            select(Timer.object_id, func.max(Timer.fired_at))
            .where(
                Timer.object_kind == "case",
                Timer.object_id.in_(case_ids),
                Timer.kind == "drift",
                Timer.state == "fired",
            )
            .group_by(Timer.object_id)
        ).all()
        return {int(case_id): at for case_id, at in rows if at is not None}
