"""Work on a case: screening, deconfliction, information requests, consent, support."""

from typing import Any

from litestar import Request, get, post
from litestar.params import JSONBody

from referral.services import consent, information, lifecycle, screening, support
from referral.web.api.models import (
    AgencyRequestOut,
    AnswerIn,
    ConsentRecordedOut,
    ConsentRequestedOut,
    CreatedOut,
    DeconflictionIn,
    InformationRequestsIn,
    InformationRequestsOut,
    InterventionIn,
    MovedOut,
    PathId,
    ProgressIn,
    RecordConsentIn,
    ReviewIn,
    ScreeningOutcomeIn,
    StateOut,
    TriggerIn,
    WithdrawConsentIn,
    errors,
)
from referral.web.deps import ONE_STEP, CurrentActor, Uow, read_as_actor

CASE_ERRORS = errors(400, 403, 404, 409, 413, 415, 422)


@post(
    "/api/cases/{case_id:int}/screening-outcome",
    tags=["screening"],
    summary="Record the screening outcome",
    status_code=200,
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def screening_outcome(
    uow: Uow, actor: CurrentActor, case_id: PathId, data: JSONBody[ScreeningOutcomeIn]
) -> MovedOut:
    """Close, signpost, hand to police, or gather information; the notes are assessment data."""
    command = screening.RecordScreeningOutcome(
        case_id,
        data.outcome,
        data.screening_notes,
        data.outcome_for_referrer,
        data.expected_version,
    )
    return MovedOut.of(screening.record_screening_outcome(uow, actor, command))


@post(
    "/api/cases/{case_id:int}/deconfliction",
    tags=["screening"],
    summary="Record the police deconfliction",
    status_code=204,
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def deconfliction(
    uow: Uow, actor: CurrentActor, case_id: PathId, data: JSONBody[DeconflictionIn]
) -> None:
    """The police gateway's check against police systems (criminal-category data)."""
    command = screening.RecordDeconfliction(
        case_id, data.criminal_information, data.deconfliction_result
    )
    screening.record_deconfliction(uow, actor, command)


@post(
    "/api/cases/{case_id:int}/information-requests",
    tags=["information"],
    summary="Ask agencies for information",
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def send_information_requests(
    uow: Uow, actor: CurrentActor, case_id: PathId, data: JSONBody[InformationRequestsIn]
) -> InformationRequestsOut:
    """One request per agency, each due by the deadline the workflow declares."""
    command = information.SendInformationRequests(
        case_id, tuple(data.organisation_ids), data.question
    )
    return InformationRequestsOut(information.send_information_requests(uow, actor, command))


@get(
    "/api/information-requests",
    tags=["information"],
    summary="The open information requests to your organisation",
    responses=errors(),
    opt=ONE_STEP,
)
async def agency_requests(request: Request[Any, Any, Any]) -> list[AgencyRequestOut]:
    """The requests addressed to your organisation that you may answer now, soonest
    deadline first: each question, its deadline and the case's stage. Audited."""
    return await read_as_actor(
        request,
        lambda uow, actor: [
            AgencyRequestOut.of(r) for r in information.list_agency_requests(uow, actor)
        ],
    )


@get(
    "/api/information-requests/{request_id:int}",
    tags=["information"],
    summary="One information request to your organisation",
    responses=errors(404),
    opt=ONE_STEP,
)
async def agency_request(request: Request[Any, Any, Any], request_id: PathId) -> AgencyRequestOut:
    """A request to your organisation you may answer; any other answers 404. Audited."""
    return await read_as_actor(
        request,
        lambda uow, actor: AgencyRequestOut.of(
            information.show_agency_request(uow, actor, request_id)
        ),
    )


@post(
    "/api/information-requests/{request_id:int}/answer",
    tags=["information"],
    summary="Answer an information request",
    status_code=200,
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def answer_information_request(
    uow: Uow, actor: CurrentActor, request_id: PathId, data: JSONBody[AnswerIn]
) -> StateOut:
    """The agency's answer, or `declined: true` when it will not share."""
    command = information.RecordAnswer(request_id, data.answer, data.declined)
    return StateOut(request_id, information.record_answer(uow, actor, command))


@post(
    "/api/cases/{case_id:int}/consent/request",
    tags=["consent"],
    summary="Ask for consent",
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def request_consent(uow: Uow, actor: CurrentActor, case_id: PathId) -> ConsentRequestedOut:
    """Start a consent request for the case (409 when one is already open or given)."""
    command = consent.RequestConsent(case_id)
    return ConsentRequestedOut(consent.request_consent(uow, actor, command))


@post(
    "/api/cases/{case_id:int}/consent/record",
    tags=["consent"],
    summary="Record the consent answer",
    status_code=200,
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def record_consent(
    uow: Uow, actor: CurrentActor, case_id: PathId, data: JSONBody[RecordConsentIn]
) -> ConsentRecordedOut:
    """Given (with its scope) or refused; a refusal while consent is pending closes the case."""
    command = consent.RecordConsent(
        case_id=case_id,
        given=data.given,
        method=data.method,
        scope=tuple(s.scope() for s in data.scope),
        given_by=data.given_by,
        guardian_name=data.guardian_name,
        notes=data.notes,
    )
    moved = consent.record_consent(uow, actor, command)
    return ConsentRecordedOut(MovedOut.of(moved) if moved else None)


@post(
    "/api/cases/{case_id:int}/consent/withdraw",
    tags=["consent"],
    summary="Withdraw consent",
    status_code=200,
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def withdraw_consent(
    uow: Uow, actor: CurrentActor, case_id: PathId, data: JSONBody[WithdrawConsentIn]
) -> MovedOut:
    """The person withdraws: the consent ends and the case closes, whatever its stage."""
    command = consent.WithdrawConsent(case_id, data.notes)
    return MovedOut.of(consent.withdraw_consent(uow, actor, command))


@post(
    "/api/cases/{case_id:int}/interventions",
    tags=["support"],
    summary="Assign an intervention",
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def assign_intervention(
    uow: Uow, actor: CurrentActor, case_id: PathId, data: JSONBody[InterventionIn]
) -> CreatedOut:
    """Propose an intervention by a provider organisation of this network."""
    command = support.AssignIntervention(case_id, data.kind, data.provider_org_id, data.plan)
    return CreatedOut(support.assign_intervention(uow, actor, command))


@post(
    "/api/interventions/{intervention_id:int}/transitions",
    tags=["support"],
    summary="Move an intervention",
    status_code=200,
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def move_intervention(
    uow: Uow, actor: CurrentActor, intervention_id: PathId, data: JSONBody[TriggerIn]
) -> StateOut:
    """accept, decline, start, complete or withdraw."""
    command = support.MoveIntervention(intervention_id, data.trigger)
    return StateOut(intervention_id, support.move_intervention(uow, actor, command))


@post(
    "/api/interventions/{intervention_id:int}/progress",
    tags=["support"],
    summary="Record progress on an intervention",
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def record_progress(
    uow: Uow, actor: CurrentActor, intervention_id: PathId, data: JSONBody[ProgressIn]
) -> CreatedOut:
    """A session or progress note by the provider delivering an active intervention."""
    command = support.RecordProgress(intervention_id, data.body)
    return CreatedOut(support.record_progress(uow, actor, command))


@post(
    "/api/cases/{case_id:int}/reviews",
    tags=["support"],
    summary="Record a review",
    sync_to_thread=True,
    responses=CASE_ERRORS,
)
def record_review(
    uow: Uow, actor: CurrentActor, case_id: PathId, data: JSONBody[ReviewIn]
) -> CreatedOut:
    """A review in support, at exit, or a 6- or 12-month follow-up."""
    command = lifecycle.RecordReview(case_id, data.kind, data.notes)
    return CreatedOut(lifecycle.record_review(uow, actor, command))


ROUTES = [
    screening_outcome,
    deconfliction,
    send_information_requests,
    agency_requests,
    agency_request,
    answer_information_request,
    request_consent,
    record_consent,
    withdraw_consent,
    assign_intervention,
    move_intervention,
    record_progress,
    record_review,
]
