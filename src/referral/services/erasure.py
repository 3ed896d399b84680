"""Erasure of a closed case's personal data.

Today this blanks every categorised field of the subject, the case and its linked
records in the same transaction as the `erase` transition. The audit log holds no
personal data, so the chain still verifies. Per-subject keys (crypto-shredding) will
replace the blanking without changing this service's contract.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from referral.db.base import Base
from referral.db.fields import categorised_columns
from referral.db.tables import (
    Consent,
    Contribution,
    Decision,
    InformationRequest,
    Intervention,
    ProgressNote,
    Review,
)
from referral.db.uow import UnitOfWork
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.domain.vocabulary import Category
from referral.services.access import visible_case
from referral.services.flow import Moved, fire_case

ERASED = "erased"


@dataclass(frozen=True)
class EraseCase:
    case_id: int
    reason: str
    trigger: str = "erase"


def _blank(obj: Base) -> None:
    for name, category in categorised_columns(type(obj)).items():
        if category == Category.STATUS:
            continue
        current: Any = getattr(obj, name)
        if isinstance(current, str):
            setattr(obj, name, ERASED if current else "")
        elif isinstance(current, list):
            setattr(obj, name, [])
        elif isinstance(current, bool):
            setattr(obj, name, False)
        else:
            setattr(obj, name, None)


def erase_case(uow: UnitOfWork, actor: Actor, command: EraseCase) -> Moved:
    if command.trigger not in ("erase", "discard"):
        raise InvalidInput(f"'{command.trigger}' is not an erasure", {"trigger": "unknown"})
    if not command.reason.strip():
        raise InvalidInput("give the reason for erasure", {"reason": "required"})
    case, facts = visible_case(uow, actor, command.case_id)
    moved = fire_case(
        uow,
        actor,
        case,
        facts,
        command.trigger,
        categories=tuple(sorted(c for c in Category if c != Category.STATUS)),
        change={"reason_digest_only": command.reason},
    )
    linked: list[Base] = [case, case.subject]
    for model in (InformationRequest, Consent, Contribution, Decision, Intervention):
        linked.extend(uow.session.scalars(select(model).where(model.case_id == case.id)))
    linked.extend(uow.session.scalars(select(Review).where(Review.case_id == case.id)))
    linked.extend(
        uow.session.scalars(
            select(ProgressNote)
            .join(Intervention, Intervention.id == ProgressNote.intervention_id)
            .where(Intervention.case_id == case.id)
        )
    )
    for obj in linked:
        _blank(obj)
    uow.commit()
    return moved
