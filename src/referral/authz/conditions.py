"""Named policy conditions, each defined once with two faces that must agree.

`holds` answers one question in Python (single decisions, through Casbin);
`sql` selects the same cases as a WHERE clause over `cases` (lists). Conditions
read only `CaseFacts`, so the facts loader must fill them with the same meaning
the SQL face uses:

- `meetings`: every meeting the case is on the agenda of, except those in
  `states.inactive_meetings()`; `actor_invited` is true when `meeting_attendees`
  holds a row for the actor (a chair is invited like anyone else);
- `provider_org_ids`: the provider organisations of the case's interventions
  whose state is not in `states.inactive_interventions()`;
- `consent_state`: the state of the case's current consent, the one with the
  highest id ("not_sought" if none); `consent_scope`: its scopes if it is given,
  else empty;
- `meetings[].summons`: the actor's summons to that meeting whose `ended_at` is NULL
  (services.summons); `at_meeting`: the meeting whose page asks (None elsewhere);
- `asked_org_ids`: the organisations the case's information requests are addressed
  to, except those in `states.settled_by_agency()`; for a question about one request,
  the service narrows it to that request (`CaseFacts.about_request`).

A question may also carry the record an operation touches (`Question.record`, an
intervention): a condition about that kind of record (`assigned`) is then judged on the
record, not on the case. The SQL face selects cases, for questions about a case; the few
records of one case are filtered by asking the Python face about each.

A rule reads its condition with its own purpose (`holds_under`, `sql_under`): the
consent conditions ask whether the consent covers the data *for that purpose*; every
other condition ignores it, so it needs only `holds` and `sql`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, TypeVar

from sqlalchemy import ColumnElement, and_, exists, false, func, select, true
from sqlalchemy.orm import aliased

from referral.db.tables import (
    AgendaItem,
    Case,
    Consent,
    ConsentScopeRow,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    PanelMeeting,
)
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts, RecordFacts
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.i18n import Phrase

# A panel member sees an agenda's cases from a week before the meeting (to prepare)
# until a week after it (to check the minutes); outside that, nothing.
MEETING_WINDOW = timedelta(days=7)

_ORG_KINDS = frozenset(OrgKind)
_CATEGORIES = frozenset(Category)


class ConditionArgumentError(ValueError):
    """A condition was named with the wrong number or kind of arguments."""


@dataclass(frozen=True, slots=True)
class Question:
    """One authorization question: may `actor` `act` on `obj` of this case, now?

    `facts` is None for a question about no case (a meeting, the audit log);
    then only conditions that do not need a case can hold. `record` is the record of
    the case the operation touches (an intervention it moves, notes or shows), if any.
    """

    actor: Actor
    facts: CaseFacts | None
    obj: str
    act: str
    now: datetime
    record: RecordFacts | None = None


def plain(word: str) -> str:
    """An argument in plain words: `social_care` -> `social care`."""
    return word.replace("_", " ")


# The arguments of conditions in words, each a phrase of its own (translated where shown).
KIND_WORDS: dict[OrgKind, Phrase] = {
    OrgKind.POLICE: Phrase("police"),
    OrgKind.HEALTH: Phrase("health"),
    OrgKind.EDUCATION: Phrase("education"),
    OrgKind.SOCIAL_CARE: Phrase("social care"),
    OrgKind.YOUTH: Phrase("youth"),
    OrgKind.CIVIL_SOCIETY: Phrase("civil society"),
    OrgKind.LOCAL_AUTHORITY: Phrase("local authority"),
    OrgKind.PROBATION: Phrase("probation"),
    OrgKind.PRIVATE_SECTOR: Phrase("private sector"),
    OrgKind.NATIONAL: Phrase("national"),
}
DATA_WORDS: dict[Category, Phrase] = {
    Category.STATUS: Phrase("status data"),
    Category.IDENTITY: Phrase("identity data"),
    Category.CONTACT: Phrase("contact data"),
    Category.CONCERN: Phrase("concern data"),
    Category.NARRATIVE: Phrase("narrative data"),
    Category.SPECIAL: Phrase("special data"),
    Category.CRIMINAL: Phrase("criminal data"),
    Category.ASSESSMENT: Phrase("assessment data"),
    Category.DELIBERATION: Phrase("deliberation data"),
    Category.SUPPORT: Phrase("support data"),
    Category.CONSENT: Phrase("consent data"),
}


def kind_words(kind: str) -> str:
    """An organisation kind in words: its phrase, or (not a kind) the word as it is."""
    return KIND_WORDS[OrgKind(kind)] if kind in _ORG_KINDS else plain(kind)


def folded(items: Iterable[str], join: Callable[[str, str], Phrase]) -> str:
    """Items joined in order, each join a phrase of its own: `a or b or c` is
    `(a or b) or c`, the same words in English and one message for a translator."""
    result: str | None = None
    for item in items:
        result = item if result is None else join(result, item)
    return result or ""


def either(items: Iterable[str]) -> str:
    """`a or b or c`."""
    return folded(items, lambda a, b: Phrase("%(first)s or %(then)s", first=a, then=b))


def _slashed(items: Iterable[str]) -> str:
    """`health/social care`."""
    return folded(items, lambda a, b: Phrase("%(first)s/%(then)s", first=a, then=b))


class Condition(ABC):
    """A named condition. Subclasses set `name`, `words` and the accepted argument count.

    `words` says the condition in plain words for the readable sharing agreement
    (`referral policy report`), a Phrase so that it reads in the reader's language;
    `register` refuses a condition without them.
    """

    name: ClassVar[str]
    words: ClassVar[Phrase]
    min_args: ClassVar[int] = 0
    max_args: ClassVar[int | None] = 0

    def describe(
        self,
        *args: str,
        state_label: Callable[[str], str] = plain,
        purpose: Phrase | None = None,
        one_record: bool = True,
    ) -> Phrase:
        """The condition with these arguments in plain words; `state_label` names a state.
        `purpose`: the purpose of the rule it is told for (None: "the purpose named", as
        the agreement says it); `one_record`: whether to say how it reads for an operation
        on one record (a read of a case is none)."""
        return self.words

    def check_args(self, args: tuple[str, ...]) -> None:
        """Refuse a policy line that names this condition with unusable arguments."""
        if len(args) < self.min_args or (self.max_args is not None and len(args) > self.max_args):
            if self.max_args == 0:
                wanted = "no arguments"
            elif self.max_args is None:
                wanted = f"at least {self.min_args} argument(s)"
            else:
                wanted = f"{self.min_args} to {self.max_args} argument(s)"
            raise ConditionArgumentError(f"{self.name} takes {wanted}, got {len(args)}")

    @abstractmethod
    def holds(self, q: Question, *args: str) -> bool: ...

    @abstractmethod
    def sql(
        self, actor: Actor, category: str, now: datetime, *args: str
    ) -> ColumnElement[bool]: ...

    def holds_under(self, purpose: Purpose | None, q: Question, *args: str) -> bool:
        """`holds`, read by a rule with this purpose (None: a deny rule, which names none).
        A condition that depends on the purpose overrides this; the rest ignore it."""
        return self.holds(q, *args)

    def sql_under(
        self, purpose: Purpose | None, actor: Actor, category: str, now: datetime, *args: str
    ) -> ColumnElement[bool]:
        """`sql`, read by a rule with this purpose: the SQL face of `holds_under`."""
        return self.sql(actor, category, now, *args)


class CaseCondition(Condition):
    """A condition about a case: it never holds for a question about no case."""

    def holds(self, q: Question, *args: str) -> bool:
        return q.facts is not None and self.holds_for(q, q.facts, *args)

    @abstractmethod
    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool: ...


CONDITIONS: dict[str, Condition] = {}

_C = TypeVar("_C", bound=type[Condition])


def register(cls: _C) -> _C:
    """Class decorator: make the condition available to policy lines by its name."""
    if cls.name in CONDITIONS:
        raise ValueError(f"condition {cls.name!r} registered twice")
    if not getattr(cls, "words", "").strip():
        raise ValueError(f"condition {cls.name!r} has no plain words (set `words`)")
    CONDITIONS[cls.name] = cls()
    return cls


@register
class Always(Condition):
    name = "true"
    words = Phrase("always")

    def holds(self, q: Question, *args: str) -> bool:
        return True

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        return true()


@register
class OwnReferral(CaseCondition):
    """The actor made the referral."""

    name = "own_referral"
    words = Phrase("only referrals they made themselves")

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return case.referrer_user_id == q.actor.user_id

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        return Case.referrer_user_id == actor.user_id


@register
class Coordinates(CaseCondition):
    """The actor is the case's assigned coordinator."""

    name = "coordinates"
    words = Phrase("only cases they are the assigned coordinator of")

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return case.coordinator_user_id == q.actor.user_id

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        # Null-safe: under `!coordinates` a plain `=` on a NULL column would drop the row
        # where Python says True.
        return Case.coordinator_user_id.is_not_distinct_from(actor.user_id)


