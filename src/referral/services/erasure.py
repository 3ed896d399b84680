"""Erasure by destroying a subject's data key (crypto-shredding).

Every personal field of a subject, on the subject and on each of their cases and linked
records, is sealed with the subject's data key. Destroying that key erases all of it at
once, in every copy of the database, while the rows stay: each case keeps its
non-personal skeleton (states, dates, organisation kinds) for statistics, and the audit
chain, which holds only ids, categories and digests, still verifies. A destruction
register row records what was erased, when, why and on whose authority.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Permission
from referral.db.sealing import data_keys
from referral.db.tables import Case, DataKey, Destruction, Network, Subject, User
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.domain.facts import CaseFacts
from referral.domain.vocabulary import Category, LegalBasis, Purpose
from referral.i18n import N_
from referral.services import linkage, search
from referral.services.access import authorise, record, visible_case
from referral.services.flow import Moved, case_workflow, fire_case, trigger_via
from referral.services.second_factor import Confirmation, require_fresh
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via

PERSONAL = tuple(sorted(c for c in Category if c != Category.STATUS))

# Why erasure's key work is not scoped: data keys carry no network, and the subject whose
# key goes was already found, in the actor's scope or by the operator or retention.
KEYS = "a data key has no network; its subject was found before"


@dataclass(frozen=True)
class EraseCase:
    case_id: int
    reason: str
    expected_version: int | None = None  # the version the eraser saw (409 if it moved on)
    # The second factor a person confirms it with (a code, or a session that gave one lately).
    confirmation: Confirmation | None = None


@dataclass(frozen=True)
class EraseSubject:
    """Erase everything held about one person, on request (the right to erasure)."""

    subject_id: int
    reason: str


@dataclass(frozen=True)
class Erased:
    subject_id: int
    case_ids: tuple[int, ...]
    destruction_id: int


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise InvalidInput("give the reason for erasure", {"reason": "required"})


def erase_case(uow: UnitOfWork, actor: Actor, command: EraseCase) -> Moved:
    """A person erases a closed case (or discards a draft): the case's workflow's transition
    via erasure from its state. The subject's key goes with the last of their cases."""
    _require_reason(command.reason)
    case, facts = visible_case(uow, actor, command.case_id)
    require_fresh(uow, actor, command.confirmation)
    moved, _ = erase_with_key(
        uow,
        actor,
        case,
        facts,
        basis="request",
        rule="",
        reason=command.reason,
        change={"reason_digest_only": command.reason},
        expected_version=command.expected_version,
    )
    uow.commit()
    return moved


def erase_with_key(
    uow: UnitOfWork,
    actor: Actor,
    case: Case,
    facts: CaseFacts,
    *,
    basis: str,
    rule: str,
    reason: str,
    change: dict[str, Any],
    expected_version: int | None = None,
) -> tuple[Moved, bool]:
    """Erase one case (its workflow's transition via erasure from its state) and, if it was
    the subject's last case, destroy their key; in the caller's transaction. Returns the
    move and whether the key went."""
    trigger = trigger_via(uow, case, Via.ERASURE)
    before = [skeleton(c) for c in _cases_of(uow, case.subject_id)]
    moved = fire_case(
        uow,
        actor,
        case,
        facts,
        trigger,
        expected_version=expected_version,
        categories=PERSONAL,
        change=change,
    )
    last = all(_erased(uow, c) for c in _cases_of(uow, case.subject_id))
    if last:
        destroy_key(
            uow, actor, case.subject, basis=basis, rule=rule, reason=reason, skeletons=before
        )
    return moved, last


def erase_subject(uow: UnitOfWork, actor: Actor | None, command: EraseSubject) -> Erased:
    """Erase a person now: every case must be closed (or a draft), then the key goes.

    `actor` is None when an operator runs `referral subjects erase`: the cases move as the
    network's `system` actor and the register names no user.
    """
    _require_reason(command.reason)
    subject = (
        uow.scoped(actor).get(Subject, command.subject_id)
        if actor is not None
        else uow.unscoped("the operator's `referral subjects erase` reaches every network").get(
            Subject, command.subject_id
        )
    )
    if subject is None:
        raise NotFound("subject {subject} not found", subject=command.subject_id)
    # Data keys carry no network: the subject, found above, names its own key.
    key = uow.unscoped(KEYS).get(DataKey, subject.data_key_id) if subject.data_key_id else None
    if key is not None and key.wrapped is None:
        if key.destroyed_at is None:
            raise Conflict("subject {subject} was already erased", subject=subject.id)
        raise Conflict(
            "subject {subject} was already erased on {day:%Y-%m-%d}",
            subject=subject.id,
            day=key.destroyed_at,
        )
    cases = _cases_of(uow, subject.id)
    before = [skeleton(c) for c in cases]
    mover = actor or _system_for(uow, subject.network_id)
    for case in cases:
        _retire(uow, mover, case, command.reason)
    destruction = destroy_key(
        uow,
        actor,
        subject,
        basis="request",
        rule="",
        reason=command.reason,
        mover=mover,
        skeletons=before,
    )
    uow.commit()
    return Erased(subject.id, tuple(c.id for c in cases), destruction.id)


