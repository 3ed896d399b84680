"""Submitting referrals, reading a case under policy, and listing cases."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from referral.authz import explain
from referral.authz.enforcer import Decision
from referral.db.fields import categorised_columns
from referral.db.sealing import ERASED_TEXT
from referral.db.tables import Case, Subject
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.domain.facts import CaseFacts, RecordFacts
from referral.domain.references import initials
from referral.domain.vocabulary import Category, ConcernType
from referral.i18n import N_
from referral.logging import get_logger
from referral.services import breakglass, case_operations, linkage, linked, search, statistics
from referral.services.access import authorise, read_record, record, visible_case
from referral.services.flow import Moved, fire_case, trigger_via
from referral.services.queue import case_rows, parse_position, position_of
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via

REFERRAL_WORKFLOW = "referral"
log = get_logger(__name__)
MAX_TEXT = 20_000


@dataclass(frozen=True)
class SubjectDetails:
    given_name: str
    family_name: str
    date_of_birth: date | None = None
    address: str = ""
    identifiers: str = ""
    phone: str = ""
    email: str = ""
    guardian_details: str = ""
    health: str = ""
    religion: str = ""
    ethnicity: str = ""
    other_special: str = ""


@dataclass(frozen=True)
class SubmitReferral:
    subject: SubjectDetails
    concern_summary: str
    concern_types: tuple[str, ...]
    narrative: str = ""
    consent_discussed: bool = False
    as_draft: bool = False


def validate_referral(command: SubmitReferral, today: date) -> dict[str, str]:
    """Field name -> what is wrong, in words a referrer understands."""
    errors: dict[str, str] = {}
    subject = command.subject
    if not subject.given_name.strip():
        errors["given_name"] = "Enter the person's given name."
    if not subject.family_name.strip():
        errors["family_name"] = "Enter the person's family name."
    if subject.date_of_birth and subject.date_of_birth > today:
        errors["date_of_birth"] = "The date of birth cannot be in the future."
    if not command.concern_summary.strip():
        errors["concern_summary"] = "Summarise the concern in a sentence or two."
    unknown = sorted(set(command.concern_types) - set(ConcernType))
    if unknown:
        errors["concern_types"] = f"Unknown concern type: {', '.join(unknown)}."
    elif not command.concern_types:
        errors["concern_types"] = "Choose at least one type of concern."
    texts = {"narrative": command.narrative, "concern_summary": command.concern_summary}
    for name, text in texts.items():
        if len(text) > MAX_TEXT:
            errors[name] = f"Keep this under {MAX_TEXT} characters."
    return errors


def submit_referral(uow: UnitOfWork, actor: Actor, command: SubmitReferral) -> int:
    """Create a case for the referrer and submit it (or keep it as a draft)."""
    errors = validate_referral(command, uow.now.date())
    if errors:
        raise InvalidInput("the referral has errors; correct them and submit again", errors)
    workflow = uow.workflow(REFERRAL_WORKFLOW)
    prospective = CaseFacts(
        case_id=0,
        network_id=actor.network_id,
        state=workflow.initial,
        referrer_user_id=actor.user_id,
    )
    decision = authorise(uow, actor, "case:submit", prospective)
    subject = Subject(network_id=actor.network_id, **vars(command.subject))
    case = Case(
        network_id=actor.network_id,
        reference=search.allocate_reference(uow, actor.network_id, uow.now),
        subject=subject,
        state=workflow.initial,
        workflow_name=workflow.name,
        workflow_version=workflow.version,
        workflow_hash=workflow.content_hash,
        referrer_user_id=actor.user_id,
        referring_org_kind=actor.org_kind,
        concern_summary=command.concern_summary.strip(),
        concern_types=sorted(set(command.concern_types)),
        narrative=command.narrative,
        consent_discussed=command.consent_discussed,
        state_entered_at=uow.now,
        created_at=uow.now,
    )
    uow.scoped(actor).add(case)
    uow.flush()
    search.index_case(
        uow,
        case,
        given_name=command.subject.given_name,
        family_name=command.subject.family_name,
        born=command.subject.date_of_birth,
        concern_types=case.concern_types,
        replace=False,
    )
    written = sorted({*categorised_columns(Subject).values(), Category.CONCERN, Category.NARRATIVE})
    uow.audit(
        record(
            actor,
            "case:create",
            decision,
            case_id=case.id,
            categories=tuple(written),
            change={"case": case.id, "subject": subject.id},
            workflow_hash=workflow.content_hash,
        )
    )
    if not command.as_draft:
        facts = uow.repo.case_facts(case, actor)
        fire_case(uow, actor, case, facts, trigger_via(uow, case, Via.SUBMISSION))
        case.submitted_at = uow.now
        statistics.record_referral_facts(
            uow, actor, case, command.subject.date_of_birth, command.concern_types
        )
        linkage.record_submission(uow, actor, case)
    uow.commit()
    log.info("referral_submitted", case_id=case.id, draft=command.as_draft)
    return case.id


@dataclass(frozen=True)
class SubmitDraft:
    case_id: int
    expected_version: int | None = None


def submit_draft(uow: UnitOfWork, actor: Actor, command: SubmitDraft) -> Moved:
    """Submit a referral the referrer saved as a draft earlier."""
    case, facts = visible_case(uow, actor, command.case_id)
    trigger = trigger_via(uow, case, Via.SUBMISSION)
    moved = fire_case(uow, actor, case, facts, trigger, expected_version=command.expected_version)
    case.submitted_at = uow.now
    statistics.record_referral_facts(
        uow, actor, case, case.subject.date_of_birth, case.concern_types
    )
    linkage.record_submission(uow, actor, case)
    uow.commit()
    return moved


@dataclass(frozen=True)
class FieldView:
    """One field as a viewer sees it: its value, or why it is hidden."""

    name: str
    category: Category
    value: Any
    visible: bool
    reason: str = ""


@dataclass(frozen=True)
class CaseView:
    case_id: int
    state: str
    version: int
    workflow: str
    fields: dict[str, FieldView]
    hidden: dict[Category, str]
    linked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Categories shown only under an active break-glass grant of the viewer, until when.
    break_glass: dict[Category, breakglass.BreakGlassAccess] = field(default_factory=dict)
    # Each category's sentence: why the viewer sees it, or why not (authz.explain).
    why: dict[Category, str] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        view = self.fields[name]
        return view.value if view.visible else None

    @property
    def reference(self) -> str:
        return str(self.value("reference") or "")

    @property
    def initials(self) -> str:
        """The person's initials, for beside the reference: only when the viewer reads
        their identity (an erased person has none)."""
        if self.fields["given_name"].visible and self.value("given_name") != ERASED_TEXT:
            return initials(self.value("given_name"), self.value("family_name"))
        return ""


def read_case(
    uow: UnitOfWork, actor: Actor, case_id: int, *, at_meeting: int | None = None
) -> CaseView:
    """Every field the actor may read now; the rest hidden with the reason. Audited.
    `at_meeting`: read on that meeting's page, and ledgered as `meeting:<id>`."""
    target = f"meeting:{at_meeting}" if at_meeting is not None else ""
    view, _, _ = case_view(uow, actor, case_id, target=target, at_meeting=at_meeting)
    uow.commit()
    return view


