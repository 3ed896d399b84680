"""Moves of a case that carry no data of their own, and reviews: take to panel, start
support, review, exit, follow up, reopen, transfer, close. A button (the case page's, the
API's) whose move a service of its own makes (its `via`) is handed to that service."""

from dataclasses import dataclass

from referral.db.tables import Review
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.services import case_operations, erasure, referrals, screening
from referral.services.access import authorise, record, write_fields
from referral.services.flow import Moved, case_workflow, fire_case, load_case, load_case_status
from referral.services.second_factor import Confirmation
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via

# The reason an erasure by the button records (the form has no field for one).
ERASED_FROM_THE_PAGE = "erased from the case page"
REVIEW_KINDS = ("review", "follow_up_6m", "follow_up_12m", "exit")


@dataclass(frozen=True)
class MoveCase:
    case_id: int
    trigger: str
    expected_version: int | None = None
    outcome_for_referrer: str = ""
    # For a move that erases: the second factor it is confirmed with.
    confirmation: Confirmation | None = None


def move_case(uow: UnitOfWork, actor: Actor, command: MoveCase) -> Moved:
    # A bare move changes only the case's status: no ORM object for it (case_status.py).
    loaded = load_case_status(uow, actor, command.case_id)
    case = loaded.case
    via = case_workflow(uow, case).vias.get(command.trigger)
    if via is not None:
        return _by_its_service(uow, actor, command, via)
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


def _by_its_service(uow: UnitOfWork, actor: Actor, command: MoveCase, via: str) -> Moved:
    """A button whose move a service of its own makes; any other such move records more
    than a click (a decision, an outcome) and has its own form."""
    if via == Via.SCREENING_START:
        start = screening.StartScreening(command.case_id, command.expected_version)
        return screening.start_screening(uow, actor, start)
    if via == Via.SUBMISSION:
        submit = referrals.SubmitDraft(command.case_id, command.expected_version)
        return referrals.submit_draft(uow, actor, submit)
    if via == Via.ERASURE:
        reason = command.outcome_for_referrer.strip() or ERASED_FROM_THE_PAGE
        erase = erasure.EraseCase(
            command.case_id, reason, command.expected_version, command.confirmation
        )
        return erasure.erase_case(uow, actor, erase)
    raise InvalidInput("'{trigger}' records a decision: use its own form", trigger=command.trigger)


@dataclass(frozen=True)
class RecordReview:
    case_id: int
    kind: str
    notes: str


def record_review(uow: UnitOfWork, actor: Actor, command: RecordReview) -> int:
    """A review of progress in support, at exit, or a 6- or 12-month follow-up."""
    if command.kind not in REVIEW_KINDS:
        raise InvalidInput("unknown review kind '{kind}'", {"kind": "unknown"}, kind=command.kind)
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
