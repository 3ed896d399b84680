"""Which language and time zone a request reads in (referral.i18n.choose), found once
per request and kept on it: the page, its errors and its fragments all read alike."""

from typing import Any

from litestar.connection import ASGIConnection

from referral import i18n
from referral.domain.errors import ReferralError

STATE_READING = "reading"


def reading_of(connection: ASGIConnection[Any, Any, Any, Any] | None, viewer: Any) -> i18n.Reading:
    """The viewer's own language, else the browser's, else the network's default. A
    visitor (the sign-in page) reads in the browser's language."""
    if connection is None:
        return i18n.ENGLISH
    found = connection.state.get(STATE_READING)
    if isinstance(found, i18n.Reading):
        return found
    accept = connection.headers.get("accept-language")
    if viewer is not None:
        found = i18n.choose(viewer.language, accept, viewer.network_languages, viewer.time_zone)
    else:
        found = i18n.choose(None, accept, None)
    connection.state[STATE_READING] = found
    return found


def translate(connection: ASGIConnection[Any, Any, Any, Any] | None, message: str) -> str:
    """A message from the code (an error, a confirmation) in the request's language."""
    return i18n.gettext(reading_of(connection, None).language, message)


def error_in_language(
    connection: ASGIConnection[Any, Any, Any, Any] | None, error: ReferralError
) -> str:
    """A domain error's message in the request's language: its template translated, its
    values filled in after (a page that shows the error beside its form)."""
    language = reading_of(connection, None).language
    return error.in_language(lambda text: i18n.gettext(language, text))