@register
class OnAgenda(CaseCondition):
    """The case is on the agenda of a meeting the actor is invited to, within the window."""

    name = "on_agenda"
    words = Phrase(
        "while the case is on the agenda of a panel meeting they are invited to,"
        " from %(days)s days before to %(days)s days after it",
        days=MEETING_WINDOW.days,
    )

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return any(
            m.actor_invited and abs(q.now - m.scheduled_for) <= MEETING_WINDOW
            for m in case.meetings
        )

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        # `IN` over an uncorrelated subquery, not a correlated EXISTS: the database reads
        # the actor's few agenda cases once instead of probing the agendas case by case.
        # agenda_items.case_id is NOT NULL, so `NOT IN` (under `!on_agenda`) stays exact.
        return Case.id.in_(
            select(AgendaItem.case_id)
            .join(PanelMeeting, PanelMeeting.id == AgendaItem.meeting_id)
            .join(MeetingAttendee, MeetingAttendee.meeting_id == AgendaItem.meeting_id)
            .where(
                MeetingAttendee.user_id == actor.user_id,
                *(PanelMeeting.state != state for state in states.inactive_meetings()),
                PanelMeeting.scheduled_for >= now - MEETING_WINDOW,
                PanelMeeting.scheduled_for <= now + MEETING_WINDOW,
            )
        )


