"""Break-glass: a coordinator or dpo opens one category hidden from them on one case.

The opener writes down why. The access lasts a configured time (the command carries
the minutes, from settings), opens only that category of that case to that user, and
every use of it is flagged in the audit log (`breakglass:*` actions, which access
reports flag). Each grant waits in the data protection officer's review queue until an
outcome is recorded; a grant found not justified stops opening anything at once.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Decision, Permission
from referral.db.sealing import WITH_SEALED
from referral.db.tables import BreakGlassGrant, Case, Organisation, User
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from referral.domain.facts import CaseFacts
from referral.domain.vocabulary import PERSONAL_CATEGORIES, Category
from referral.i18n import N_
from referral.logging import get_logger
from referral.services import case_operations
from referral.services.access import authorise, record, visible_case
from referral.services.scope import prepared_select
from referral.services.second_factor import Confirmation, require_fresh
from referral.services.uow import UnitOfWork

log = get_logger(__name__)

OPEN = Permission.CASE_BREAKGLASS.value
REVIEW = Permission.BREAKGLASS_REVIEW.value
MIN_JUSTIFICATION = 20
MAX_TEXT = 4_000
MAX_MINUTES = 24 * 60
NOT_JUSTIFIED = "not_justified"
OUTCOMES = ("justified", NOT_JUSTIFIED, "referred")
QUEUE_LIMIT = 500


@dataclass(frozen=True)
class OpenBreakGlass:
    case_id: int
    category: str
    justification: str
    minutes: int
    # The second factor it is confirmed with (a code, or a session that gave one lately).
    confirmation: Confirmation | None = None


@dataclass(frozen=True)
class BreakGlassAccess:
    """A category a case view shows only because of a grant, and until when."""

    grant_id: int
    category: Category
    expires_at: datetime


def open_break_glass(uow: UnitOfWork, actor: Actor, command: OpenBreakGlass) -> int:
    """Open one hidden category of a case to the actor for `minutes`. Audited, queued."""
    case, facts = visible_case(uow, actor, command.case_id)
    decision = uow.authz.permission(actor, OPEN, facts, uow.now)
    if not decision.allowed:
        uow.refuse(
            record(actor, OPEN, decision, case_id=case.id),
            PermissionDenied(
                "you may not break glass on this case: {reason}", reason=decision.reason
            ),
        )
    case_operations.require(uow, case, "break_glass")
    category, justification = _validated(command)
    if uow.authz.decide(actor, category, "read", facts, uow.now).allowed:
        raise Conflict(
            "{category} data of case {case} is already visible to you",
            category=category,
            case=case.id,
        )
    current = active_grants(uow, actor, case.id).get(category)
    if current is not None:
        raise Conflict(
            "you already have break-glass access to {category} data of case {case} until "
            "{expires_at:%H:%M} UTC",
            category=category,
            case=case.id,
            expires_at=current.expires_at,
        )
    require_fresh(uow, actor, command.confirmation)
    grant = BreakGlassGrant(
        network_id=actor.network_id,
        case_id=case.id,
        user_id=actor.user_id,
        category=category.value,
        justification=justification,
        opened_at=uow.now,
        expires_at=uow.now + timedelta(minutes=command.minutes),
    )
    uow.scoped(actor).add(grant)
    uow.flush()
    change = {
        "grant": grant.id,
        "category": category.value,
        "expires_at": grant.expires_at.isoformat(),
        "justification": justification,  # digested with the subject's key, never stored
    }
    uow.audit(
        record(
            actor,
            "breakglass:open",
            decision,
            case_id=case.id,
            target=_target(grant),
            categories=(category.value,),
            change=change,
            workflow_hash=case.workflow_hash,
        )
    )
    uow.commit()
    log.info("break_glass_opened", case_id=case.id, grant_id=grant.id, category=category.value)
    return grant.id


def _validated(command: OpenBreakGlass) -> tuple[Category, str]:
    """The category and justification, or every problem with them at once."""
    errors: dict[str, str] = {}
    category = next((c for c in Category if c == command.category.strip()), None)
    if category is None:
        errors["category"] = "Choose the kind of information to open from the list."
    justification = command.justification.strip()
    if len(justification) < MIN_JUSTIFICATION:
        errors["justification"] = (
            f"Write at least {MIN_JUSTIFICATION} characters: why you need this information"
            " now, and why it cannot wait for the usual sharing."
        )
    elif len(justification) > MAX_TEXT:
        errors["justification"] = f"Keep this under {MAX_TEXT} characters."
    if not 1 <= command.minutes <= MAX_MINUTES:
        errors["minutes"] = f"Break-glass access lasts 1 to {MAX_MINUTES} minutes."
    if errors or category is None:
        raise InvalidInput(
            "break glass needs the kind of information to open and a written justification",
            errors,
        )
    return category, justification


def _target(grant: BreakGlassGrant) -> str:
    return f"break_glass_grant:{grant.id}"


# -- reading under break-glass ------------------------------------------------------------


def active_grants(uow: UnitOfWork, actor: Actor, case_id: int) -> dict[Category, BreakGlassGrant]:
    """The actor's unexpired grants on the case, by category (the latest-ending one wins)."""
    values = {"user_id": actor.user_id, "case_id": case_id, "now": uow.now}
    grants = uow.scoped(actor).scalars(_active_grants_query(), **values).all()
    return {Category(g.category): g for g in grants}


