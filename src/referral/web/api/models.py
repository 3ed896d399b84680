"""Request and response bodies of the JSON API, as msgspec Structs.

Litestar validates requests against them (wrong types answer 400) and documents them in
the OpenAPI schema at /schema. Datetimes are ISO 8601 in UTC. Commands for the services
are built here too, so the handlers stay one line of work each.
"""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from litestar.openapi import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from msgspec import UNSET, Meta, Struct, UnsetType

from referral.domain.actors import Actor
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.services import information, referrals, search
from referral.services.flow import Moved
from referral.web.input_guard import MAX_ID, TEXT_PATTERN, date_problem

Text = Annotated[str, Meta(max_length=referrals.MAX_TEXT, pattern=TEXT_PATTERN)]
Line = Annotated[str, Meta(max_length=500, pattern=TEXT_PATTERN)]
# Ids and versions are 32-bit integers in the database: bounded here, so a larger number
# is refused as input (400) instead of overflowing a column; the schema says so too.
Id = Annotated[int, Meta(ge=1, le=MAX_ID)]
Version = Annotated[int, Meta(ge=1, le=MAX_ID, description="The version you read (409 if stale)")]
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
Offset = Annotated[
    int,
    QueryParameter(
        ge=0,
        le=MAX_ID,
        description="Rows to skip. Kept for compatibility: the deeper, the slower; "
        "page with `after` instead",
    ),
]
# A list's position: "<due_at, ISO 8601 in UTC, or empty>~<case id>", as `next_after` gives it.
After = Annotated[
    str,
    QueryParameter(
        max_length=64,
        pattern=r"^([0-9TZ:.+-]*~[0-9]{1,10})?$",
        description="Start after this position: the `next_after` of the previous page. "
        "Each page costs the same however deep; not with `offset`",
    ),
]


class Body(Struct, forbid_unknown_fields=True):
    """A request body: a misspelt field answers 400 instead of being ignored."""


class ErrorOut(Struct, omit_defaults=True):
    """Every error: its status, a title, a message to show, and per-field messages."""

    status: int
    error: str
    message: str
    errors: dict[str, str] | UnsetType = UNSET


