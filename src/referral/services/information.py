"""Information gathering: ask several agencies at once, record their answers."""

from dataclasses import dataclass

from referral.db.tables import InformationRequest, Organisation
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound
from referral.domain.facts import GuardFacts
from referral.services import case_operations, schedule
from referral.services.access import authorise, record
from referral.services.flow import case_linked, fire_linked, load_case
from referral.services.uow import UnitOfWork

WORKFLOW = "information_request"


@dataclass(frozen=True)
class SendInformationRequests:
    case_id: int
    organisation_ids: tuple[int, ...]
    question: str


def send_information_requests(
    uow: UnitOfWork, actor: Actor, command: SendInformationRequests
) -> list[int]:
    """One request per agency, each with the deadline the workflow declares."""
    if not command.question.strip():
        raise InvalidInput(
            "write the question the agencies should answer", {"question": "required"}
        )
    if not command.organisation_ids:
        raise InvalidInput("choose at least one agency", {"organisation_ids": "required"})
    loaded = load_case(uow, actor, command.case_id)
    case, facts = loaded.case, loaded.facts
    decision = authorise(uow, actor, "information_request:send", facts, case_id=case.id)
    case_operations.require(uow, case, "send_information_requests")
    scope = uow.scoped(actor)
    organisations = scope.all(
        scope.select(Organisation.id).where(Organisation.id.in_(command.organisation_ids))
    )
    unknown = sorted(set(command.organisation_ids) - set(organisations))
    if unknown:
        raise InvalidInput(
            f"no agency with id {', '.join(map(str, unknown))} in this network",
            {"organisation_ids": "unknown agency"},
        )
    workflow = uow.workflow(WORKFLOW)
    due_at = schedule.deadline(uow, case.network_id, workflow.due_for(workflow.initial)) or uow.now
    ids = []
    for organisation_id in sorted(set(command.organisation_ids)):
        request = InformationRequest(
            case_id=case.id,
            organisation_id=organisation_id,
            state=workflow.initial,
            question=command.question.strip(),
            requested_by=actor.user_id,
            requested_at=uow.now,
            due_at=due_at,
        )
        scope.add(request)
        uow.flush()
        schedule.enter(
            uow,
            workflow,
            object_id=request.id,
            state=request.state,
            network_id=case.network_id,
            case_id=case.id,
            left=None,
        )
        uow.audit(
            record(
                actor,
                "information_request:send",
                decision,
                case_id=case.id,
                target=f"information_request:{request.id}",
                categories=("assessment",),
                change={"organisation_id": organisation_id, "due_at": due_at.isoformat()},
                workflow_hash=workflow.content_hash,
            )
        )
        ids.append(request.id)
    uow.commit()
    return ids


@dataclass(frozen=True)
class RecordAnswer:
    request_id: int
    answer: str
    declined: bool = False


def record_answer(uow: UnitOfWork, actor: Actor, command: RecordAnswer) -> str:
    """The agency's answer (or its refusal to share), as assessment data on the case."""
    request = case_linked(uow, actor, InformationRequest, command.request_id)
    if request is None:
        raise NotFound(f"information request {command.request_id} not found")
    loaded = load_case(uow, actor, request.case_id)
    case, facts = loaded.case, loaded.facts
    case_operations.require(uow, case, "answer_information_request")
    if not command.declined and not command.answer.strip():
        raise InvalidInput(
            "write the agency's answer, or record that it declined", {"answer": "required"}
        )
    # The answering permission governs this write: the answer is the agency's own.
    request.answer = command.answer.strip()
    request.answered_at = uow.now
    state = fire_linked(
        uow,
        actor,
        request,
        WORKFLOW,
        "decline" if command.declined else "answer",
        facts,
        GuardFacts(),
        case_id=case.id,
        target=f"information_request:{request.id}",
        categories=("assessment",),
    )
    uow.commit()
    return state
