"""The facts about a case that named policy conditions read.

A repository loads them for one (actor, case) pair; conditions are pure functions
of these facts, so a decision is a pure function of its question.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime

from referral.domain import states
from referral.domain.vocabulary import Category, OrgKind, Purpose


@dataclass(frozen=True, slots=True)
class ConsentScope:
    """One grant inside a consent: this category may go to this kind of org, for this purpose."""

    category: Category
    org_kind: OrgKind
    purpose: Purpose


@dataclass(frozen=True, slots=True)
class MeetingSlot:
    """A panel meeting the case is on the agenda of, and whether the actor is invited;
    `summons` is the actor's live summons to it (an official from elsewhere), if any."""

    meeting_id: int
    scheduled_for: datetime
    actor_invited: bool
    summons: "Summons | None" = None


@dataclass(frozen=True, slots=True)
class Summons:
    """An official's live summons to one meeting: its window, and the organisation kind
    the policy reads for them (fixed when summoned)."""

    starts: datetime
    ends: datetime
    org_kind: OrgKind

    def open_at(self, now: datetime, org_kind: OrgKind) -> bool:
        return self.starts <= now <= self.ends and self.org_kind == org_kind


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """A record hanging off a case that an operation touches, as far as conditions ask.

    A question that carries one is judged on it, not only on its case: `assigned` then
    asks whether *this* intervention is the actor's organisation's, not whether any
    intervention on the case is. `provider_org_id` is None for a record without a
    provider; `live` is false for a record no longer in force (a withdrawn intervention).
    """

    kind: str
    record_id: int
    provider_org_id: int | None = None
    live: bool = True


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the conditions may ask about a case, as seen from one actor."""

    case_id: int
    network_id: int
    state: str
    referrer_user_id: int
    coordinator_user_id: int | None = None
    meetings: tuple[MeetingSlot, ...] = ()
    provider_org_ids: frozenset[int] = field(default_factory=frozenset)
    consent_state: str = states.NO_CONSENT
    consent_scope: frozenset[ConsentScope] = field(default_factory=frozenset)
    # The organisations an open information request of the case is addressed to; for a
    # question about one request (`about_request`), that request's organisation alone.
    asked_org_ids: frozenset[int] = field(default_factory=frozenset)
    # The meeting whose page asks (its agenda read there): a summons opens a case only
    # through its meeting's page, never the case page, a list or the API.
    at_meeting: int | None = None

    def at(self, meeting_id: int) -> "CaseFacts":
        """The facts for a question asked on one meeting's page."""
        return replace(self, at_meeting=meeting_id)

    def about_request(self, organisation_id: int, state: str) -> "CaseFacts":
        """The facts for a question about one information request: the `asked` condition
        then judges that request (addressed to whom, still open), not any of the case."""
        still_open = state not in states.settled_by_agency()
        return replace(self, asked_org_ids=frozenset({organisation_id} if still_open else ()))


@dataclass(frozen=True, slots=True)
class GuardFacts:
    """What the named workflow guards may ask when a transition is fired.

    The service layer fills in the fields relevant to the object being moved;
    the rest keep their defaults.
    """

    consent_state: str = states.NO_CONSENT
    information_request_states: tuple[str, ...] = ()
    information_deadline_passed: bool = False
    on_open_agenda: bool = False
    agenda_size: int = 0
    minutes_recorded: bool = False