ERROR_TEXT = {
    400: "The body or a parameter could not be read (malformed JSON, a wrong type).",
    401: "No valid session or bearer token.",
    403: "Not allowed for your role here, or a session request without its CSRF token.",
    404: "No such object, or it is outside what you may see.",
    409: "The object changed since you read it, or is in the wrong state for this.",
    413: "The body is larger than this address accepts.",
    415: "The body is not JSON (send Content-Type: application/json).",
    422: "The request was read but is not acceptable; `errors` names the fields.",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers a handler may give (400 and 401 always)."""
    return {
        status: ResponseSpec(ErrorOut, description=ERROR_TEXT[status], generate_examples=False)
        for status in sorted({400, 401, *statuses})
    }


# -- who am I, tokens --------------------------------------------------------------


class MeOut(Struct):
    user_id: int
    organisation_id: int
    org_kind: OrgKind
    network_id: int
    network: str
    roles: list[str]

    @classmethod
    def of(cls, actor: Actor) -> "MeOut":
        return cls(
            user_id=actor.user_id,
            organisation_id=actor.organisation_id,
            org_kind=actor.org_kind,
            network_id=actor.network_id,
            network=actor.network,
            roles=sorted(actor.roles),
        )


class TokenIn(Body):
    label: Annotated[
        str,
        Meta(max_length=100, pattern=TEXT_PATTERN, description="A name to recognise the token by"),
    ]


class TokenOut(Struct):
    """The bearer token. It is shown this once: only its digest is kept."""

    token: str
    expires_in_days: int
    scheme: Literal["Bearer"] = "Bearer"


# -- cases --------------------------------------------------------------------------


class CaseSummaryOut(Struct):
    """A row of a case list: status data only."""

    case_id: int
    reference: Annotated[str, Meta(description="What people call the case: DEMO-2026-0025")]
    state: str
    version: int
    referring_org_kind: str
    created_at: datetime
    due_at: datetime | None
    submitted_at: datetime | None
    outcome_for_referrer: str

    @classmethod
    def of(cls, row: referrals.CaseSummary) -> "CaseSummaryOut":
        return cls(
            case_id=row.case_id,
            reference=row.reference,
            state=row.state,
            version=row.version,
            referring_org_kind=row.referring_org_kind,
            created_at=row.created_at,
            due_at=row.due_at,
            submitted_at=row.submitted_at,
            outcome_for_referrer=row.outcome_for_referrer,
        )


class CaseListOut(Struct):
    """One page of cases, most urgent first. No total: counting every case the caller may
    see would cost more than the page, and grow with the network."""

    cases: list[CaseSummaryOut]
    limit: int
    offset: int
    after: Annotated[str, Meta(description="The `after` this page was asked for")] = ""
    next_after: Annotated[
        str, Meta(description="Pass as `after` for the next page; empty on the last page")
    ] = ""


class SubjectIn(Body):
    given_name: Line
    family_name: Line
    date_of_birth: date | None = None
    address: Line = ""
    identifiers: Line = ""
    phone: Line = ""
    email: Line = ""
    guardian_details: Text = ""
    health: Text = ""
    religion: Line = ""
    ethnicity: Line = ""
    other_special: Text = ""

    def __post_init__(self) -> None:
        problem = self.date_of_birth and date_problem(self.date_of_birth)
        if problem:
            raise ValueError(f"date_of_birth: {problem}")


class SubmitReferralIn(Body):
    subject: SubjectIn
    concern_summary: Text
    concern_types: Annotated[list[str], Meta(description="Values of the ConcernType list")]
    narrative: Text = ""
    consent_discussed: bool = False
    as_draft: bool = False

    def command(self) -> referrals.SubmitReferral:
        s = self.subject
        return referrals.SubmitReferral(
            subject=referrals.SubjectDetails(
                given_name=s.given_name.strip(),
                family_name=s.family_name.strip(),
                date_of_birth=s.date_of_birth,
                address=s.address.strip(),
                identifiers=s.identifiers.strip(),
                phone=s.phone.strip(),
                email=s.email.strip(),
                guardian_details=s.guardian_details.strip(),
                health=s.health.strip(),
                religion=s.religion.strip(),
                ethnicity=s.ethnicity.strip(),
                other_special=s.other_special.strip(),
            ),
            concern_summary=self.concern_summary,
            concern_types=tuple(self.concern_types),
            narrative=self.narrative,
            consent_discussed=self.consent_discussed,
            as_draft=self.as_draft,
        )


class FoundOut(Struct):
    """A case a search found: status data only."""

    case_id: int
    reference: str
    state: str
    due_at: datetime | None
    submitted_at: datetime | None


class SearchOut(Struct):
    by: Annotated[str, Meta(description="What the search matched on: reference or name")]
    cases: list[FoundOut]
    more: Annotated[bool, Meta(description="More cases match than were returned")] = False

    @classmethod
    def of(cls, result: search.SearchResult) -> "SearchOut":
        rows = [
            FoundOut(r.case_id, r.reference, r.state, r.due_at, r.submitted_at) for r in result.rows
        ]
        return cls(result.by, rows, result.more)


class CaseCreatedOut(Struct):
    case_id: int


class FieldOut(Struct, omit_defaults=True):
    """A field of a case: `value` when you may read it, else `hidden: true`; `reason` says
    in the sharing agreement's words why it is shared with you, or why not."""

    category: Category
    value: Any = UNSET
    hidden: bool | UnsetType = UNSET
    reason: str | UnsetType = UNSET


class CaseOut(Struct):
    case_id: int
    reference: str
    state: str
    version: int
    workflow: str
    fields: dict[str, FieldOut]
    hidden: Annotated[
        dict[str, str],
        Meta(description="Category -> why it is hidden from you, and what would show it"),
    ]
    linked: Annotated[
        dict[str, list[dict[str, Any]]],
        Meta(description="Linked records (requests, consents, deliberation, support) you may read"),
    ]
    break_glass: Annotated[
        dict[str, datetime],
        Meta(description="Category -> until when you see it only under your break-glass grant"),
    ] = {}

    @classmethod
    def of(cls, view: referrals.CaseView) -> "CaseOut":
        fields = {
            name: FieldOut(f.category, value=f.value, reason=f.reason)
            if f.visible
            else FieldOut(f.category, hidden=True, reason=f.reason)
            for name, f in view.fields.items()
        }
        return cls(
            case_id=view.case_id,
            reference=view.reference,
            state=view.state,
            version=view.version,
            workflow=view.workflow,
            fields=fields,
            hidden={str(category): reason for category, reason in view.hidden.items()},
            linked=view.linked,
            break_glass={str(c): a.expires_at for c, a in view.break_glass.items()},
        )


class FhirEntryOut(Struct):
    fullUrl: str  # noqa: N815  (FHIR's own name)
    resource: Annotated[
        dict[str, Any],
        Meta(
            description="A FHIR R4 resource: ServiceRequest, Patient, Task, Consent or "
            "AuditEvent (IHE BALP)"
        ),
    ]


class FhirBundleOut(Struct):
    """A case as a FHIR R4 Bundle (type collection) of what you may see."""

    resourceType: Literal["Bundle"]  # noqa: N815
    id: str
    meta: dict[str, Any]
    type: Literal["collection"]
    timestamp: str
    entry: list[FhirEntryOut]

    @classmethod
    def of(cls, bundle: dict[str, Any]) -> "FhirBundleOut":
        entries = [FhirEntryOut(e["fullUrl"], e["resource"]) for e in bundle["entry"]]
        return cls(
            "Bundle", bundle["id"], bundle["meta"], "collection", bundle["timestamp"], entries
        )


class TransitionIn(Body):
    trigger: Line
    expected_version: Version | None = None
    outcome_for_referrer: Text = ""


class MovedOut(Struct):
    case_id: int
    from_state: str
    to_state: str
    version: int

    @classmethod
    def of(cls, moved: Moved) -> "MovedOut":
        return cls(moved.case_id, moved.from_state, moved.to_state, moved.version)


# -- screening, information, consent, support ------------------------------------------


class ScreeningOutcomeIn(Body):
    outcome: Annotated[
        str,
        Meta(
            description="a screening outcome of the case's workflow (the reference workflow's: "
            "close_no_action, signpost, refer_to_police, gather_information)"
        ),
    ]
    screening_notes: Text = ""
    outcome_for_referrer: Text = ""
    expected_version: Version | None = None


class DeconflictionIn(Body):
    deconfliction_result: Line
    criminal_information: Text = ""


class InformationRequestsIn(Body):
    organisation_ids: list[Id]
    question: Text


class InformationRequestsOut(Struct):
    request_ids: list[int]


class AgencyRequestOut(Struct):
    """An information request as the asked agency sees it: the question, the deadline and
    the stage of the case it is about; nothing else of the case."""

    id: int
    case_id: int
    case_state: str
    state: str
    question: str
    requested_at: datetime
    due_at: datetime

    @classmethod
    def of(cls, row: "information.AgencyRequest") -> "AgencyRequestOut":
        return cls(
            row.request_id,
            row.case_id,
            row.case_state,
            row.state,
            row.question,
            row.requested_at,
            row.due_at,
        )


class AnswerIn(Body):
    answer: Text = ""
    declined: bool = False


class StateOut(Struct):
    """A linked object (request, intervention, meeting) and the state it is now in."""

    id: int
    state: str


class ConsentScopeIn(Body):
    """This category may go to this kind of organisation, for this purpose."""

    category: Category
    org_kind: OrgKind
    purpose: Purpose

    def scope(self) -> ConsentScope:
        return ConsentScope(self.category, self.org_kind, self.purpose)


class ConsentRequestedOut(Struct):
    consent_id: int


class RecordConsentIn(Body):
    given: bool
    method: Annotated[str, Meta(description="in_person, phone, written or video")]
    scope: list[ConsentScopeIn] = []
    given_by: Annotated[str, Meta(description="subject or guardian")] = "subject"
    guardian_name: Line = ""
    notes: Text = ""


class ConsentRecordedOut(Struct):
    """`moved` is set when a refusal closed the case."""

    moved: MovedOut | None


class WithdrawConsentIn(Body):
    notes: Text = ""


class InterventionIn(Body):
    kind: Annotated[str, Meta(description="A value of the InterventionKind list")]
    provider_org_id: Id
    plan: Text


class ReviewIn(Body):
    kind: Annotated[str, Meta(description="review, follow_up_6m, follow_up_12m or exit")]
    notes: Text


class TriggerIn(Body):
    trigger: Line


class ProgressIn(Body):
    body: Text


class CreatedOut(Struct):
    """The id of what was created."""

    id: int


# -- meetings -------------------------------------------------------------------------


class MeetingIn(Body):
    scheduled_for: Annotated[datetime, Meta(tz=True, description="With its time zone")]
    chair_user_id: Id
    attendee_user_ids: list[Id]
    location: Line = ""

    def __post_init__(self) -> None:
        problem = date_problem(self.scheduled_for.date())
        if problem:
            raise ValueError(f"scheduled_for: {problem}")


class AgendaIn(Body):
    case_ids: list[Id]


class AgendaOut(Struct):
    """Cases that moved from awaiting_panel to panel_review."""

    moved: list[MovedOut]


class DecisionIn(Body):
    outcome: Annotated[str, Meta(description="support, signpost or no_action")]
    rationale: Text
    dissent: Text = ""
    outcome_for_referrer: Text = ""
    expected_version: Version | None = None


class ContributionIn(Body):
    body: Text


class MeetingTransitionIn(Body):
    trigger: Line
    minutes: Text = ""


# -- break-glass ------------------------------------------------------------------------


class BreakGlassIn(Body):
    category: Annotated[str, Meta(description="The hidden category to open, e.g. special")]
    justification: Annotated[
        str,
        Meta(
            max_length=referrals.MAX_TEXT,
            pattern=TEXT_PATTERN,
            description="Why, at least 20 characters",
        ),
    ]


class OutcomeIn(Body):
    outcome: Annotated[str, Meta(description="justified, not_justified or referred")]
    notes: Text = ""


class QueuedGrantOut(Struct):
    grant_id: int
    case_id: int
    category: str
    user_id: int
    user_name: str
    organisation_name: str
    opened_at: datetime
    expires_at: datetime
    justification: str
    active: bool


class ReviewQueueOut(Struct):
    """Break-glass grants waiting for the dpo's review, oldest first."""

    grants: list[QueuedGrantOut]
