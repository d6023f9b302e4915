"""The one place where errors become the spec's envelope `{"error", "message", "details"}` (SPEC §3)."""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from crm.errors import ApplicationError

logger = logging.getLogger("crm.errors")

# DRF exception class -> (code, status); checked in order, so subclasses come first.
_DRF_CODES = [
    (exceptions.NotAuthenticated, "unauthorized", status.HTTP_401_UNAUTHORIZED),
    (exceptions.AuthenticationFailed, "unauthorized", status.HTTP_401_UNAUTHORIZED),
    (exceptions.PermissionDenied, "forbidden", status.HTTP_403_FORBIDDEN),
    (exceptions.MethodNotAllowed, "method_not_allowed", status.HTTP_405_METHOD_NOT_ALLOWED),
    (exceptions.NotAcceptable, "not_acceptable", status.HTTP_406_NOT_ACCEPTABLE),
    (exceptions.UnsupportedMediaType, "unsupported_media_type", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    (exceptions.Throttled, "rate_limited", status.HTTP_429_TOO_MANY_REQUESTS),
]


def envelope(code: str, message: str, details=None) -> dict:
    return {"error": code, "message": message, "details": details}


def error_response(code: str, message: str, *, status: int, details=None, headers=None) -> JsonResponse:
    """The envelope for views outside DRF (webhooks, health checks, the SSE stream, handler404/500)."""
    response = JsonResponse(envelope(code, message, details), status=status, json_dumps_params={"ensure_ascii": False})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF nests errors (`{"contacts": [{"type": [...]}]}`); the envelope maps a dotted field to its messages."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and prefix:
                name = prefix
            flat.update(_flatten(value, name))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            if item:
                flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def _validation_message(details: dict[str, list[str]]) -> str:
    first_field, messages = next(iter(details.items()), ("", [""]))
    if first_field in ("non_field_errors", ""):
        return messages[0] if messages else "Invalid request."
    return f"{first_field}: {messages[0]}" if messages else "Invalid request."


def not_found_code(context) -> str:
    view = context.get("view") if context else None
    return getattr(view, "not_found_error", "not_found")


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception a DRF view raises leaves as the envelope."""
    exc = _as_drf_exception(exc)
    for convert in (_application_error, _not_found, _bad_request, _drf_error, _database_unavailable):
        response = convert(exc, context)
        if response is not None:
            return response
    if isinstance(exc, DatabaseError):
        logger.exception("Unhandled database error")
    else:
        logger.exception("Unhandled exception", exc_info=exc)
    return Response(envelope("internal_error", "Internal server error."), status=500)


def _as_drf_exception(exc):
    """Django's own PermissionDenied and ValidationError, raised in a DRF view, answer like DRF's."""
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    return exc


def _application_error(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(envelope(exc.code, exc.message, exc.details), status=exc.status)
    return None


def _not_found(exc, context):
    if not isinstance(exc, (Http404, exceptions.NotFound)):
        return None
    code = not_found_code(context)
    message = str(exc.detail) if isinstance(exc, exceptions.NotFound) and code == "not_found" else None
    return Response(envelope(code, message or _not_found_message(code)), status=404)


def _bad_request(exc, context):
    if isinstance(exc, SuspiciousOperation):
        # Django's own refusals of a request (too many form fields, a malformed multipart body…): 400, as Django
        # itself answers them outside DRF.
        return Response(envelope("validation_error", str(exc) or "Bad request.", {"body": [str(exc)]}), status=400)
    if isinstance(exc, exceptions.ParseError):
        details = {"body": [str(exc.detail)]}
        return Response(envelope("validation_error", f"Malformed request body: {exc.detail}", details), status=400)
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        return Response(envelope("validation_error", _validation_message(details), details), status=400)
    return None


def _drf_error(exc, context):
    for exc_class, code, http_status in _DRF_CODES:
        if isinstance(exc, exc_class):
            headers = {}
            if getattr(exc, "wait", None):
                # The seconds until the window passes, rounded up: the throttles' and the login limit's waits are
                # whole seconds already, and one more would point past the window (61 s for a minute's limit).
                headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
            if getattr(exc, "auth_header", None):
                headers["WWW-Authenticate"] = exc.auth_header
            return Response(envelope(code, str(exc.detail)), status=http_status, headers=headers)
    if isinstance(exc, exceptions.APIException):
        return Response(envelope(exc.default_code, str(exc.detail)), status=exc.status_code)
    return None


def _database_unavailable(exc, context):
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    logger.warning("Database unavailable: %s", exc)
    return Response(
        envelope("service_unavailable", "The database is unavailable, retry shortly."),
        status=503,
        headers={"Retry-After": "5"},
    )


def _not_found_message(code: str) -> str:
    subject = code.removesuffix("_not_found").replace("_", " ")
    return f"{subject.capitalize()} not found." if code != "not_found" else "Not found."
