"""Information gathering: ask several agencies at once, record their answers.

An asked agency answers for itself: its agency contacts (and a screener, for the police)
are told of the request, see its question and its deadline, and answer it. Who may answer
which request is the policy's `asked` condition, judged on the request itself
(`CaseFacts.about_request`): a request to another organisation is not theirs to see.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Load, aliased

from referral.db.sealing import SEALED_GROUP
from referral.db.tables import Case, InformationRequest, Organisation
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound
from referral.domain.facts import CaseFacts, GuardFacts
from referral.domain.vocabulary import Category
from referral.i18n import N_
from referral.services import case_operations, notifications, schedule
from referral.services.access import authorise, record
from referral.services.flow import case_linked, fire_linked, linked_trigger_via, load_case
from referral.services.uow import UnitOfWork
from referral.workflow.operations import Via

WORKFLOW = "information_request"
ANSWER = "information_request:answer"
AGENCY_LIST_LIMIT = 200


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
            "no agency with id {agencies} in this network",
            {"organisation_ids": N_("unknown agency")},
            agencies=", ".join(map(str, unknown)),
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
        notifications.notify_request_sent(uow, actor, case, request)
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
        raise NotFound("information request {request} not found", request=command.request_id)
    loaded = load_case(uow, actor, request.case_id)
    case = loaded.case
    # Another organisation's request is "not found" before anything else is said of it.
    facts = answering_facts(uow, actor, request, loaded.facts)
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
        linked_trigger_via(
            uow,
            WORKFLOW,
            Via.REQUEST_DECLINE if command.declined else Via.REQUEST_ANSWER,
            request.state,
        ),
        facts,
        GuardFacts(),
        case_id=case.id,
        target=f"information_request:{request.id}",
        categories=("assessment",),
    )
    uow.commit()
    return state


def answering_facts(
    uow: UnitOfWork, actor: Actor, request: InformationRequest, facts: CaseFacts
) -> CaseFacts:
    """The case's facts narrowed to this one request, for the decision to answer it.

    A request the actor may not answer, on a case whose assessment data (where requests
    are kept) they may not read either, is "not found", the refusal audited: an agency
    never learns of another agency's request. Someone who sees the case's requests but
    may not answer this one is refused with a 403 when they try.
    """
    about = facts.about_request(request.organisation_id, request.state)
    decision = uow.authz.permission(actor, ANSWER, about, uow.now)
    if (
        not decision.allowed
        and not uow.authz.decide(actor, Category.ASSESSMENT, "read", facts, uow.now).allowed
    ):
        uow.refuse(
            record(actor, ANSWER, decision, case_id=request.case_id, target=_target(request)),
            NotFound("information request {request} not found", request=request.id),
        )
    return about


def may_answer(uow: UnitOfWork, actor: Actor, request: dict[str, Any], facts: CaseFacts) -> bool:
    """Whether the actor may answer this request of the case (a row of its `linked`), now."""
    about = facts.about_request(int(request["organisation_id"]), str(request["state"]))
    return uow.authz.permission(actor, ANSWER, about, uow.now).allowed


def _target(request: InformationRequest) -> str:
    return f"information_request:{request.id}"


# -- the asked agency's own pages -------------------------------------------------------


@dataclass(frozen=True)
class AgencyRequest:
    """A request as the asked agency sees it: the question, the deadline, the case's stage."""

    request_id: int
    case_id: int
    case_state: str
    state: str
    question: str
    requested_at: datetime
    due_at: datetime


def list_agency_requests(uow: UnitOfWork, actor: Actor) -> list[AgencyRequest]:
    """The open requests addressed to the actor's organisation that they may answer now,
    filtered in SQL by the policy, soonest deadline first. Each question shown is audited."""
    scope = uow.scoped(actor)
    # Aliased: the policy's SQL has its own subquery over `information_requests`, which
    # must correlate with `cases` only, not with this row.
    asked = aliased(InformationRequest)
    rows = scope.execute(
        scope.select(asked, Case, readable=("information_request", "answer"))
        .join(Case, Case.id == asked.case_id)
        .where(
            asked.organisation_id == actor.organisation_id,
            *(asked.state != state for state in states.settled_by_agency()),
        )
        .order_by(asked.due_at, asked.id)
        .limit(AGENCY_LIST_LIMIT)
        .options(Load(asked).undefer_group(SEALED_GROUP))
    ).all()
    shown = [
        _shown(uow, actor, request, case, uow.repo.case_facts(case, actor))
        for request, case in rows
    ]
    uow.commit()
    return shown


def show_agency_request(uow: UnitOfWork, actor: Actor, request_id: int) -> AgencyRequest:
    """One request to the actor's organisation that they may answer; otherwise "not found"."""
    request = case_linked(uow, actor, InformationRequest, request_id)
    if request is None or request.organisation_id != actor.organisation_id:
        raise NotFound("information request {request} not found", request=request_id)
    loaded = load_case(uow, actor, request.case_id)
    about = loaded.facts.about_request(request.organisation_id, request.state)
    decision = uow.authz.permission(actor, ANSWER, about, uow.now)
    if not decision.allowed:
        uow.refuse(
            record(actor, ANSWER, decision, case_id=request.case_id, target=_target(request)),
            NotFound("information request {request} not found", request=request_id),
        )
    shown = _shown(uow, actor, request, loaded.case, loaded.facts)
    uow.commit()
    return shown


def _shown(
    uow: UnitOfWork, actor: Actor, request: InformationRequest, case: Case, facts: CaseFacts
) -> AgencyRequest:
    """The request as the agency sees it; the disclosure of its question is audited under
    the rule that lets the actor answer it (the question is written for whoever answers)."""
    about = facts.about_request(request.organisation_id, request.state)
    decision = uow.authz.permission(actor, ANSWER, about, uow.now)
    uow.audit(
        record(
            actor,
            "information_request:read",
            decision,
            case_id=case.id,
            target=_target(request),
            categories=(Category.STATUS, Category.ASSESSMENT),
            workflow_hash=case.workflow_hash,
        )
    )
    return AgencyRequest(
        request_id=request.id,
        case_id=case.id,
        case_state=case.state,
        state=request.state,
        question=request.question,
        requested_at=request.requested_at,
        due_at=request.due_at,
    )
