"""Input that no handler can use is refused here, before routing reaches a handler.

One rule for every request, whatever the route: a path holding control characters, or an
id in the path that no row can have, is not found (404); a body in a media type the
route does not read is refused (415); text that is not valid UTF-8, or that holds a NUL
or another C0 control (tab, line feed and carriage return excepted), in a query
parameter, a form field or anywhere in a JSON body, is refused (400) with the field
named; JSON nested deeper than any request of this API is refused before it is parsed.
Handlers, the services and the database therefore never see such input, so it can
neither be stored nor turn into a 500 further down.
"""

import json
import re
from datetime import date
from typing import Any
from urllib.parse import unquote_to_bytes

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from referral.domain.errors import InvalidInput
from referral.i18n import N_

# The id columns are 32-bit integers on PostgreSQL: a larger id names no row anywhere.
MAX_ID = 2**31 - 1
# The deepest request body of this API is three levels; 32 leaves room and stops a
# 20,000-level document before the parser recurses into it.
MAX_JSON_DEPTH = 32

# Dates a person could mean; outside them date arithmetic (a day after, a zone shift)
# would overflow Python's calendar rather than answer.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)

# What text may hold, as the OpenAPI schema declares it (the check below is the same).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_ONLY = N_("Send the body as JSON, with the header Content-Type: application/json.")
FORM_ONLY = N_("Send the form as application/x-www-form-urlencoded, as a browser does.")


class UnreadableInput(InvalidInput):
    """Input that cannot be read as what it claims to be: 400, with the field named."""

    status_code = 400


def text_problem(value: str) -> str | None:
    """Why `value` is not acceptable text, or None: the one rule for every text field."""
    match = _CONTROL.search(value)
    if match:
        return f"holds the control character U+{ord(match.group()):04X}, which text may not hold"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    return None


def _sentence(problem: str) -> str:
    return problem[0].upper() + problem[1:] + "."


def date_problem(value: date) -> str | None:
    """Why `value` is no date to work with, or None: the one range for every date."""
    if EARLIEST <= value <= LATEST:
        return None
    return f"is not between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


class InputGuard(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        _check_path(scope)
        _check_pairs(scope.get("query_string", b""), "query parameter")
        if scope.get("method") in _BODY_METHODS:
            # The body is read once here; Litestar keeps it for the handler's own reading.
            await _check_body(Request(scope, receive))
        await next_app(scope, receive, send)


def _check_path(scope: Scope) -> None:
    if _PATH_CONTROL.search(scope["path"]):
        raise NotFoundException()
    for value in scope.get("path_params", {}).values():
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise NotFoundException()


async def _check_body(request: Request[Any, Any, Any]) -> None:
    body = await request.body()
    if not body:
        return
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if request.url.path.startswith("/api/"):
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise HTTPException(status_code=415, detail=JSON_ONLY)
        _check_json(body)
    else:
        if media_type == "multipart/form-data" and _takes_upload(request):
            return  # the handler's service reads the file and names what is wrong in it
        if media_type != "application/x-www-form-urlencoded":
            raise HTTPException(status_code=415, detail=FORM_ONLY)
        _check_pairs(body, "form field")


# A page handler's opt: it takes a file upload (multipart/form-data) besides plain forms.
UPLOAD = {"upload": True}


def _takes_upload(request: Request[Any, Any, Any]) -> bool:
    handler = request.scope.get("route_handler")
    return handler is not None and bool(handler.opt.get("upload"))


def _check_pairs(raw: bytes, what: str) -> None:
    """An urlencoded query string or form: each name and value decoded strictly."""
    for part in raw.split(b"&"):
        name, _, value = part.partition(b"=")
        field = _decode(name, what, None)
        _decode(value, what, field)


def _decode(raw: bytes, what: str, field: str | None) -> str:
    """`raw` as text; `field` is None while decoding the field's own name."""
    place = f"a {what} name" if field is None else f'the {what} "{field}"'
    key = what if field is None else field
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        message = f"{place} is not valid UTF-8 text"
        raise UnreadableInput(message, {key: N_("Not valid UTF-8.")}) from None
    problem = text_problem(text)
    if problem:
        raise UnreadableInput(
            "{place} {problem}", {key: _sentence(problem)}, place=place, problem=problem
        )
    return text


def _check_json(body: bytes) -> None:
    _check_depth(body)
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise UnreadableInput("the body is not valid UTF-8 text") from None
    except ValueError:
        raise UnreadableInput("the body is not valid JSON") from None
    _check_strings(document, "")


def _check_depth(body: bytes) -> None:
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return  # Too few brackets to nest too deep: the common case, decided in C.
    depth = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub(b'""', body)):
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise UnreadableInput(
                "the JSON is nested more than {depth} levels deep", depth=MAX_JSON_DEPTH
            )


def _check_strings(value: Any, path: str) -> None:
    if isinstance(value, str):
        _refuse_bad_text(value, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_bad_text(key, f"{path}.{key!r}" if path else repr(key))
            _check_strings(item, f"{path}.{key}" if path else key)


def _refuse_bad_text(text: str, path: str) -> None:
    problem = text_problem(text)
    if problem:
        field = path if text_problem(path) is None else "a field name"
        raise UnreadableInput(
            'the field "{field}" {problem}',
            {field: _sentence(problem)},
            field=field,
            problem=problem,
        )