def _retire(uow: UnitOfWork, actor: Actor, case: Case, reason: str) -> None:
    """Move one case to `erased`, or refuse while it is still open.

    A draft was never shared and only its referrer may discard it: it stays a draft, and
    its content goes with the key.
    """
    workflow = case_workflow(uow, case)
    if _erased(uow, case) or case.state == workflow.initial:
        return
    erasing = workflow.one_via(Via.ERASURE, case.state)
    if erasing is None:
        raise Conflict(
            "case {case} is still open ({state}); close it before erasing the person",
            case=case.id,
            state=case.state.replace("_", " "),
        )
    facts = uow.repo.case_facts(case, actor)
    fire_case(
        uow,
        actor,
        case,
        facts,
        erasing.trigger,
        categories=PERSONAL,
        change={"reason_digest_only": reason},
    )


def _erased(uow: UnitOfWork, case: Case) -> bool:
    """Whether the case is where erasure takes it: the final state its workflow erases to."""
    workflow = case_workflow(uow, case)
    return case.state in {t.dest for t in workflow.via(Via.ERASURE)}


def destroy_key(
    uow: UnitOfWork,
    actor: Actor | None,
    subject: Subject,
    *,
    basis: str,
    rule: str,
    reason: str,
    mover: Actor | None = None,
    skeletons: list[dict[str, Any]] | None = None,
) -> Destruction:
    """Destroy the subject's data key and write the destruction register, in the caller's
    transaction (committed with the cases' moves, or not at all).

    It works on the plain session (see KEYS): the subject was found in the caller's scope,
    or by the operator or the retention timer, which work across networks as the system.

    `skeletons` are the cases as they were before erasure moved them (their closed
    state), which is what the register keeps.
    """
    if subject.data_key_id is None:
        raise Conflict(
            "subject {subject} has no data key; run `referral db upgrade` first", subject=subject.id
        )
    key = uow.unscoped(KEYS).get(DataKey, subject.data_key_id)
    assert key is not None
    cases = _cases_of(uow, subject.id)
    key.wrapped = None
    key.destroyed_at = uow.now
    search.forget_subject(uow, subject.id)
    # The subject's linkage tokens go with the key: no later referral can match them.
    linkage.forget(uow, [c.id for c in cases])
    data_keys(uow.unscoped(KEYS)).destroyed(key.id)
    destruction = Destruction(
        subject_id=subject.id,
        data_key_id=key.id,
        network_id=subject.network_id,
        at=uow.now,
        basis=basis,
        rule=rule,
        reason=reason.strip(),
        actor_user_id=actor.user_id if actor and actor.user_id else None,
        cases=skeletons if skeletons is not None else [skeleton(c) for c in cases],
    )
    uow.unscoped(KEYS).add(destruction)
    uow.flush()
    uow.audit(
        AuditRecord(
            action="subject:erase",
            allowed=True,
            actor=actor or mover,
            target=f"subject:{subject.id}",
            categories=PERSONAL,
            rule=rule or "erasure on request",
            purpose=Purpose.AUDIT,
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
        )
    )
    # Sessions that opened the key earlier keep nothing: the cache dies with the session.
    _expire_personal(uow, subject, cases)
    return destruction


def skeleton(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "state": case.state,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }


def _expire_personal(uow: UnitOfWork, subject: Subject, cases: list[Case]) -> None:
    """Reload the subject and cases so that they read as erased from here on."""
    uow.unscoped(KEYS).expire(subject)
    for case in cases:
        uow.unscoped(KEYS).expire(case)


def _cases_of(uow: UnitOfWork, subject_id: int) -> list[Case]:
    return list(
        uow.unscoped(KEYS).scalars(
            select(Case).where(Case.subject_id == subject_id).order_by(Case.id)
        )
    )


def _system_for(uow: UnitOfWork, network_id: int) -> Actor:
    network = uow.unscoped(KEYS).get(Network, network_id)
    assert network is not None
    return system_actor(network.id, network.slug)


@dataclass(frozen=True)
class RegisterEntry:
    """One erasure, as the destruction register shows it: ids, states, dates, no content."""

    destruction_id: int
    at: datetime
    subject_id: int
    cases: list[dict[str, Any]]
    basis: str
    rule: str
    reason: str
    by: str


def destruction_register(uow: UnitOfWork, actor: Actor, limit: int = 200) -> list[RegisterEntry]:
    """The network's erasures, newest first, for the data-protection officer; audited."""
    decision = authorise(uow, actor, Permission.AUDIT_READ.value, None)
    scope = uow.scoped(actor)
    rows = scope.execute(
        scope.select(Destruction, User.display_name)
        .outerjoin(User, User.id == Destruction.actor_user_id)
        .order_by(Destruction.at.desc(), Destruction.id.desc())
        .limit(limit)
    ).all()
    uow.audit(record(actor, "audit:destructions", decision))
    uow.commit()
    return [
        RegisterEntry(
            d.id,
            d.at,
            d.subject_id,
            list(d.cases),
            d.basis,
            d.rule,
            d.reason,
            name or (N_("the operator") if d.basis == "request" else N_("the retention rules")),
        )
        for d, name in rows
    ]
