"""Django's 400/403/404/500 handlers: the API envelope everywhere but the admin's HTML pages."""

from django.views import defaults

from crm.api.exceptions import error_response


def _is_html_page(request) -> bool:
    return request.path.startswith("/admin/") or request.path == "/admin"


def bad_request(request, exception=None):
    if _is_html_page(request):
        return defaults.bad_request(request, exception)
    return error_response("validation_error", "Bad request.", status=400)


def permission_denied(request, exception=None):
    if _is_html_page(request):
        return defaults.permission_denied(request, exception)
    return error_response("forbidden", "You do not have permission to perform this action.", status=403)


def page_not_found(request, exception=None):
    if _is_html_page(request):
        return defaults.page_not_found(request, exception)
    return error_response("not_found", f"No route for {request.path}.", status=404)


def server_error(request):
    if _is_html_page(request):
        return defaults.server_error(request)
    return error_response("internal_error", "Internal server error.", status=500)
