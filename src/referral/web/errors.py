"""Errors in one place: each domain error becomes a status, a page, a fragment or JSON.

Never a 500 for bad input; never a stack trace or personal data in the answer.
"""

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect, Template

from referral import i18n
from referral.domain.errors import AcknowledgementRequired, InvalidInput, ReferralError
from referral.i18n import N_
from referral.logging import get_logger
from referral.services.uow import as_conflict, database_busy
from referral.web.language import reading_of, translate

log = get_logger(__name__)


def wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/schema"


def _error_page(
    request: Request[Any, Any, Any], status: int, title: str, message: str
) -> Response[Any]:
    template = "_error_fragment.html" if request.headers.get("hx-request") else "error.html"
    headers = (
        {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        if request.headers.get("hx-request")
        else {}
    )
    return Template(
        template,
        context={"status": status, "title": title, "message": message},
        status_code=status,
        headers=headers,
        media_type=MediaType.HTML,
    )


TITLES = {
    400: N_("The request could not be read"),
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Someone else changed this first"),
    413: N_("Too much was sent"),
    415: N_("Sent in a form this address does not read"),
    422: N_("Please correct the form"),
    429: N_("Too many attempts"),
    503: N_("Busy for a moment"),
}
ERROR = N_("Error")
NOTHING_HERE = N_("There is nothing at this address, or you may not see it.")
OUR_FAULT = N_("Something went wrong on our side.")
LOGGED = N_("Something went wrong on our side. The error has been logged.")
SOMETHING_WRONG = N_("Something went wrong")


def _respond(
    request: Request[Any, Any, Any], status: int, message: str, errors: dict[str, str] | None = None
) -> Response[Any]:
    """The error in the reader's language (a page's and a program's alike): its title and
    message as the catalogue has them, else as they are."""
    message = translate(request, message)
    if wants_json(request):
        body: dict[str, Any] = {
            "status": status,
            "error": translate(request, TITLES.get(status, ERROR)),
            "message": message,
        }
        if errors:
            body["errors"] = errors
        return Response(body, status_code=status, media_type=MediaType.JSON)
    title = translate(request, TITLES.get(status, SOMETHING_WRONG))
    return _error_page(request, status, title, message)


def referral_error(request: Request[Any, Any, Any], exc: ReferralError) -> Response[Any]:
    """A domain error in the reader's language: its template translated, then its values
    filled in (`in_language`), so "case {case} ..." reads right in every language."""
    language = reading_of(request, None).language

    def gettext(text: str) -> str:
        return i18n.gettext(language, text)

    errors = exc.errors_in_language(gettext) if isinstance(exc, InvalidInput) else None
    return _respond(request, exc.status_code, exc.in_language(gettext), errors)


def acknowledgement_required(
    request: Request[Any, Any, Any], exc: AcknowledgementRequired
) -> Response[Any]:
    """A page sends the user to the protocol to acknowledge it first; the API says so."""
    if wants_json(request):
        return _respond(request, 403, exc.message)
    if request.headers.get("hx-request"):
        return Response("", status_code=403, headers={"HX-Redirect": "/protocol"})
    return Redirect("/protocol", status_code=303)


def not_authorized(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    if wants_json(request):
        return _respond(request, 401, str(exc.detail))
    if request.headers.get("hx-request"):
        return Response("", status_code=401, headers={"HX-Redirect": "/login"})
    return Redirect("/login")


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        message = N_("Some of what was sent is missing or not in the expected form.")
        extra = exc.extra if isinstance(exc.extra, list) else None
        errors = {
            str(e.get("key", "")): str(e.get("message", ""))
            for e in extra or []
            if isinstance(e, dict)
        }
        return _respond(request, 400, message, errors or None)
    if isinstance(exc, NotFoundException):
        return _respond(request, 404, NOTHING_HERE)
    if isinstance(exc, PermissionDeniedException):
        return _respond(request, 403, str(exc.detail))
    return _respond(
        request,
        status,
        str(exc.detail) if status < 500 else OUR_FAULT,
    )


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    conflict = as_conflict(exc)
    if conflict is not None:  # a race lost inside the database (a concurrent change won)
        return referral_error(request, conflict)
    if database_busy(exc):  # every database connection busy for the pool's timeout
        log.warning("database_busy", path=request.url.path)
        response = _respond(request, 503, N_("The service is busy. Please try again in a moment."))
        response.headers["Retry-After"] = "5"
        return response
    # The exception's text may hold submitted data: log its type only.
    log.error("request_failed", path=request.url.path, error=type(exc).__name__)
    return _respond(
        request, 500, N_("Something went wrong on our side. The error has been logged.")
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    AcknowledgementRequired: acknowledgement_required,
    ReferralError: referral_error,
    NotAuthorizedException: not_authorized,
    HTTPException: http_error,
    Exception: internal_error,
}
