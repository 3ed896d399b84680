"""Moves of a case that carry no data of their own, and reviews: take to panel, start
support, review, exit, follow up, reopen, transfer, close."""

from dataclasses import dataclass

from referral.db.tables import Review
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.services import case_operations
from referral.services.access import authorise, record, write_fields
from referral.services.flow import Moved, case_workflow, fire_case, load_case, load_case_status
from referral.services.uow import UnitOfWork

REVIEW_KINDS = ("review", "follow_up_6m", "follow_up_12m", "exit")


@dataclass(frozen=True)
class MoveCase:
    case_id: int
    trigger: str
    expected_version: int | None = None
    outcome_for_referrer: str = ""


def move_case(uow: UnitOfWork, actor: Actor, command: MoveCase) -> Moved:
    # A bare move changes only the case's status: no ORM object for it (case_status.py).
    loaded = load_case_status(uow, actor, command.case_id)
    case = loaded.case
    # A transition its own service fires (its `via`) records more than a move: never here.
    if case_workflow(uow, case).vias.get(command.trigger):
        raise InvalidInput(f"'{command.trigger}' records a decision: use its own form")
    if command.outcome_for_referrer.strip():
        # The message to the referrer belongs to the move: the transition's permission
        # governs it (a chair exiting support may not otherwise write status data).
        case.outcome_for_referrer = command.outcome_for_referrer.strip()
    moved = fire_case(
        uow,
        actor,
        case,
        loaded.facts,
        command.trigger,
        expected_version=command.expected_version,
        guards=loaded.guards,
    )
    uow.commit()
    return moved


@dataclass(frozen=True)
class RecordReview:
    case_id: int
    kind: str
    notes: str


def record_review(uow: UnitOfWork, actor: Actor, command: RecordReview) -> int:
    """A review of progress in support, at exit, or a 6- or 12-month follow-up."""
    if command.kind not in REVIEW_KINDS:
        raise InvalidInput(f"unknown review kind '{command.kind}'", {"kind": "unknown"})
    if not command.notes.strip():
        raise InvalidInput("write the review notes", {"notes": "required"})
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    # Reviews are the coordinator's to run; writing support data alone is not enough.
    decision = authorise(uow, actor, "case:manage", facts, case_id=case.id)
    case_operations.require(uow, case, "record_review")
    review = Review(
        case_id=case.id, kind=command.kind, recorded_by=actor.user_id, recorded_at=uow.now
    )
    write_fields(uow, actor, review, facts, {"notes": command.notes.strip()}, action="case:review")
    uow.scoped(actor).add(review)
    uow.flush()
    uow.audit(
        record(
            actor,
            "case:review",
            decision,
            case_id=case.id,
            target=f"review:{review.id}",
            categories=("support",),
            change={"kind": command.kind, "notes": command.notes},
        )
    )
    uow.commit()
    return review.id