@cache
def _active_grants_query() -> Select[BreakGlassGrant]:
    """A viewer's live grants on a case, built once: every case read may ask."""
    return (
        prepared_select(BreakGlassGrant)
        .where(
            BreakGlassGrant.user_id == bindparam("user_id"),
            BreakGlassGrant.case_id == bindparam("case_id"),
            BreakGlassGrant.expires_at > bindparam("now", type_=BreakGlassGrant.expires_at.type),
            BreakGlassGrant.outcome != NOT_JUSTIFIED,
        )
        .order_by(BreakGlassGrant.expires_at, BreakGlassGrant.id)
    )


def granted(
    uow: UnitOfWork, actor: Actor, facts: CaseFacts, hidden: set[Category]
) -> dict[Category, BreakGlassAccess]:
    """Which of the hidden categories the actor's grants open on this case now.

    A grant opens only while the actor still holds the break-glass permission here.
    """
    wanted = hidden & PERSONAL_CATEGORIES
    if not wanted:
        return {}
    # The permission first: it is decided in memory, the grants need a query.
    if not uow.authz.permission(actor, OPEN, facts, uow.now).allowed:
        return {}
    grants = {c: g for c, g in active_grants(uow, actor, facts.case_id).items() if c in wanted}
    if not grants:
        return {}
    return {c: BreakGlassAccess(g.id, c, g.expires_at) for c, g in sorted(grants.items())}


def read_record(
    uow: UnitOfWork,
    actor: Actor,
    case: Case,
    facts: CaseFacts,
    opened: dict[Category, BreakGlassAccess],
) -> AuditRecord:
    """The audit entry of a read under break-glass: only the categories the grants opened."""
    decision = uow.authz.permission(actor, OPEN, facts, uow.now)
    ids = sorted({a.grant_id for a in opened.values()})
    grants = ", ".join(f"#{i}" for i in ids)
    return AuditRecord(
        action="breakglass:read",
        allowed=True,
        actor=actor,
        case_id=case.id,
        target=",".join(f"break_glass_grant:{i}" for i in ids),
        categories=tuple(sorted(opened)),
        rule=f"break-glass grant{'s' if len(ids) > 1 else ''} {grants}",
        purpose=str(decision.purpose or ""),
        legal_basis=str(decision.legal_basis or ""),
        workflow_hash=case.workflow_hash,
    )


