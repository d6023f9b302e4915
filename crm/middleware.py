"""Request-level guards that must answer in the API's envelope before any view runs."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from crm.api.exceptions import error_response


class ApiBodyLimitMiddleware:
    """Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (1 MiB) → 413 `payload_too_large` under /api.

    DRF parses from the request stream, which skips Django's own size check, so it is enforced here once.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and request.method in ("POST", "PUT", "PATCH", "DELETE"):
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
