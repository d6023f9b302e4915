"""Application errors: a machine code, a message, details and an HTTP status (SPEC §3). No DRF here.

Services raise these; `crm.api.exceptions` turns them (and everything else) into
`{"error", "message", "details"}`.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise as StrPromise


class ApplicationError(Exception):
    code = "validation_error"
    status = 400
    default_message = "Invalid request."
    # The back-office's own wording of a refusal, where the API's message and details read badly in a form.
    admin_message: "str | StrPromise | None" = None

    def __init__(self, message: str | None = None, *, details=None, code: str | None = None, status: int | None = None):
        self.message = message or self.default_message
        self.details = details
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    """400 validation_error; `details` maps each field to a list of messages."""

    @classmethod
    def for_field(cls, field: str, message: str) -> "ValidationFailed":
        return cls(message, details={field: [message]})


class Unauthorized(ApplicationError):
    code, status, default_message = "unauthorized", 401, "Authentication credentials are missing or invalid."


class Forbidden(ApplicationError):
    code, status, default_message = "forbidden", 403, "You do not have permission to perform this action."


class NotFound(ApplicationError):
    code, status, default_message = "not_found", 404, "Not found."


class Conflict(ApplicationError):
    code, status, default_message = "conflict", 409, "The request conflicts with the current state."


class PreconditionFailed(ApplicationError):
    code, status, default_message = "precondition_failed", 412, "A precondition failed."


class InvalidStatusTransition(ApplicationError):
    """400 for deals, policies and payments; the v1 task service raises it with status=409."""

    code, status = "invalid_status_transition", 400

    def __init__(self, current: str, requested: str, allowed, *, status: int | None = None):
        allowed_list = sorted(allowed)
        super().__init__(
            f"Cannot change status from {current} to {requested}.",
            details={"status": [f"Allowed from {current}: {', '.join(allowed_list) or 'nothing'}."]},
            status=status,
        )
