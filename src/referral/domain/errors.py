"""Domain errors. Each maps to one HTTP status and one CLI exit in the outer layers.

An error's message is a template in English with `{name}` placeholders and the values
that fill them: `Conflict("Case {case} is closed.", case=7)`. `message` is the English
text (logs, the CLI and tests read it); `in_language` gives it in the reader's language,
from the catalogues, where the outer layer shows it. The constant first argument of
each error class is extracted into the catalogues (`referral.i18n_extract.KEYWORDS`).
"""

from collections.abc import Callable

from referral.domain.vocabulary import ERROR_WORDS


class ReferralError(Exception):
    """Base class: a failure a person can understand and act on."""

    status_code = 400

    def __init__(self, message: str, **params: object) -> None:
        self.template = message
        self.params = params
        self.message = _fill(message, params)
        super().__init__(self.message)

    def in_language(self, gettext: Callable[[str], str]) -> str:
        """The message in the language `gettext` translates into; the English text when
        the translation's placeholders do not fit the values."""
        return _translate(gettext, self.template, self.params, self.message)


def _fill(template: str, params: dict[str, object]) -> str:
    # A message without values is used as written (a brace in it is text, not a placeholder).
    return template.format(**params) if params else template


def _translate(
    gettext: Callable[[str], str], template: str, params: dict[str, object], english: str
) -> str:
    try:
        return _fill(gettext(template), params)
    except (KeyError, IndexError, ValueError):
        return english


class NotFound(ReferralError):
    """The object does not exist, or the actor may not know that it exists."""

    status_code = 404


class PermissionDenied(ReferralError):
    """The actor can see the object but may not perform this action on it."""

    status_code = 403


class AcknowledgementRequired(PermissionDenied):
    """The actor must first acknowledge the network's current information-sharing protocol
    (pages send them to it; the API answers 403 with this message)."""


class Conflict(ReferralError):
    """The object changed underneath the request, or is in the wrong state for it."""

    status_code = 409


class InvalidInput(ReferralError):
    """The command is malformed; `errors` maps field names to messages (each a constant
    marked for extraction, or a code that `vocabulary.ERROR_WORDS` puts in words)."""

    status_code = 422

    def __init__(
        self, message: str, errors: dict[str, str] | None = None, **params: object
    ) -> None:
        super().__init__(message, **params)
        self.errors = errors or {}

    def errors_in_language(self, gettext: Callable[[str], str]) -> dict[str, str]:
        """`errors` in the language `gettext` translates into, codes put in words first."""
        return {
            field: gettext(ERROR_WORDS.get(message, message))
            for field, message in self.errors.items()
        }


class ConfigurationError(ReferralError):
    """A workflow, policy or settings file is broken; the message names file and place."""