def openable(uow: UnitOfWork, actor: Actor, facts: CaseFacts, hidden: set[Category]) -> list[str]:
    """The hidden personal categories the actor may break glass on here (none without the
    permission), for the case page's form."""
    if not uow.authz.permission(actor, OPEN, facts, uow.now).allowed:
        return []
    return [c.value for c in Category if c in hidden and c in PERSONAL_CATEGORIES]


# -- the dpo's review ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedGrant:
    """A grant waiting for review: who opened what, when, why, and until when."""

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


def _authorise_review(uow: UnitOfWork, actor: Actor) -> Decision:
    return authorise(uow, actor, REVIEW, None, target="break_glass_queue")


def review_queue(uow: UnitOfWork, actor: Actor) -> list[QueuedGrant]:
    """The network's grants without an outcome, oldest first. Only the dpo; audited.

    It may follow a refused form in the same request: whatever that attempt left in the
    session is dropped first, so this read can never commit half a change.
    """
    uow.rollback()
    decision = _authorise_review(uow, actor)
    scope = uow.scoped(actor)
    rows = scope.execute(
        scope.select(BreakGlassGrant, User.display_name, Organisation.name)
        .join(User, User.id == BreakGlassGrant.user_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(BreakGlassGrant.reviewed_at.is_(None))
        .order_by(BreakGlassGrant.opened_at, BreakGlassGrant.id)
        .limit(QUEUE_LIMIT)
        .options(WITH_SEALED)
    ).all()
    queue = [
        QueuedGrant(
            grant_id=grant.id,
            case_id=grant.case_id,
            category=grant.category,
            user_id=grant.user_id,
            user_name=user_name,
            organisation_name=organisation_name,
            opened_at=grant.opened_at,
            expires_at=grant.expires_at,
            justification=grant.justification,
            active=grant.expires_at > uow.now,
        )
        for grant, user_name, organisation_name in rows
    ]
    # The justifications are personal data: the reading is recorded, with grant ids only.
    change = {"grants": [q.grant_id for q in queue]}
    uow.audit(
        record(actor, "breakglass:queue", decision, target="break_glass_queue", change=change)
    )
    uow.commit()
    return queue


@dataclass(frozen=True)
class RecordOutcome:
    grant_id: int
    outcome: str
    notes: str = ""


def record_outcome(uow: UnitOfWork, actor: Actor, command: RecordOutcome) -> None:
    """The dpo's finding on one grant; it leaves the queue. Audited as `breakglass:review`."""
    decision = _authorise_review(uow, actor)
    scope = uow.scoped(actor)
    grant = scope.scalars(
        scope.select(BreakGlassGrant)
        .where(BreakGlassGrant.id == command.grant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if grant is None:
        raise NotFound("break-glass grant {grant} not found", grant=command.grant_id)
    if command.outcome not in OUTCOMES:
        raise InvalidInput(
            "unknown outcome {outcome!r}",
            {"outcome": N_("Choose whether the access was justified, not justified, or referred.")},
            outcome=command.outcome[:40],
        )
    notes = command.notes.strip()
    if len(notes) > MAX_TEXT:
        raise InvalidInput("the notes are too long", {"notes": f"Keep this under {MAX_TEXT}."})
    if grant.reviewed_at is not None:
        raise Conflict(
            "break-glass grant {grant} was already reviewed: {outcome}",
            grant=grant.id,
            outcome=grant.outcome,
        )
    grant.outcome = command.outcome
    grant.outcome_notes = notes
    grant.reviewed_by = actor.user_id
    grant.reviewed_at = uow.now
    change = {"grant": grant.id, "outcome": command.outcome, "notes": notes}
    uow.audit(
        record(
            actor,
            "breakglass:review",
            decision,
            case_id=grant.case_id,
            target=_target(grant),
            change=change,
        )
    )
    uow.commit()
    log.info("break_glass_reviewed", grant_id=grant.id, outcome=command.outcome)
