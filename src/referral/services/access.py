"""Policy checks every service shares: find a case the actor may see, authorise an
action, write fields category by category. Each refusal is audited."""

from collections.abc import Collection, Mapping
from typing import Any

from referral.audit import ledger
from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Decision
from referral.db.base import Base
from referral.db.fields import category_of
from referral.db.tables import Case
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound, PermissionDenied
from referral.domain.facts import CaseFacts, RecordFacts
from referral.domain.vocabulary import Category
from referral.services.uow import UnitOfWork


def record(
    actor: Actor,
    action: str,
    decision: Decision,
    *,
    case_id: int | None = None,
    target: str = "",
    categories: tuple[str, ...] = (),
    change: dict[str, Any] | None = None,
    workflow_hash: str = "",
) -> AuditRecord:
    """An audit record of a policy decision: who, what, which rule, purpose and basis."""
    return AuditRecord(
        action=action,
        allowed=decision.allowed,
        actor=actor,
        case_id=case_id,
        target=target,
        categories=categories,
        rule=decision.rule_text,
        purpose=str(decision.purpose or ""),
        legal_basis=str(decision.legal_basis or ""),
        change=change,
        workflow_hash=workflow_hash,
    )


def read_record(
    actor: Actor,
    action: str,
    decisions: Mapping[Category, Decision],
    *,
    case_id: int,
    ledgered_elsewhere: Collection[Category] = (),
    workflow_hash: str = "",
    target: str = "",
) -> AuditRecord:
    """The one audit entry of a read, built from the decisions the read already made.

    Each category shown is ledgered with the rule that allowed it and that rule's purpose
    and legal basis; each one hidden with what refused it (a deny rule, or no rule).
    Categories `ledgered_elsewhere` (opened by break-glass, which has its own entry) are
    left out. The purpose and basis columns hold what every category shown shares, or "".
    """
    # Built straight from the decisions (which the read made anyway): no query, and no
    # more than a dict per category on the request path.
    read: dict[str, tuple[str, str, str]] = {}
    refused: dict[str, str] = {}
    for category, decision in decisions.items():
        if decision.allowed:
            why = (str(decision.purpose or ""), str(decision.legal_basis or ""))
            read[category] = (decision.rule_ref, *why)
        elif category not in ledgered_elsewhere:
            refused[category] = decision.rule_ref
    return AuditRecord(
        action=action,
        allowed=True,
        actor=actor,
        case_id=case_id,
        target=target,
        categories=tuple(read),
        rule=ledger.encode(read, refused),
        purpose=ledger.shared(why[1] for why in read.values()),
        legal_basis=ledger.shared(why[2] for why in read.values()),
        workflow_hash=workflow_hash,
    )


def visible_case(
    uow: UnitOfWork,
    actor: Actor,
    case_id: int,
    *,
    sealed: bool = False,
    at_meeting: int | None = None,
) -> tuple[Case, CaseFacts]:
    """The case, if the actor may see it at all; otherwise "not found", never "forbidden".
    With `sealed`, its sealed fields are opened in the same query (a page showing them);
    `at_meeting`: asked on that meeting's page (where a summons opens its agenda)."""
    scope = uow.scoped(actor)
    case = scope.repo.case(case_id, sealed=sealed)
    if case is None:
        raise NotFound("case {case} not found", case=case_id)
    facts = scope.repo.case_facts(case, actor)
    if at_meeting is not None:
        facts = facts.at(at_meeting)
    refuse_unless_visible(uow, actor, facts)
    return case, facts


def refuse_unless_visible(uow: UnitOfWork, actor: Actor, facts: CaseFacts) -> None:
    """A case the actor may not see at all is "not found" (the refusal audited)."""
    decision = uow.authz.decide(actor, Category.STATUS, "read", facts, uow.now)
    if not decision.allowed:
        uow.refuse(
            record(actor, "case:read", decision, case_id=facts.case_id, categories=("status",)),
            NotFound("case {case} not found", case=facts.case_id),
        )


def refuse_unless_record_visible(
    uow: UnitOfWork, actor: Actor, facts: CaseFacts, about: RecordFacts, category: Category
) -> Decision:
    """A record of a visible case (an intervention) that the actor may not read, asked
    about that record, is "not found" too: checked before any input or state is looked
    at, so nothing answers differently for a record out of their scope. The refusal is
    audited. `category` governs the record (`support` for an intervention)."""
    decision = uow.authz.decide(actor, category, "read", facts, uow.now, record=about)
    if not decision.allowed:
        uow.refuse(
            record(
                actor,
                f"{about.kind}:read",
                decision,
                case_id=facts.case_id,
                target=f"{about.kind}:{about.record_id}",
                categories=(category,),
            ),
            NotFound("{kind} {record} not found", kind=about.kind, record=about.record_id),
        )
    return decision


def authorise(
    uow: UnitOfWork,
    actor: Actor,
    permission: str,
    facts: CaseFacts | None,
    *,
    case_id: int | None = None,
    target: str = "",
    about: RecordFacts | None = None,
) -> Decision:
    """Allow a workflow permission such as `case:screen`, or refuse it with a 403.
    `about`: the record the permission is used on (an intervention), on which
    conditions such as `assigned` are then judged."""
    obj, _, act = permission.partition(":")
    decision = uow.authz.decide(actor, obj, act, facts, uow.now, record=about)
    if not decision.allowed:
        uow.refuse(
            record(actor, permission, decision, case_id=case_id, target=target),
            PermissionDenied(
                "you may not do '{permission}' here: {reason}",
                permission=permission,
                reason=decision.reason,
            ),
        )
    return decision


def write_fields(
    uow: UnitOfWork,
    actor: Actor,
    target: Base,
    facts: CaseFacts,
    values: dict[str, Any],
    *,
    action: str,
) -> set[Category]:
    """Set tagged fields on a case or subject, each only if its category is writable."""
    touched: set[Category] = set()
    for name, value in values.items():
        category = category_of(type(target), name)
        if category is None:
            raise InvalidInput(
                "'{name}' is not a field that can be written", {name: "unknown"}, name=name
            )
        if category not in touched:
            decision = uow.authz.decide(actor, category, "write", facts, uow.now)
            if not decision.allowed:
                uow.refuse(
                    record(actor, action, decision, case_id=facts.case_id, categories=(category,)),
                    PermissionDenied(
                        "you may not write {category} data: {reason}",
                        category=category,
                        reason=decision.reason,
                    ),
                )
            touched.add(category)
        setattr(target, name, value)
    return touched
