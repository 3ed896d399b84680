"""Domain errors. Each maps to one HTTP status and one CLI exit in the outer layers."""


class ReferralError(Exception):
    """Base class: a failure a person can understand and act on."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    """The command is malformed; `errors` maps field names to messages."""

    status_code = 422

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class ConfigurationError(ReferralError):
    """A workflow, policy or settings file is broken; the message names file and place."""
