"""The work queue of coordinators and screeners, and the case page every role uses.

Each form on the case page posts to its own address, makes one service call and
comes back to the case page (303); a refused form re-renders the page with its
errors (422). What the page offers is decided by services.actions, under policy.
"""

from collections.abc import Callable
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from referral.config import Settings
from referral.domain.errors import InvalidInput
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.i18n import N_
from referral.services import (
    actions,
    breakglass,
    consent,
    information,
    lifecycle,
    linkage,
    queue,
    screening,
    second_factor,
    support,
    timeline,
    transfers,
)
from referral.services.second_factor import CODE_FIELD
from referral.services.uow import UnitOfWork
from referral.web import done
from referral.web.controllers.binding import query, version_number, whole_number
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.input_guard import MAX_ID
from referral.web.language import error_in_language
from referral.web.render import page, see_other
from referral.web.session import confirmation
from referral.web.templating import label

MULTI_VALUED = frozenset({"scope", "organisation_ids"})


def pairs(values: Any, labels: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(value, text) options for a select or radio group."""
    return [(str(v), (labels or {}).get(str(v)) or label(str(v))) for v in values]


@get("/queue", name="work_queue", opt=ONE_STEP)
async def work_queue(request: Request[Any, Any, Any]) -> Template:
    def asked(name: str) -> str:
        return str(request.query_params.get(name, "")).strip()[:80]

    command = queue.ListQueue(
        state=asked("state"),
        due_soon_days=_settings(request).due_soon_days,
        after=asked("after"),
        deadline=asked("deadline"),
        assignee=asked("assignee"),
        concern=asked("concern"),
    )
    viewer, result = await read_as_viewer(
        request, lambda uow, viewer: (viewer, queue.work_queue(uow, viewer.actor, command))
    )
    return page(request, "cases/queue.html", viewer, partial="cases/_queue_table.html", q=result)


def _render_case(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    case_id: FromPath[int],
    *,
    failed: str = "",
    error: InvalidInput | None = None,
    values: dict[str, Any] | None = None,
) -> Template:
    case = actions.case_page(uow, viewer.actor, case_id)
    return page(
        request,
        "cases/case.html",
        viewer,
        status_code=422 if error else 200,
        c=case,
        pairs=pairs,
        failed=failed,
        error_message=error_in_language(request, error) if error else "",
        errors=(error.errors or {"_": error.message}) if error else {},
        values=values or {},
        breakglass_minutes=_settings(request).breakglass_minutes,
        # Break-glass and erasure ask a code of those who have a second factor.
        second_factor=second_factor.enrolled(uow, viewer.actor.user_id),
        fresh_minutes=_settings(request).second_factor_fresh_minutes,
        done_message="" if error else done.message(done.CASE, request),
    )


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@get("/cases/{case_id:int}/history", name="case_history", opt=ONE_STEP)
async def case_history(request: Request[Any, Any, Any], case_id: FromPath[int]) -> Template:
    """Everything the audit log holds of a case, a page at a time, reads included."""
    params = query(request, numbers={"before": MAX_ID})
    before = whole_number(params.get("before", ""))
    command = timeline.ReadHistory(case_id, before=before, everything=True)

    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        history = timeline.case_history(uow, viewer.actor, command)
        if history is None:  # the case is theirs to see, its history is not
            raise NotFoundException()
        return page(
            request,
            "cases/history.html",
            viewer,
            partial="cases/_history_page.html",
            case_id=case_id,
            history=history,
        )

    return await read_as_viewer(request, work)


@get("/cases/{case_id:int}", name="case_page", opt=ONE_STEP)
async def case_page(request: Request[Any, Any, Any], case_id: FromPath[int]) -> Template:
    return await read_as_viewer(
        request, lambda uow, viewer: _render_case(request, uow, viewer, case_id)
    )


def _submit(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
    name: str,
    call: Callable[[], object],
) -> Any:
    """Run one service call for form `name`; back to the case, or the form with its errors."""
    try:
        call()
    except InvalidInput as exc:
        values = {
            key: form.getall(key) if key in MULTI_VALUED else form.get(key)
            for key in form
            if key != "_csrf"
        }
        return _render_case(request, uow, viewer, case_id, failed=name, error=exc, values=values)
    return see_other(f"/cases/{case_id}?done={done.key(name)}")


def _text(form: Form, name: str) -> str:
    return str(form.get(name, "") or "")


def _int(form: Form, name: str, message: str, field_message: str) -> int:
    """A chosen id: `message` and `field_message` are constants marked N_ (extracted)."""
    number = whole_number(_text(form, name))
    if number is None:
        raise InvalidInput(message, {name: field_message})
    return number


def _version(form: Form) -> int | None:
    raw = _text(form, "expected_version").strip()
    if not raw:
        return None
    version = version_number(raw)
    if version is None:
        raise InvalidInput("the form's version is not a number; reload the page")
    return version


def _scope(form: Form) -> tuple[ConsentScope, ...]:
    """Checkboxes named `scope` with values `category:org_kind`; the purpose is support."""
    grants = []
    for raw in form.getall("scope", []):
        category, _, kind = str(raw).partition(":")
        if category not in set(Category) or kind not in set(OrgKind):
            raise InvalidInput(
                "the consent scope holds an unknown choice", {"scope": N_("Unknown.")}
            )
        grants.append(ConsentScope(Category(category), OrgKind(kind), Purpose.SUPPORT))
    return tuple(grants)


@post("/cases/{case_id:int}/move", name="case_move", sync_to_thread=True, status_code=303)
def move(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    # A stale version is a Conflict (409) and an unknown trigger an InvalidInput (422):
    # both reach the error page with their message, never this form.
    command = lifecycle.MoveCase(
        case_id,
        _text(form, "trigger").strip(),
        expected_version=_version(form),
        outcome_for_referrer=_text(form, "outcome_for_referrer"),
        confirmation=confirmation(request, _text(form, CODE_FIELD)),
    )
    lifecycle.move_case(uow, viewer.actor, command)
    return see_other(f"/cases/{case_id}?done=moved")


@post(
    "/cases/{case_id:int}/deconfliction",
    name="case_deconfliction",
    sync_to_thread=True,
    status_code=303,
)
def deconfliction(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    command = screening.RecordDeconfliction(
        case_id, _text(form, "criminal_information"), _text(form, "deconfliction_result")
    )
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        "deconfliction",
        lambda: screening.record_deconfliction(uow, viewer.actor, command),
    )


@post("/cases/{case_id:int}/screening", name="case_screening", sync_to_thread=True, status_code=303)
def screening_outcome(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    def call() -> object:
        command = screening.RecordScreeningOutcome(
            case_id,
            _text(form, "outcome"),
            screening_notes=_text(form, "screening_notes"),
            outcome_for_referrer=_text(form, "outcome_for_referrer"),
            expected_version=_version(form),
        )
        return screening.record_screening_outcome(uow, viewer.actor, command)

    return _submit(request, uow, viewer, form, case_id, "screening", call)


@post(
    "/cases/{case_id:int}/information-requests",
    name="case_send_requests",
    sync_to_thread=True,
    status_code=303,
)
def send_requests(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    def call() -> object:
        ids = [whole_number(str(v)) for v in form.getall("organisation_ids", [])]
        if None in ids:
            raise InvalidInput(
                "choose agencies from the list", {"organisation_ids": N_("Unknown.")}
            )
        command = information.SendInformationRequests(
            case_id, tuple(i for i in ids if i is not None), _text(form, "question")
        )
        return information.send_information_requests(uow, viewer.actor, command)

    return _submit(request, uow, viewer, form, case_id, "send_requests", call)


@post(
    "/cases/{case_id:int}/information-requests/{request_id:int}/answer",
    name="case_answer_request",
    sync_to_thread=True,
    status_code=303,
)
def answer_request(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
    request_id: FromPath[int],
) -> Any:
    command = actions.AnswerRequest(
        case_id, request_id, _text(form, "answer"), declined=form.get("declined") == "yes"
    )
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        f"answer_{request_id}",
        lambda: actions.answer_request(uow, viewer.actor, command),
    )


@post(
    "/cases/{case_id:int}/consent/request",
    name="case_request_consent",
    sync_to_thread=True,
    status_code=303,
)
def request_consent(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    command = consent.RequestConsent(case_id)
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        "request_consent",
        lambda: consent.request_consent(uow, viewer.actor, command),
    )


@post(
    "/cases/{case_id:int}/consent", name="case_record_consent", sync_to_thread=True, status_code=303
)
def record_consent(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    def call() -> object:
        answer = _text(form, "answer")
        if answer not in ("given", "refused"):
            raise InvalidInput("say whether consent was given", {"answer": N_("Choose one.")})
        command = consent.RecordConsent(
            case_id,
            answer == "given",
            _text(form, "method"),
            scope=_scope(form),
            given_by=_text(form, "given_by"),
            guardian_name=_text(form, "guardian_name"),
            notes=_text(form, "notes"),
        )
        return consent.record_consent(uow, viewer.actor, command)

    return _submit(request, uow, viewer, form, case_id, "record_consent", call)


@post(
    "/cases/{case_id:int}/consent/withdraw",
    name="case_withdraw_consent",
    sync_to_thread=True,
    status_code=303,
)
def withdraw_consent(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    command = consent.WithdrawConsent(case_id, _text(form, "notes"))
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        "consent_withdrawal",
        lambda: consent.withdraw_consent(uow, viewer.actor, command),
    )


@post("/cases/{case_id:int}/transfer", name="case_propose_transfer", sync_to_thread=True,
      status_code=303)  # fmt: skip
def propose_transfer(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    command = transfers.ProposeTransfer(case_id, _text(form, "to_network"), _text(form, "reason"))
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        "hand_over",
        lambda: transfers.propose_transfer(uow, viewer.actor, command),
    )


@post(
    "/cases/{case_id:int}/interventions",
    name="case_assign_intervention",
    sync_to_thread=True,
    status_code=303,
)
def assign_intervention(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    def call() -> object:
        command = support.AssignIntervention(
            case_id,
            _text(form, "kind"),
            _int(
                form,
                "provider_org_id",
                N_("choose the organisation that provides it"),
                N_("Choose the organisation that provides it."),
            ),
            _text(form, "plan"),
        )
        return support.assign_intervention(uow, viewer.actor, command)

    return _submit(request, uow, viewer, form, case_id, "assign_intervention", call)


@post(
    "/cases/{case_id:int}/reviews", name="case_record_review", sync_to_thread=True, status_code=303
)
def record_review(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    command = lifecycle.RecordReview(case_id, _text(form, "kind"), _text(form, "notes"))
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        "record_review",
        lambda: lifecycle.record_review(uow, viewer.actor, command),
    )


@post(
    "/cases/{case_id:int}/break-glass",
    name="case_break_glass",
    sync_to_thread=True,
    status_code=303,
)
def break_glass(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
) -> Any:
    command = breakglass.OpenBreakGlass(
        case_id,
        _text(form, "category"),
        _text(form, "justification"),
        minutes=_settings(request).breakglass_minutes,
        confirmation=confirmation(request, _text(form, CODE_FIELD)),
    )
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        "break_glass",
        lambda: breakglass.open_break_glass(uow, viewer.actor, command),
    )


@post(
    "/cases/{case_id:int}/links/{alert_id:int}/ask",
    name="case_link_ask",
    sync_to_thread=True,
    status_code=303,
)
def ask_link(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
    alert_id: FromPath[int],
) -> Any:
    """Ask the earlier case's network to confirm a possible repeat referral."""
    command = linkage.AskToConfirm(alert_id)
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        "link",
        lambda: linkage.ask_to_confirm(uow, viewer.actor, command),
    )


@post(
    "/cases/{case_id:int}/links/{alert_id:int}/answer",
    name="case_link_answer",
    sync_to_thread=True,
    status_code=303,
)
def answer_link(
    request: Request[Any, Any, Any],
    uow: Uow,
    viewer: CurrentViewer,
    form: Form,
    case_id: FromPath[int],
    alert_id: FromPath[int],
) -> Any:
    """Confirm or reject the link another network asks about."""
    answer = _text(form, "answer")
    if answer not in {"confirm", "reject"}:
        raise InvalidInput("answer confirm or reject", {"answer": N_("Choose confirm or reject.")})
    command = linkage.AnswerLink(alert_id, confirm=answer == "confirm")
    return _submit(
        request,
        uow,
        viewer,
        form,
        case_id,
        "link",
        lambda: linkage.answer_link(uow, viewer.actor, command),
    )


ROUTES: list[Any] = [
    ask_link,
    answer_link,
    work_queue,
    case_page,
    case_history,
    move,
    deconfliction,
    screening_outcome,
    send_requests,
    answer_request,
    request_consent,
    record_consent,
    withdraw_consent,
    propose_transfer,
    assign_intervention,
    record_review,
    break_glass,
]