def case_view(
    uow: UnitOfWork,
    actor: Actor,
    case_id: int,
    *,
    target: str = "",
    at_meeting: int | None = None,
) -> tuple[CaseView, Case, CaseFacts]:
    """What `read_case` answers, with the case and its facts for a page that shows more;
    the read's audit entry queued in `uow`, for the caller's commit. `target`: the form
    the read is ledgered as taking, when another (`fhir`, services.fhir)."""
    case, facts = visible_case(uow, actor, case_id, sealed=True, at_meeting=at_meeting)
    decisions = uow.authz.category_decisions(actor, facts, uow.now)
    readable = {category for category, decision in decisions.items() if decision.allowed}
    opened = breakglass.granted(uow, actor, facts, set(Category) - readable)
    readable |= set(opened)
    why = _explained(uow, actor, case, facts, decisions, readable, opened)
    fields: dict[str, FieldView] = {}
    for obj in (case, case.subject):
        for name, category in categorised_columns(type(obj)).items():
            if category in readable:
                fields[name] = FieldView(name, category, getattr(obj, name), True, why[category])
            else:
                fields[name] = FieldView(name, category, None, False, why[category])
    hidden = {c: why[c] for c in decisions if c not in readable}
    uow.audit(
        read_record(
            actor,
            "case:read",
            decisions,
            case_id=case.id,
            ledgered_elsewhere=opened,
            workflow_hash=case.workflow_hash,
            target=target,
        )
    )
    if opened:
        uow.audit(breakglass.read_record(uow, actor, case, facts, opened))
    view = CaseView(
        case_id=case.id,
        state=case.state,
        version=case.version,
        workflow=f"{case.workflow_name} v{case.workflow_version}",
        fields=fields,
        hidden=hidden,
        linked=linked.linked_records(
            uow.scoped(actor), case.id, readable, _interventions_shown(uow, actor, facts, opened)
        ),
        break_glass=opened,
        why=why,
    )
    return view, case, facts