@register
class Summoned(CaseCondition):
    """Asked on a meeting's page, the case is on that meeting's agenda and the actor holds
    a live summons to that meeting, within its window, as the organisation kind they were
    summoned as. Per meeting: a summons opens nothing anywhere else (the case page, lists,
    the API, another meeting), so its SQL face selects no case.
    """

    name = "summoned"
    words = Phrase(
        "only on the page of the one panel meeting they are summoned to, while the case is"
        " on its agenda, within the summons' window and until the minutes are approved"
    )

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return case.at_meeting is not None and any(
            m.meeting_id == case.at_meeting
            and m.summons is not None
            and m.summons.open_at(q.now, q.actor.org_kind)
            for m in case.meetings
        )

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        # A list is never a meeting's page: the Python face says no to every question
        # without `at_meeting`, which is every question a list asks. Under `!summoned` the
        # SQL keeps every row, as the Python face does.
        return false()


@register
class Assigned(CaseCondition):
    """A live intervention on the case is assigned to the actor's organisation; asked
    about one intervention (the question carries it), that intervention is.

    The case's face lets a provider see the case; the record's face keeps them to their
    own organisation's interventions on it, which another organisation's are not.
    """

    name = "assigned"
    words = Phrase(
        "when an intervention on the case (for one intervention: that intervention)"
        " is assigned to their organisation"
    )
    told = Phrase("when an intervention on the case is assigned to their organisation")

    def describe(
        self,
        *args: str,
        state_label: Callable[[str], str] = plain,
        purpose: Phrase | None = None,
        one_record: bool = True,
    ) -> Phrase:
        return self.words if one_record else self.told

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        record = q.record
        if record is not None and record.provider_org_id is not None:
            return record.live and record.provider_org_id == q.actor.organisation_id
        return q.actor.organisation_id in case.provider_org_ids

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        # Uncorrelated `IN`, as for `on_agenda`: the organisation's cases are read once.
        return Case.id.in_(
            select(Intervention.case_id).where(
                Intervention.provider_org_id == actor.organisation_id,
                *(Intervention.state != state for state in states.inactive_interventions()),
            )
        )


