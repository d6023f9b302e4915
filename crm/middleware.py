"""Request-level guards that must answer in the API's envelope before any view runs."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.views import defaults

from crm.api.exceptions import error_response
from crm.api.parsers import NUL_MESSAGE, request_json
from crm.errors import ValidationFailed

_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class ApiBodyLimitMiddleware:
    """Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (1 MiB) → 413 `payload_too_large` under /api.

    DRF parses from the request stream, which skips Django's own size check, so it is enforced here once.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and request.method in _BODY_METHODS:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response("validation_error", "Invalid Content-Length header.", status=400)
            try:
                if declared > limit or len(request.body) > limit:
                    return self._too_large(limit)
            except RequestDataTooBig:
                return self._too_large(limit)
        return self.get_response(request)

    @staticmethod
    def _too_large(limit: int):
        return error_response("payload_too_large", f"The request body is larger than {limit} bytes.", status=413)


class InputGuardMiddleware:
    """Input that cannot be stored or parsed → 400 `validation_error` before any view runs (SPEC §15).

    A NUL character in the path, a query parameter, a header or a form body (PostgreSQL text cannot hold U+0000
    and psycopg refuses such a parameter outright, so any lookup or write with one was a 500), and a JSON body
    that `parse_json` refuses (NUL, nesting, numbers out of range). The parsed JSON is kept for the view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            _check_input(request)
        except RequestDataTooBig:
            return self.get_response(request)  # Django answers an oversized body itself
        except SuspiciousOperation as exc:  # more query parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS
            return _refused(request, ValidationFailed(str(exc), details={"query": [str(exc)]}))
        except ValidationFailed as exc:
            return _refused(request, exc)
        return self.get_response(request)


def _refused(request, exc: ValidationFailed):
    if request.path.startswith("/admin/") and request.content_type != "application/json":
        return defaults.bad_request(request, SuspiciousOperation(exc.message))  # the admin's HTML pages
    return error_response(exc.code, exc.message, status=exc.status, details=exc.details)


def _check_input(request) -> None:
    if "\x00" in request.path:
        raise _nul_in("path")
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            raise _nul_in(key.replace("\x00", "") or "query")
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            raise _nul_in(key.removeprefix("HTTP_").replace("_", "-").title())
    if request.content_type == "application/x-www-form-urlencoded" and request.method in _BODY_METHODS:
        # Only an escaped or a raw NUL decodes to U+0000 (`%2500` is the text "%00").
        if b"%00" in request.body or b"\x00" in request.body:
            raise _nul_in("body")
    elif request.content_type == "application/json" and request.path.startswith("/api/") and request.body:
        # Under /api the body is already known to fit in 1 MiB (ApiBodyLimitMiddleware); the back-office's few
        # JSON views call parse_json themselves.
        request_json(request)


def _nul_in(field: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {NUL_MESSAGE}", details={field: [NUL_MESSAGE]})