def _explained(
    uow: UnitOfWork,
    actor: Actor,
    case: Case,
    facts: CaseFacts,
    decisions: Mapping[Category, Decision],
    readable: set[Category],
    opened: Mapping[Category, breakglass.BreakGlassAccess],
) -> dict[Category, str]:
    """Each category's sentence for the viewer, in the agreement's words (authz.explain):
    why it is shown, or why not and what would show it, break-glass included where the
    viewer may break glass on this case now."""
    hidden = set(Category) - readable
    openable = (
        {Category(c) for c in breakglass.openable(uow, actor, facts, hidden)}
        if hidden and case_operations.allowed(uow, case, "break_glass")
        else set()
    )
    return explain.for_categories(
        decisions,
        actor.roles,
        lambda category: uow.authz.rules_for(actor, category, "read"),
        openable=openable,
        opened={c: access.expires_at for c, access in opened.items()},
        state_label=uow.workflow_read(case.workflow_name, case.workflow_version).state_label,
    )


def _interventions_shown(
    uow: UnitOfWork, actor: Actor, facts: CaseFacts, opened: Mapping[Category, object]
) -> linked.Shows | None:
    """The interventions the viewer is shown: those whose support data the policy lets them
    read, asked about each one; all of them under a break-glass grant of `support`."""
    if Category.SUPPORT in opened:
        return None

    def shows(intervention: RecordFacts) -> bool:
        decision = uow.authz.decide(
            actor, Category.SUPPORT, "read", facts, uow.now, record=intervention
        )
        return decision.allowed

    return shows


@dataclass(frozen=True)
class CaseSummary:
    """A row of a case list: status data only, which every list may show."""

    case_id: int
    state: str
    due_at: datetime | None
    referring_org_kind: str
    created_at: datetime
    version: int
    submitted_at: datetime | None = None
    outcome_for_referrer: str = ""
    reference: str = ""


@dataclass(frozen=True)
class ListCases:
    states: tuple[str, ...] = ()
    limit: int = 50
    # Rows to skip: kept for the API's older clients. Every skipped row is still read, so
    # a deep offset costs in proportion to its depth; `after` does not.
    offset: int = 0
    after: str = ""  # a position from a previous page's `next_after` (keyset paging)


LIST_COLUMNS = (
    Case.id,
    Case.state,
    Case.due_at,
    Case.referring_org_kind,
    Case.created_at,
    Case.version,
    Case.submitted_at,
    Case.outcome_for_referrer,
    Case.reference,
)


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseSummary]
    next_after: str = ""  # where the next page starts ("" when this is the last)


def case_page(uow: UnitOfWork, actor: Actor, query: ListCases) -> CasePage:
    """The cases the actor may see, filtered in SQL by the policy, most urgent first: one
    page, and where the next one starts. Nothing is counted: a page costs the same at
    any depth and in a network of any size."""
    if not 1 <= query.limit <= 500:
        raise InvalidInput("limit must be between 1 and 500", {"limit": N_("out of range")})
    if query.after and query.offset:
        raise InvalidInput(
            "page with either offset or after, not both", {"offset": N_("leave out with after")}
        )
    scope = uow.scoped(actor)
    where = scope.case_filter(Category.STATUS, "read")
    if query.states:
        where = where & Case.state.in_(query.states)
    # One row past the page says whether another page follows, without a count.
    found = case_rows(
        scope,
        LIST_COLUMNS,
        where,
        limit=query.limit + 1,
        offset=query.offset,
        after=parse_position(query.after),
    )
    rows = [
        CaseSummary(
            case_id=c.id,
            state=c.state,
            due_at=c.due_at,
            referring_org_kind=c.referring_org_kind,
            created_at=c.created_at,
            version=c.version,
            submitted_at=c.submitted_at,
            outcome_for_referrer=c.outcome_for_referrer,
            reference=c.reference,
        )
        for c in found[: query.limit]
    ]
    last = rows[-1] if rows and len(found) > query.limit else None
    return CasePage(rows, position_of(last.due_at, last.case_id) if last else "")


def list_cases(uow: UnitOfWork, actor: Actor, query: ListCases) -> list[CaseSummary]:
    """One page of `case_page`, without where the next one starts."""
    return case_page(uow, actor, query).rows
