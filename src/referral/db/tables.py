"""The database schema. Every column holding case data names its category.

Personal columns are plain text here; the subject-key encryption of issue #5
wraps them without changing their categories.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral.db.base import Base, UTCDateTime, personal, utcnow
from referral.domain.vocabulary import Category as C


class Network(Base):
    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


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

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "network_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    role: Mapped[str] = mapped_column(String(32))


class Subject(Base):
    """The person a referral is about."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    given_name: Mapped[str] = personal(C.IDENTITY, Text)
    family_name: Mapped[str] = personal(C.IDENTITY, Text)
    date_of_birth: Mapped[date | None] = personal(C.IDENTITY, Date, nullable=True)
    address: Mapped[str] = personal(C.IDENTITY, Text, default="")
    identifiers: Mapped[str] = personal(C.IDENTITY, Text, default="")
    phone: Mapped[str] = personal(C.CONTACT, Text, default="")
    email: Mapped[str] = personal(C.CONTACT, Text, default="")
    guardian_details: Mapped[str] = personal(C.CONTACT, Text, default="")
    health: Mapped[str] = personal(C.SPECIAL, Text, default="")
    religion: Mapped[str] = personal(C.SPECIAL, Text, default="")
    ethnicity: Mapped[str] = personal(C.SPECIAL, Text, default="")
    other_special: Mapped[str] = personal(C.SPECIAL, Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_network_state_due", "network_id", "state", "due_at"),
        # Lists read a network's cases in deadline order (Repositories.cases) and stop at
        # the page's end: the index hands them over in that order, with no sort.
        Index("ix_cases_network_due", "network_id", "due_at", "id"),
        Index("ix_cases_referrer", "referrer_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = personal(C.STATUS, ForeignKey("networks.id"))
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

    concern_summary: Mapped[str] = personal(C.CONCERN, Text, default="")
    concern_types: Mapped[list[str]] = personal(C.CONCERN, JSON, default=list)
    narrative: Mapped[str] = personal(C.NARRATIVE, Text, default="")
    consent_discussed: Mapped[bool] = personal(C.NARRATIVE, Boolean, default=False)
    criminal_information: Mapped[str] = personal(C.CRIMINAL, Text, default="")
    deconfliction_result: Mapped[str] = personal(C.CRIMINAL, Text, default="")
    screening_notes: Mapped[str] = personal(C.ASSESSMENT, Text, default="")
    vulnerability_assessment: Mapped[str] = personal(C.ASSESSMENT, Text, default="")
    risk_rating: Mapped[str] = personal(C.ASSESSMENT, String(16), default="")
    support_plan: Mapped[str] = personal(C.SUPPORT, Text, default="")

    subject: Mapped[Subject] = relationship(lazy="joined")

    __mapper_args__: dict[str, Any] = {"version_id_col": version}


class InformationRequest(Base):
    __tablename__ = "information_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    state: Mapped[str] = mapped_column(String(24))
    question: Mapped[str] = personal(C.ASSESSMENT, Text)
    answer: Mapped[str] = personal(C.ASSESSMENT, Text, default="")
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
    given_by: Mapped[str] = personal(C.CONSENT, String(16), default="subject")
    guardian_name: Mapped[str] = personal(C.CONSENT, Text, default="")
    method: Mapped[str] = personal(C.CONSENT, String(32), default="")
    notes: Mapped[str] = personal(C.CONSENT, Text, default="")
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
    body: Mapped[str] = personal(C.DELIBERATION, Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("panel_meetings.id"))
    outcome: Mapped[str] = personal(C.DELIBERATION, String(32))
    rationale: Mapped[str] = personal(C.DELIBERATION, Text)
    dissent: Mapped[str] = personal(C.DELIBERATION, Text, default="")
    attendee_user_ids: Mapped[list[int]] = personal(C.DELIBERATION, JSON, default=list)
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
    kind: Mapped[str] = personal(C.SUPPORT, String(32))
    plan: Mapped[str] = personal(C.SUPPORT, Text, default="")
    state: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProgressNote(Base):
    __tablename__ = "progress_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id"), index=True)
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = personal(C.SUPPORT, Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(Base):
    """A review while in support, or a post-exit follow-up review."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    notes: Mapped[str] = personal(C.SUPPORT, Text, default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """One link of the append-only hash chain (DESIGN.md §5). Never updated or deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_case", "case_id"),
        Index("ix_audit_log_actor", "actor_user_id"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
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
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain head, a single row; locking it serialises appends across processes."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
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
