"""Who am I, API tokens, and cases: list, submit, read, move."""

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import JSONBody, QueryParameter

from referral.config import Settings
from referral.services import auth, fhir, lifecycle, referrals, search
from referral.web.api.models import (
    After,
    CaseCreatedOut,
    CaseListOut,
    CaseOut,
    CaseSummaryOut,
    FhirBundleOut,
    MeOut,
    MovedOut,
    Offset,
    PathId,
    SearchOut,
    SubmitReferralIn,
    TokenIn,
    TokenOut,
    TransitionIn,
    errors,
)
from referral.web.controllers.search import search_command
from referral.web.deps import ONE_STEP, CurrentActor, Uow, read_as_actor
from referral.web.session import confirmation

CASES = ["cases"]


@get("/api/me", tags=["account"], summary="Who am I", responses=errors())
async def me(actor: CurrentActor) -> MeOut:
    """The signed-in user: ids, roles, network and organisation kind."""
    return MeOut.of(actor)


@post(
    "/api/tokens",
    tags=["account"],
    summary="Issue an API token",
    sync_to_thread=True,
    responses=errors(400, 403, 413, 415, 422),
)
def issue_token(
    request: Request[Any, Any, Any], uow: Uow, actor: CurrentActor, data: JSONBody[TokenIn]
) -> TokenOut:
    """A bearer token for this user and network, shown once. Needs the session cookie and
    the X-CSRF-Token header: a token cannot mint further tokens."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        raise PermissionDeniedException("API tokens are issued from a signed-in session")
    settings: Settings = request.app.state.settings
    token = auth.issue_api_token(uow, actor, auth.IssueToken(data.label), settings)
    return TokenOut(token=token, expires_in_days=settings.api_token_days)


@get(
    "/api/cases",
    tags=CASES,
    summary="List the cases you may see",
    sync_to_thread=True,
    responses=errors(400, 422),
)
def list_cases(
    uow: Uow,
    actor: CurrentActor,
    states: Annotated[
        list[str] | None, QueryParameter(name="state", description="Only these states (repeatable)")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    offset: Offset = 0,
    after: After = "",
) -> CaseListOut:
    """Status data only, most urgent first, filtered by the sharing policy. Page with
    `after` (the previous page's `next_after`); `offset` still works but costs more the
    deeper it goes."""
    query = referrals.ListCases(states=tuple(states or ()), limit=limit, offset=offset, after=after)
    page = referrals.case_page(uow, actor, query)
    rows = [CaseSummaryOut.of(row) for row in page.rows]
    return CaseListOut(rows, limit, offset, after, page.next_after)


@post(
    "/api/cases",
    tags=CASES,
    summary="Submit a referral",
    sync_to_thread=True,
    responses=errors(400, 403, 413, 415, 422),
)
def submit_referral(
    uow: Uow, actor: CurrentActor, data: JSONBody[SubmitReferralIn]
) -> CaseCreatedOut:
    """Create a case and submit it (or keep it as a draft with `as_draft`)."""
    return CaseCreatedOut(referrals.submit_referral(uow, actor, data.command()))


@get(
    "/api/cases/{case_id:int}",
    tags=CASES,
    summary="Read a case",
    responses=errors(404),
    opt=ONE_STEP,
)
async def read_case(request: Request[Any, Any, Any], case_id: PathId) -> CaseOut:
    """Every field you may read now; the others hidden with the reason. The read is audited."""
    return await read_as_actor(
        request, lambda uow, actor: CaseOut.of(referrals.read_case(uow, actor, case_id))
    )


@get(
    "/api/cases/{case_id:int}/fhir",
    tags=CASES,
    summary="Export a case as FHIR R4",
    media_type="application/fhir+json",
    responses=errors(404),
    opt=ONE_STEP,
)
async def export_fhir(request: Request[Any, Any, Any], case_id: PathId) -> FhirBundleOut:
    """The case as a FHIR R4 Bundle: a ServiceRequest, the Patient (when you may see who it
    is), Tasks for its requests, interventions and panel work, its Consents and, if you may
    see its history, AuditEvents after IHE BALP; each holding only what you may read now.
    The export is audited as a read of the case."""
    return await read_as_actor(
        request,
        lambda uow, actor: FhirBundleOut.of(fhir.export_case(uow, actor, case_id)),
    )


@post(
    "/api/cases/{case_id:int}/transitions",
    tags=CASES,
    summary="Move a case",
    status_code=200,
    sync_to_thread=True,
    responses=errors(400, 403, 404, 409, 413, 415, 422),
)
def move_case(
    request: Request[Any, Any, Any],
    uow: Uow,
    actor: CurrentActor,
    case_id: PathId,
    data: JSONBody[TransitionIn],
) -> MovedOut:
    """Fire a workflow trigger that records no data of its own (`start_screening`,
    `ready_for_panel`, `start_support`, `exit`, ...); `submit` submits a draft. Triggers
    that record a decision have their own endpoints. `expected_version` guards against
    a change made since you read the case (409). A trigger that erases wants a current
    second-factor code in the X-Second-Factor-Code header, if you have a second factor."""
    move = lifecycle.MoveCase(
        case_id,
        data.trigger,
        data.expected_version,
        data.outcome_for_referrer,
        confirmation(request, ""),
    )
    return MovedOut.of(lifecycle.move_case(uow, actor, move))


@get(
    "/api/search",
    tags=CASES,
    summary="Find cases by reference, or by name and date of birth",
    responses=errors(400, 422),
    opt=ONE_STEP,
)
async def search_cases(
    request: Request[Any, Any, Any],
    q: Annotated[str, QueryParameter(max_length=200, description="A reference or a name")] = "",
    born: Annotated[
        str, QueryParameter(max_length=10, description="A date of birth, YYYY-MM-DD")
    ] = "",
) -> SearchOut:
    """A reference (`DEMO-2026-0025`) finds that case if you may see its status. A name,
    with a date of birth if given, finds the cases whose person matches, among those whose
    identity you may read: through a keyed index, never by opening each person's record.
    Status data only; where you may not read identity, a name finds nothing."""
    return await read_as_actor(
        request,
        lambda uow, actor: SearchOut.of(search.search_cases(uow, actor, search_command(q, born))),
    )


ROUTES = [
    me,
    issue_token,
    list_cases,
    search_cases,
    submit_referral,
    read_case,
    export_fhir,
    move_case,
]
