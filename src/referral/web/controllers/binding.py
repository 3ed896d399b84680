"""Numbers and dates from forms and query strings, bounded where they enter.

The services judge what a value means (is there such a user, is the end after the
start) and word their own messages. What they cannot be handed is a number no column
holds or a date the calendar cannot step past: those are refused here, the same way
for every page, before they reach a query.
"""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from litestar import Request
from litestar.exceptions import NotFoundException

from referral.web.input_guard import MAX_ID, UnreadableInput, date_problem

# Audit sequence numbers are 64-bit.
MAX_SEQ = 2**63 - 1


def whole_number(text: str, top: int = MAX_ID) -> int | None:
    """`text` as a number from 1 to `top`, or None. ASCII digits only: `str.isdigit`
    also admits '²', which `int` refuses."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= top else None


def version_number(text: str) -> int | None:
    """A form's expected version: 0 too is a version."""
    text = text.strip()
    return 0 if text and set(text) == {"0"} else whole_number(text)


def path_id(text: str) -> int:
    """An id in a path segment typed as text: one that cannot exist is not found."""
    number = whole_number(text)
    if number is None:
        raise NotFoundException()
    return number


def query(
    request: Request[Any, Any, Any],
    numbers: Mapping[str, int] | None = None,
    dates: tuple[str, ...] = (),
) -> dict[str, str]:
    """The query parameters, once each named number is within its bound and each named
    date within the calendar this service works in (400 otherwise, naming them).

    A value that is no number or no date at all passes: the service's own message
    ("Enter a date like 2026-03-02") says more than a bound would.
    """
    params = {key: str(value) for key, value in request.query_params.items()}
    problems: dict[str, str] = {}
    for name, top in (numbers or {}).items():
        text = params.get(name, "").strip()
        if text.isdigit() and whole_number(text, top) is None:
            problems[name] = f"is not a number from 1 to {top}"
    for name in dates:
        problem = _date_problem(params.get(name, ""))
        if problem:
            problems[name] = problem
    if problems:
        message = "; ".join(f'the query parameter "{k}" {v}' for k, v in problems.items())
        raise UnreadableInput(message, {k: f"This {v}." for k, v in problems.items()})
    return params


def _date_problem(text: str) -> str | None:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return date_problem(day)


def form_date(text: str) -> date | None:
    """A date typed into a form, or None when it is none or out of range."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return None if date_problem(day) else day


def form_datetime(text: str) -> datetime | None:
    """A date and time typed into a form, or None when it is none or out of range."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return None if date_problem(when.date()) else when