@register
class Asked(CaseCondition):
    """An open information request on the case is addressed to the actor's organisation.

    Asked about one request, the facts hold that request's organisation alone, so the
    condition says whether that request is addressed to the actor's organisation.
    """

    name = "asked"
    words = Phrase("while an information request to their organisation is open on the case")

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return q.actor.organisation_id in case.asked_org_ids

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        # Uncorrelated `IN`, as for `assigned`: the organisation's open requests read once.
        return Case.id.in_(
            select(InformationRequest.case_id).where(
                InformationRequest.organisation_id == actor.organisation_id,
                *(InformationRequest.state != state for state in states.settled_by_agency()),
            )
        )


def _is_current_consent() -> ColumnElement[bool]:
    """The `consents` row at hand is the case's latest: earlier consents were superseded
    (refused, withdrawn or expired, then asked again); only the latest speaks for the subject."""
    later = aliased(Consent)
    return and_(
        Consent.case_id == Case.id,
        # Compared with consents.case_id, not cases.id: two levels down, SQLAlchemy would
        # not correlate `cases` and would read every case instead.
        ~exists(select(later.id).where(later.case_id == Consent.case_id, later.id > Consent.id)),
    )


@register
class ConsentGiven(CaseCondition):
    """The case's current consent is given (not requested, refused, withdrawn or expired)."""

    name = "consent_given"
    words = Phrase("once the person has given consent")

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return case.consent_state == states.consent_given()

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        # One index probe per case (consents(case_id, id)): the state of the latest consent.
        # COALESCE: with no consent at all the state is "not_sought", never NULL, so that
        # `!consent_given` keeps the cases Python keeps.
        latest = (
            select(Consent.state)
            .where(Consent.case_id == Case.id)
            .order_by(Consent.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        return func.coalesce(latest, states.NO_CONSENT) == states.consent_given()


def _consent_grant(
    purpose: Purpose | None, org_kind: OrgKind, category: str | None = None
) -> ColumnElement[bool]:
    """A grant of the case's current, given consent to this kind of organisation, for this
    purpose (any, if None), of this category (any, if None)."""
    clauses = [_is_current_consent(), Consent.state == states.consent_given()]
    clauses.append(ConsentScopeRow.org_kind == org_kind.value)
    if purpose is not None:
        clauses.append(ConsentScopeRow.purpose == purpose.value)
    if category is not None:
        clauses.append(ConsentScopeRow.category == category)
    return exists(
        select(ConsentScopeRow.id)
        .join(Consent, Consent.id == ConsentScopeRow.consent_id)
        .where(*clauses)
    )


def _grants(
    case: CaseFacts, org_kind: OrgKind, purpose: Purpose | None, category: str | None = None
) -> bool:
    """The Python face of `_consent_grant`, over the facts loaded."""
    return case.consent_state == states.consent_given() and any(
        s.org_kind == org_kind
        and (purpose is None or s.purpose == purpose)
        and (category is None or s.category == category)
        for s in case.consent_scope
    )


@register
class ConsentCovers(CaseCondition):
    """A given consent lets the category asked (or the one named: `consent_covers(support)`,
    for a permission such as `intervention:record`) go to the actor's kind of organisation,
    for the purpose of the rule reading it. Read without a purpose (a deny rule names
    none), any purpose will do.
    """

    name = "consent_covers"
    words = Phrase(
        "only as far as the person's consent covers %(data)s for their kind of organisation,"
        " for the purpose named"
    )  # filled by `describe`
    max_args = 1

    def describe(
        self,
        *args: str,
        state_label: Callable[[str], str] = plain,
        purpose: Phrase | None = None,
        one_record: bool = True,
    ) -> Phrase:
        data: object = Phrase("that data")
        if args:
            data = (
                DATA_WORDS[Category(args[0])]
                if args[0] in _CATEGORIES
                else f"{plain(args[0])} data"
            )
        if purpose is None:
            return Phrase(self.words.template, data=data)
        return Phrase(
            "only as far as the person's consent covers %(data)s for their kind of"
            " organisation, for %(purpose)s",
            data=data,
            purpose=purpose,
        )

    def check_args(self, args: tuple[str, ...]) -> None:
        super().check_args(args)
        if args and args[0] not in _CATEGORIES:
            raise ConditionArgumentError(f"unknown category {args[0]!r} in {self.name}")

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return self.holds_under(None, q, *args)

    def holds_under(self, purpose: Purpose | None, q: Question, *args: str) -> bool:
        category = args[0] if args else q.obj
        return q.facts is not None and _grants(q.facts, q.actor.org_kind, purpose, category)

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        return self.sql_under(None, actor, category, now, *args)

    def sql_under(
        self, purpose: Purpose | None, actor: Actor, category: str, now: datetime, *args: str
    ) -> ColumnElement[bool]:
        return _consent_grant(purpose, actor.org_kind, args[0] if args else str(category))


@register
class ConsentCoversAny(CaseCondition):
    """A given consent lets some data go to the actor's kind of organisation, for the
    purpose of the rule reading it: what a consent-bound role needs to learn that the
    case exists (its status) and reach what the consent does cover."""

    name = "consent_covers_any"
    words = Phrase(
        "only while the person's consent lets some of their data go to their kind of"
        " organisation, for the purpose named"
    )

    def describe(
        self,
        *args: str,
        state_label: Callable[[str], str] = plain,
        purpose: Phrase | None = None,
        one_record: bool = True,
    ) -> Phrase:
        if purpose is None:
            return self.words
        return Phrase(
            "only while the person's consent lets some of their data go to their kind of"
            " organisation, for %(purpose)s",
            purpose=purpose,
        )

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return self.holds_under(None, q, *args)

    def holds_under(self, purpose: Purpose | None, q: Question, *args: str) -> bool:
        return q.facts is not None and _grants(q.facts, q.actor.org_kind, purpose)

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        return self.sql_under(None, actor, category, now, *args)

    def sql_under(
        self, purpose: Purpose | None, actor: Actor, category: str, now: datetime, *args: str
    ) -> ColumnElement[bool]:
        return _consent_grant(purpose, actor.org_kind)


@register
class OrgKindIn(Condition):
    """The actor's organisation is of one of the kinds named: `org_kind_in(health, police)`."""

    name = "org_kind_in"
    words = Phrase("if their organisation is %(kinds)s")  # filled by `describe`
    min_args = 1
    max_args = None

    def describe(
        self,
        *args: str,
        state_label: Callable[[str], str] = plain,
        purpose: Phrase | None = None,
        one_record: bool = True,
    ) -> Phrase:
        return Phrase(self.words.template, kinds=_slashed(kind_words(arg) for arg in args))

    def check_args(self, args: tuple[str, ...]) -> None:
        super().check_args(args)
        for arg in args:
            if arg not in _ORG_KINDS:
                raise ConditionArgumentError(f"unknown organisation kind {arg!r} in {self.name}")

    def holds(self, q: Question, *args: str) -> bool:
        return q.actor.org_kind in args

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        # A fact about the actor, not the case: the same for every row.
        return true() if actor.org_kind in args else false()


@register
class InState(CaseCondition):
    """The case is in one of the workflow states named: `in_state(support, review)`."""

    name = "in_state"
    words = Phrase("while the case is %(states)s")  # filled by `describe`
    min_args = 1
    max_args = None

    def describe(
        self,
        *args: str,
        state_label: Callable[[str], str] = plain,
        purpose: Phrase | None = None,
        one_record: bool = True,
    ) -> Phrase:
        # A state's label is a workflow's words, in the catalogues (make messages).
        states = either(Phrase(state_label(arg)) for arg in args)
        return Phrase(self.words.template, states=states)

    def holds_for(self, q: Question, case: CaseFacts, *args: str) -> bool:
        return case.state in args

    def sql(self, actor: Actor, category: str, now: datetime, *args: str) -> ColumnElement[bool]:
        # One state (the common case, e.g. !in_state(draft)) as a plain comparison: an
        # IN list is expanded at every execution, which costs more than the query.
        return Case.state == args[0] if len(args) == 1 else Case.state.in_(args)
