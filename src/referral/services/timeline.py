"""A case's history, read from the audit log: ids, roles and categories, never content."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from referral.authz.enforcer import Decision
from referral.db.tables import AuditEntry, Case
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts
from referral.domain.vocabulary import Category
from referral.services.access import record, visible_case
from referral.services.uow import UnitOfWork

TIMELINE_LIMIT = 200


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: datetime
    action: str
    actor_role: str
    categories: tuple[str, ...]
    target: str
    allowed: bool


def timeline_decision(uow: UnitOfWork, actor: Actor, facts: CaseFacts) -> Decision | None:
    """The decision that lets the actor see who did what on this case, or None.

    The history says which agencies looked at and changed the case, which is itself
    sensitive. Two kinds of people need it: whoever may read the audit log (the dpo,
    for oversight) and whoever manages the case, which the policy expresses as writing
    its status data (the coordinator). Everyone else sees the case without its history.
    """
    for obj, act, case_facts in (("audit", "read", None), (Category.STATUS, "write", facts)):
        decision = uow.authz.decide(actor, obj, act, case_facts, uow.now)
        if decision.allowed:
            return decision
    return None


def entries_for(uow: UnitOfWork, case: Case, limit: int = TIMELINE_LIMIT) -> list[TimelineEntry]:
    rows = uow.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.case_id == case.id, AuditEntry.network_id == case.network_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    ).all()
    return [
        TimelineEntry(
            seq=e.id,
            at=e.at,
            action=e.action,
            actor_role=e.actor_role,
            categories=tuple(c for c in e.categories.split(",") if c),
            target=e.target,
            allowed=e.allowed,
        )
        for e in rows
    ]


def load_timeline(
    uow: UnitOfWork, actor: Actor, case: Case, facts: CaseFacts
) -> list[TimelineEntry] | None:
    """The case's history newest first, or None when the actor may not see it. Audited,
    in the caller's transaction: the caller commits."""
    decision = timeline_decision(uow, actor, facts)
    if decision is None:
        return None
    entries = entries_for(uow, case)
    uow.audit(record(actor, "case:timeline", decision, case_id=case.id, categories=("status",)))
    return entries


def case_timeline(uow: UnitOfWork, actor: Actor, case_id: int) -> list[TimelineEntry] | None:
    """The history of a case the actor may see (404 otherwise), or None if not theirs to see."""
    case, facts = visible_case(uow, actor, case_id)
    entries = load_timeline(uow, actor, case, facts)
    uow.commit()
    return entries
