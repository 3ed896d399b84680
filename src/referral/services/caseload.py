"""A provider's caseload: the interventions assigned to their organisation, and one
intervention with the part of its case the support plan needs. Reads are audited."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import true
from sqlalchemy.orm import Load, aliased

from referral.db.sealing import SEALED_GROUP
from referral.db.tables import Case, Intervention
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound
from referral.domain.facts import GuardFacts, RecordFacts
from referral.domain.vocabulary import Category
from referral.i18n import N_
from referral.services import case_operations, referrals, support
from referral.services.access import record
from referral.services.linked import intervention_facts
from referral.services.uow import UnitOfWork

# What a provider needs to see of a case, in reading order; each obeys the policy.
PROVIDER_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "address",
    "phone",
    "email",
    "guardian_details",
    "concern_summary",
    "concern_types",
    "narrative",
    "health",
    "religion",
    "ethnicity",
    "other_special",
    "support_plan",
)


@dataclass(frozen=True)
class InterventionRow:
    intervention_id: int
    case_id: int
    state: str
    kind: str
    plan: str
    created_at: datetime
    triggers: list[str]
    may_record: bool  # a progress note, the intervention active and the case in support
    case_reference: str = ""


def _progress_open(uow: UnitOfWork, intervention: Intervention, case: Case) -> bool:
    """Whether progress may be recorded on it now (support.record_progress's own checks)."""
    active = states.name(states.INTERVENTION, "active")
    return intervention.state == active and case_operations.allowed(uow, case, "record_progress")


@dataclass(frozen=True)
class ListInterventions:
    limit: int = 200
    before: int | None = None  # the page starts below this intervention id (newest first)


def _triggers(uow: UnitOfWork, actor: Actor, intervention: Intervention, case: Case) -> list[str]:
    """The intervention's transitions the actor may fire now: the case's state allows its
    interventions to move, the policy permits and the guards pass."""
    if not case_operations.allowed(uow, case, "move_intervention"):
        return []
    facts = uow.repo.case_facts(case, actor)
    consent = uow.repo.current_consent(case.id)
    guard_facts = GuardFacts(consent_state=consent.state if consent else states.NO_CONSENT)
    workflow = uow.workflow(support.WORKFLOW)
    about = _about(intervention)
    return [
        t.trigger
        for t in uow.engine.available(workflow, intervention.state, guard_facts)
        if uow.authz.permission(actor, t.permission, facts, uow.now, record=about).allowed
    ]


def _about(intervention: Intervention) -> RecordFacts:
    return intervention_facts(intervention.id, intervention.provider_org_id, intervention.state)


def list_interventions(
    uow: UnitOfWork, actor: Actor, query: ListInterventions
) -> list[InterventionRow]:
    """One page of `intervention_page`, without where the next one starts."""
    return intervention_page(uow, actor, query).rows


@dataclass(frozen=True)
class InterventionsPage:
    rows: list[InterventionRow]
    older: int | None = None  # the next page starts below this intervention id


def intervention_page(uow: UnitOfWork, actor: Actor, query: ListInterventions) -> InterventionsPage:
    """Live interventions assigned to the actor's organisation on cases whose support plan
    the actor may read now, filtered in SQL by the policy; newest first, a page at a time.
    Only the page's rows are audited as read."""
    if not 1 <= query.limit <= 500:
        raise InvalidInput("limit must be between 1 and 500", {"limit": N_("out of range")})
    scope = uow.scoped(actor)
    # Aliased: the policy's SQL has its own subqueries over `interventions`, which must
    # correlate with `cases` only, not with this row.
    mine = aliased(Intervention)
    older = mine.id < query.before if query.before is not None else true()
    rows: Sequence[Any] = scope.execute(
        scope.select(mine, Case, readable=(Category.SUPPORT, "read"))
        .join(Case, Case.id == mine.case_id)
        # Only live ones: the policy's `assigned`, asked about one intervention, holds for
        # the actor's organisation's interventions that are not withdrawn.
        .where(
            mine.provider_org_id == actor.organisation_id,
            mine.state.not_in(states.inactive_interventions()),
            older,
        )
        # Newest first by id (ids grow with creation): a page starts where the last
        # ended, at the same cost however far back.
        .order_by(mine.id.desc())
        .limit(query.limit + 1)  # one past the page says whether another follows
        .options(Load(mine).undefer_group(SEALED_GROUP))
    ).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    result = []
    audited: set[int] = set()
    for intervention, case in rows:
        if case.id not in audited:
            facts = uow.repo.case_facts(case, actor)
            decision = uow.authz.decide(actor, Category.SUPPORT, "read", facts, uow.now)
            uow.audit(
                record(
                    actor,
                    "intervention:list",
                    decision,
                    case_id=case.id,
                    categories=(Category.SUPPORT,),
                    workflow_hash=case.workflow_hash,
                )
            )
            audited.add(case.id)
        result.append(
            InterventionRow(
                intervention.id,
                case.id,
                intervention.state,
                intervention.kind,
                intervention.plan,
                intervention.created_at,
                _triggers(uow, actor, intervention, case),
                _progress_open(uow, intervention, case),
                case.reference,
            )
        )
    uow.commit()
    return InterventionsPage(result, result[-1].intervention_id if more and result else None)


@dataclass(frozen=True)
class ShowIntervention:
    intervention_id: int


@dataclass(frozen=True)
class InterventionPage:
    intervention_id: int
    state: str
    kind: str
    plan: str
    case: referrals.CaseView
    progress_notes: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    triggers: list[str]
    may_record: bool
    fields: tuple[str, ...] = field(default=PROVIDER_FIELDS)


def show_intervention(uow: UnitOfWork, actor: Actor, query: ShowIntervention) -> InterventionPage:
    """One intervention of the actor's organisation, its case read under the policy."""
    scope = uow.scoped(actor)
    intervention = scope.repo.intervention(query.intervention_id)
    if intervention is None or intervention.provider_org_id != actor.organisation_id:
        raise NotFound("intervention {intervention} not found", intervention=query.intervention_id)
    view = referrals.read_case(uow, actor, intervention.case_id)  # NotFound, audited there
    if Category.SUPPORT in view.hidden:
        raise NotFound("intervention {intervention} not found", intervention=query.intervention_id)
    case = scope.repo.case(intervention.case_id)
    assert case is not None  # read_case found it a moment ago
    facts = uow.repo.case_facts(case, actor)
    may_record = (
        _progress_open(uow, intervention, case)
        and uow.authz.permission(
            actor, "intervention:record", facts, uow.now, record=_about(intervention)
        ).allowed
    )
    notes = [
        n for n in view.linked.get("progress_notes", []) if n["intervention_id"] == intervention.id
    ]
    return InterventionPage(
        intervention_id=intervention.id,
        state=intervention.state,
        kind=intervention.kind,
        plan=intervention.plan,
        case=view,
        progress_notes=notes,
        consents=view.linked.get("consents", []),
        triggers=_triggers(uow, actor, intervention, case),
        may_record=may_record,
    )
