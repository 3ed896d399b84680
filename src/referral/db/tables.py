"""The database schema. Every column holding case data names its category.

Personal columns of a subject are `sealed`: stored encrypted with the subject's own data
key (see referral.db.sealing). Status columns stay in clear, so an erased case keeps its
skeleton (states, dates, organisation kinds) for statistics.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral.db.base import Base, UTCDateTime, personal, utcnow
from referral.db.sealing import Kind, install, sealed
from referral.domain.vocabulary import Category as C


class Network(Base):
    """A prevention network. `kind` says what its data may feed: a `city` network runs
    cases; the `national` tier holds national roles and sees across cities at status level
    or in aggregate only; a `training` network holds synthetic practice cases that never
    reach statistics or linkage."""

    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="city", server_default="city")
    # IANA zone for dates and meeting times shown and entered in this network.
    time_zone: Mapped[str] = mapped_column(
        String(64), default="Europe/London", server_default="Europe/London"
    )
    # Language tags the network works in, comma-separated, its default first.
    languages: Mapped[str] = mapped_column(String(200), default="en", server_default="en")
    # The sharing agreement's (the policy's) review date for this network, and the day the
    # dpo was last reminded that it passed: one reminder per review date (services/protocols).
    agreement_review_on: Mapped[date | None] = mapped_column(nullable=True)
    agreement_reminded_on: Mapped[date | None] = mapped_column(nullable=True)


class NetworkProtocol(Base):
    """One published version of a network's information-sharing protocol. The newest
    version is the current one; every user acknowledges it before reaching a case."""

    __tablename__ = "network_protocols"
    __table_args__ = (UniqueConstraint("network_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200))
    review_on: Mapped[date] = mapped_column()
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # When the dpo was reminded that its review date passed: once per version.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProtocolAcknowledgement(Base):
    """A user read and accepted one version of a network's protocol (also audited)."""

    __tablename__ = "protocol_acknowledgements"
    __table_args__ = (UniqueConstraint("protocol_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    protocol_id: Mapped[int] = mapped_column(ForeignKey("network_protocols.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The language the user chose for the pages; None: the browser's, then the network's.
    language: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "network_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    role: Mapped[str] = mapped_column(String(32))


class DataKey(Base):
    """A subject's data key, wrapped by a master key. Destroying it erases the subject."""

    __tablename__ = "data_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Subject(Base):
    """The person a referral is about."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    # Created with the subject, before its first sealed field is written.
    data_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_keys.id"), unique=True, nullable=True
    )
    given_name: Mapped[str] = sealed(C.IDENTITY, Kind.TEXT)
    family_name: Mapped[str] = sealed(C.IDENTITY, Kind.TEXT)
    date_of_birth: Mapped[date | None] = sealed(C.IDENTITY, Kind.DATE, default=None, nullable=True)
    address: Mapped[str] = sealed(C.IDENTITY, Kind.TEXT, default="")
    identifiers: Mapped[str] = sealed(C.IDENTITY, Kind.TEXT, default="")
    phone: Mapped[str] = sealed(C.CONTACT, Kind.TEXT, default="")
    email: Mapped[str] = sealed(C.CONTACT, Kind.TEXT, default="")
    guardian_details: Mapped[str] = sealed(C.CONTACT, Kind.TEXT, default="")
    health: Mapped[str] = sealed(C.SPECIAL, Kind.TEXT, default="")
    religion: Mapped[str] = sealed(C.SPECIAL, Kind.TEXT, default="")
    ethnicity: Mapped[str] = sealed(C.SPECIAL, Kind.TEXT, default="")
    other_special: Mapped[str] = sealed(C.SPECIAL, Kind.TEXT, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # The work queue filtered to one state, in the lists' order (migration 0008).
        Index("ix_cases_network_state_due_id", "network_id", "state", "due_at", "id"),
        # Lists read a network's cases in deadline order (Repositories.cases) and stop at
        # the page's end: the index hands them over in that order, with no sort.
        Index("ix_cases_network_due", "network_id", "due_at", "id"),
        Index("ix_cases_referrer", "referrer_user_id"),
        UniqueConstraint("network_id", "reference", name="uq_cases_network_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = personal(C.STATUS, ForeignKey("networks.id"))
    # What people call the case (`DEMO-2026-0025`): services.references allocates it.
    reference: Mapped[str] = personal(C.STATUS, String(32))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    state: Mapped[str] = personal(C.STATUS, String(40))
    workflow_name: Mapped[str] = personal(C.STATUS, String(64))
    workflow_version: Mapped[int] = personal(C.STATUS, Integer)
    workflow_hash: Mapped[str] = personal(C.STATUS, String(64))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    referrer_user_id: Mapped[int] = personal(C.STATUS, ForeignKey("users.id"))
    referring_org_kind: Mapped[str] = personal(C.STATUS, String(32))
    coordinator_user_id: Mapped[int | None] = personal(
        C.STATUS, ForeignKey("users.id"), nullable=True
    )
    created_at: Mapped[datetime] = personal(C.STATUS, UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = personal(C.STATUS, UTCDateTime, nullable=True)
    state_entered_at: Mapped[datetime] = personal(C.STATUS, UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = personal(C.STATUS, UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = personal(C.STATUS, UTCDateTime, nullable=True)
    outcome_for_referrer: Mapped[str] = personal(C.STATUS, Text, default="")

    concern_summary: Mapped[str] = sealed(C.CONCERN, Kind.TEXT, default="")
    concern_types: Mapped[list[str]] = sealed(C.CONCERN, Kind.JSON, default=list)
    narrative: Mapped[str] = sealed(C.NARRATIVE, Kind.TEXT, default="")
    consent_discussed: Mapped[bool] = sealed(C.NARRATIVE, Kind.BOOL, default=False)
    criminal_information: Mapped[str] = sealed(C.CRIMINAL, Kind.TEXT, default="")
    deconfliction_result: Mapped[str] = sealed(C.CRIMINAL, Kind.TEXT, default="")
    screening_notes: Mapped[str] = sealed(C.ASSESSMENT, Kind.TEXT, default="")
    vulnerability_assessment: Mapped[str] = sealed(C.ASSESSMENT, Kind.TEXT, default="")
    risk_rating: Mapped[str] = sealed(C.ASSESSMENT, Kind.TEXT, default="")
    support_plan: Mapped[str] = sealed(C.SUPPORT, Kind.TEXT, default="")

    subject: Mapped[Subject] = relationship(lazy="joined")

    __mapper_args__: dict[str, Any] = {"version_id_col": version}


class CaseReference(Base):
    """A network's last case number in a year: the row a new reference's upsert takes."""

    __tablename__ = "case_references"

    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class SearchToken(Base):
    """One keyed blind-index entry of a case's subject: an HMAC of a name token, the date
    of birth or a concern type (services.search), never the value. Erasure removes them."""

    __tablename__ = "search_tokens"
    __table_args__ = (Index("ix_search_tokens_network_token", "network_id", "token"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    token: Mapped[str] = mapped_column(String(64))


class InformationRequest(Base):
    __tablename__ = "information_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    state: Mapped[str] = mapped_column(String(24))
    question: Mapped[str] = sealed(C.ASSESSMENT, Kind.TEXT)
    answer: Mapped[str] = sealed(C.ASSESSMENT, Kind.TEXT, default="")
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Consent(Base):
    __tablename__ = "consents"
    # The current consent of a case is its latest: one probe, (case_id, id) descending.
    __table_args__ = (Index("ix_consents_case_latest", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    state: Mapped[str] = mapped_column(String(24))
    given_by: Mapped[str] = sealed(C.CONSENT, Kind.TEXT, default="subject")
    guardian_name: Mapped[str] = sealed(C.CONSENT, Kind.TEXT, default="")
    method: Mapped[str] = sealed(C.CONSENT, Kind.TEXT, default="")
    notes: Mapped[str] = sealed(C.CONSENT, Kind.TEXT, default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    scopes: Mapped[list["ConsentScopeRow"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class ConsentScopeRow(Base):
    """One grant inside a consent: category -> organisation kind, for a purpose."""

    __tablename__ = "consent_scopes"
    __table_args__ = (UniqueConstraint("consent_id", "category", "org_kind", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id"), index=True)
    category: Mapped[str] = mapped_column(String(24))
    org_kind: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(24))


class PanelMeeting(Base):
    __tablename__ = "panel_meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    state: Mapped[str] = mapped_column(String(24))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    location: Mapped[str] = mapped_column(String(200), default="")
    chair_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Minutes cover every case on the agenda, so no one subject's key can seal them; they
    # name cases by number. Deliberation about a person goes in contributions/decisions.
    minutes: Mapped[str] = personal(C.DELIBERATION, Text, default="")


class MeetingAttendee(Base):
    """A user invited to a meeting; invitation is what opens the agenda's cases to them."""

    __tablename__ = "meeting_attendees"
    __table_args__ = (
        UniqueConstraint("meeting_id", "user_id"),
        # `on_agenda` starts from the actor: their meetings, then those meetings' agendas.
        Index("ix_meeting_attendees_user_meeting", "user_id", "meeting_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meetings.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    attended: Mapped[bool] = mapped_column(Boolean, default=False)


class MeetingSummons(Base):
    """An official summoned to one meeting from another organisation, another network or
    the national level: they read that meeting's agenda, as their organisation's kind may
    at panel, within the window and until the summons ends (minutes approved, meeting
    cancelled, window passed). `network_id` is the meeting's network."""

    __tablename__ = "meeting_summons"
    __table_args__ = (
        UniqueConstraint("meeting_id", "user_id"),
        Index("ix_meeting_summons_user_meeting", "user_id", "meeting_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meetings.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The organisation kind the policy reads for them, fixed when summoned: a summons
    # whose official's organisation changes kind since opens nothing.
    org_kind: Mapped[str] = mapped_column(String(32))
    invited_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(String(500))


class AgendaItem(Base):
    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("meeting_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meetings.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)


class Contribution(Base):
    """An agency's contribution to the panel's deliberation on a case."""

    __tablename__ = "contributions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meetings.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = sealed(C.DELIBERATION, Kind.TEXT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meetings.id"))
    outcome: Mapped[str] = sealed(C.DELIBERATION, Kind.TEXT)
    rationale: Mapped[str] = sealed(C.DELIBERATION, Kind.TEXT)
    dissent: Mapped[str] = sealed(C.DELIBERATION, Kind.TEXT, default="")
    attendee_user_ids: Mapped[list[int]] = sealed(C.DELIBERATION, Kind.JSON, default=list)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Intervention(Base):
    __tablename__ = "interventions"
    __table_args__ = (
        # `assigned` and the caseload: an organisation's live interventions and their cases,
        # read from the index alone.
        Index("ix_interventions_provider_state_case", "provider_org_id", "state", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    provider_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = sealed(C.SUPPORT, Kind.TEXT)
    plan: Mapped[str] = sealed(C.SUPPORT, Kind.TEXT, default="")
    state: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProgressNote(Base):
    __tablename__ = "progress_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id"), index=True)
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = sealed(C.SUPPORT, Kind.TEXT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(Base):
    """A review while in support, or a post-exit follow-up review."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    notes: Mapped[str] = sealed(C.SUPPORT, Kind.TEXT, default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Destruction(Base):
    """The destruction register: what was erased, when, why and on whose authority.

    It holds ids, states and dates only; the reason is an officer's note, which the
    forms ask to keep free of personal data.
    """

    __tablename__ = "destructions"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"))
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    basis: Mapped[str] = mapped_column(String(24))  # "request" or "retention"
    rule: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    cases: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class BreakGlassGrant(Base):
    """Emergency access by one user to one hidden category of one case, for a time.

    The justification is sealed with the subject's key. Every grant waits in the data
    protection officer's review queue until an outcome is recorded.
    """

    __tablename__ = "break_glass_grants"
    __table_args__ = (
        Index("ix_break_glass_grants_user_case", "user_id", "case_id", "expires_at"),
        Index("ix_break_glass_grants_review", "network_id", "reviewed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    category: Mapped[str] = mapped_column(String(24))
    justification: Mapped[str] = sealed(None, Kind.TEXT)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(24), default="")
    outcome_notes: Mapped[str] = sealed(None, Kind.TEXT, default="")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEntry(Base):
    """One entry of the append-only log (DESIGN.md §5, docs/audit-format.md).

    A request inserts its entries *queued* (seq, prev_hash and hash NULL); the sequencer
    (referral.audit.sequencer) later gives each its place in its chain, once. The
    database refuses every other UPDATE, and every DELETE.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        # A queued entry (seq, hash NULL) takes no entry in these two: the request's write
        # stays small, and the sequencer adds a chain's entries side by side (0009).
        # A query by (chain, seq) says `seq IS NOT NULL`, or compares seq, to use it.
        Index(
            "uq_audit_log_chain",
            "chain",
            "seq",
            unique=True,
            sqlite_where=text("seq IS NOT NULL"),
            postgresql_where=text("seq IS NOT NULL"),
        ),
        Index(
            "uq_audit_log_hash",
            "hash",
            unique=True,
            sqlite_where=text("hash IS NOT NULL"),
            postgresql_where=text("hash IS NOT NULL"),
        ),
        Index("ix_audit_log_case", "case_id", "id"),  # a case's newest first (0010)
        Index("ix_audit_log_actor", "actor_user_id"),
        # Subject access finds the entries that name a subject (`subject:<id>`); most
        # entries name no target and stay out. A query says `target <> ''` to use it.
        Index(
            "ix_audit_log_target",
            "target",
            sqlite_where=text("target <> ''"),
            postgresql_where=text("target <> ''"),
        ),
        # The queue: small, because an entry leaves it when it is sequenced.
        Index(
            "ix_audit_log_queued",
            "chain",
            "id",
            sqlite_where=text("seq IS NULL"),
            postgresql_where=text("seq IS NULL"),
        ),
    )

    # The queue order; the order of the log is (chain, seq).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    chain: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_org_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_role: Mapped[str] = mapped_column(String(200), default="")
    network_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target: Mapped[str] = mapped_column(String(64), default="")
    categories: Mapped[str] = mapped_column(String(200), default="")
    allowed: Mapped[bool] = mapped_column(Boolean)
    rule: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(String(24), default="")
    legal_basis: Mapped[str] = mapped_column(String(24), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    workflow_hash: Mapped[str] = mapped_column(String(64), default="")
    policy_hash: Mapped[str] = mapped_column(String(64), default="")
    change_digest: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditHead(Base):
    """The head of each chain: its last sequenced entry. Only the sequencer writes here,
    one chain at a time, so requests never wait on it."""

    __tablename__ = "audit_head"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class WebSession(Base):
    """A server-side session. The cookie holds a random token; only its SHA-256 is stored.

    Anonymous sessions (no user) carry the CSRF token of the sign-in form.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id"), nullable=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Between the password and the second factor: who is signing in, not yet signed in
    # (user_id stays empty, so nothing that reads a session sees anyone).
    pending_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # When this session last gave a second-factor code: break-glass and erasure want it fresh.
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SecondFactor(Base):
    """A user's TOTP secret, sealed with a master key (its id kept for rotation). Usable
    once confirmed by a first code; `last_step` refuses a code's second use."""

    __tablename__ = "second_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecoveryCode(Base):
    """A single-use recovery code, kept only as an argon2 hash (like a password)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginFailure(Base):
    """One failed sign-in, keyed by a digest of the username and by the client address."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A bearer token for the JSON API, bound to one user in one network."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SsoIdentity(Base):
    """A person as one network's OpenID Connect provider knows them (issuer and subject).

    First seen: pending, with no user and so no roles. An administrator of the network
    approves it by naming the user it becomes; from then on a sign-in through the
    provider opens that user's session in this network, and in no other. The name, e-mail
    and organisation the provider asserted are kept to help the administrator decide.
    """

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("network_id", "issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    claimed_name: Mapped[str] = mapped_column(String(200), default="")
    claimed_email: Mapped[str] = mapped_column(String(254), default="")
    claimed_organisation: Mapped[str] = mapped_column(String(200), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class NetworkHoliday(Base):
    """A day that is not a working day in one network: working-day deadlines skip it."""

    __tablename__ = "network_holidays"
    __table_args__ = (UniqueConstraint("network_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    day: Mapped[date] = mapped_column()
    label: Mapped[str] = mapped_column(String(200), default="")


class Timer(Base):
    """Something the clock does to one object in one state (referral.services.timers).

    Scheduled when the object enters `source_state`, cancelled when it leaves first, fired
    once by whichever worker claims it. A `transition` timer fires `trigger`; a `drift`
    timer checks for activity since `run_after` and raises an alert when there was none.
    """

    __tablename__ = "timers"
    __table_args__ = (
        # Workers claim pending timers in run_after order.
        Index("ix_timers_state_run_after", "state", "run_after"),
        # Leaving a state cancels the object's pending timers.
        Index("ix_timers_object", "object_kind", "object_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    object_kind: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int] = mapped_column(Integer)
    workflow: Mapped[str] = mapped_column(String(64))
    source_state: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # "transition" or "drift"
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When a worker may next take it: due_at, later after a failure (back-off).
    run_after: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Notification(Base):
    """A notice to one person about one move, and the outbox row of its e-mail.

    Written in the transaction of the move that causes it (referral.services.notifications),
    so the two commit together or not at all; the mailer (referral.mail) then sends the
    e-mail. `message` is a fixed phrase and `link` a path: never personal data.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        # The bell on every page: a user's unread notices in a network, counted in the index.
        Index("ix_notifications_user_unread", "user_id", "network_id", "read_at"),
        # The mailer claims pending e-mails in next_attempt_at order.
        Index("ix_notifications_email_due", "email_state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    event: Mapped[str] = mapped_column(String(64))  # e.g. "case:submit"
    message: Mapped[str] = mapped_column(String(200))
    link: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # pending, sent, failed, or skipped (no address, or e-mail turned off).
    email_state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WorkflowVersion(Base):
    """The content each loaded workflow version was first loaded with (its SHA-256).

    A case runs on the content it started with: a file edited without a new `version`
    would move running cases by rules they did not start on. Every process that loads
    the workflows checks them against this table (referral.services.workflow_pins).
    """

    __tablename__ = "workflow_versions"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TransferProposal(Base):
    """A proposal to hand a case over to another network (referral.services.transfers).

    It belongs to two networks, so it has no `network_id`: the sending network finds it by
    `from_network_id`, the receiving one by `to_network_id`, through the transfer service
    only. The reasons are sealed with the case's subject's key, so once the case is handed
    over (and the sending network's key destroyed) they read as erased, like the rest.
    """

    __tablename__ = "transfer_proposals"
    __table_args__ = (
        # One open proposal per case (migration 0019).
        Index(
            "ix_transfer_proposals_open_case",
            "case_id",
            unique=True,
            sqlite_where=text("status = 'proposed'"),
            postgresql_where=text("status = 'proposed'"),
        ),
        Index("ix_transfer_proposals_to", "to_network_id", "status", "id"),
        Index("ix_transfer_proposals_from", "from_network_id", "status", "id"),
        # The worker expires proposals nobody answered.
        Index("ix_transfer_proposals_due", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    from_network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    to_network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    from_state: Mapped[str] = mapped_column(String(40))  # the case's state when proposed
    reason: Mapped[str] = sealed(None, Kind.TEXT)
    proposed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # proposed, accepted, declined, expired or withdrawn.
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decline_reason: Mapped[str] = sealed(None, Kind.TEXT, default="")
    # The case the receiving network continues with, once accepted.
    received_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)


class WebhookEndpoint(Base):
    """An HTTPS address a network registered to be told of events (referral.services.webhooks).

    `events` holds the event names, each between commas (",case.moved,"), so one LIKE finds
    the endpoints of an event. Its secret signs each delivery (HMAC-SHA256); it is shown to
    the administrator once, when the endpoint is registered, and kept only sealed with the
    current master key (`sealed_secret`, bound to the endpoint's id; `master_key_id` for
    rotation). `secret` held it in clear before migration 0023; `referral db upgrade` seals
    such rows and empties it.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(Integer)


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row of its POST.

    Written in the transaction of the change it tells of, delivered by the worker; the
    payload holds ids and states only, never personal data.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The worker claims pending deliveries in next_attempt_at order.
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        # The admin page's delivery log: a network's newest first.
        Index("ix_webhook_deliveries_log", "network_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending, sent, or failed (after the last attempt).
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


install(Base)


class CaseStatistics(Base):
    """What national statistics count about a submitted case. What its sealed fields hold
    (the age band at referral and the concern types) is taken at submission, so that aggregates need
    no subject's key and never a date of birth; and when the case first reached screening,
    panel and support. Not a category of the case: nothing here names or dates a person
    (an age band, a set of concern types from the fixed list, three times). Read only by
    services.statistics, in aggregate; kept after erasure, like the case's skeleton."""

    __tablename__ = "case_statistics"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    # Copied from the case at submission (they never change after), so that the national
    # page reads this one narrow table instead of joining every case (bench/national_statistics.py).
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    quarter: Mapped[str] = mapped_column(String(8))  # "2026-Q4", UTC
    org_kind: Mapped[str] = mapped_column(String(32))
    # The case's state, followed as it moves (services.flow.enter_state, a migration).
    state: Mapped[str] = mapped_column(String(40))
    age_band: Mapped[str] = mapped_column(String(16), default="unknown")
    # One bit per concern type, in domain.statistics.CONCERN_BITS' order.
    concern_mask: Mapped[int] = mapped_column(Integer, default=0)
    screening_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    panel_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    support_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StatisticsPublication(Base):
    """The national statistics as last published (`referral stats refresh`): the page
    reads this one row rather than aggregating every case per request. Aggregates only,
    small cells already suppressed with `threshold`."""

    __tablename__ = "statistics_publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    threshold: Mapped[int] = mapped_column(Integer)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class LinkageToken(Base):
    """One keyed linkage token of a submitted case's subject (domain.linkage).

    Apart from the sealed data and without any personal data in clear: an HMAC under the
    deployment's linkage key, the case it came from, its network and year. Erasure deletes
    a subject's tokens; a new linkage key means new tokens (`referral linkage rebuild`).
    """

    __tablename__ = "linkage_tokens"
    __table_args__ = (
        # The one lookup: which cases hold any of these tokens (covering, no table visit).
        Index("ix_linkage_tokens_token", "token", "case_id", "network_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    token: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkageAlert(Base):
    """A possible link between two referrals of one person, as one side of it holds it.

    Each network holds its own side, read through its scope: the new referral's side
    (`side` "later": `other_case_id` is a possible earlier referral) from the match at
    submission; the earlier case's side ("earlier") only once the new case's coordinator
    asks that network to confirm. Status: `possible`, `asked`, then `confirmed` or
    `rejected`, the same on both sides. Ids, a score, states and dates: no personal data.
    """

    __tablename__ = "linkage_alerts"
    __table_args__ = (
        UniqueConstraint("case_id", "other_case_id"),
        Index("ix_linkage_alerts_network_status", "network_id", "status", "id"),
        Index("ix_linkage_alerts_other_case", "other_case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    side: Mapped[str] = mapped_column(String(8))  # "later" or "earlier": this case's side
    other_network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    other_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    similarity: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="possible")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    asked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
