"""The back-office admin site: Django's admin plus the pages the domain apps plug into it.

`settings.BACKOFFICE_URLS` lists dotted paths of functions `admin_urls(site) -> list[URLPattern]` (the pipeline
board, the dashboard, exports and imports). Each wraps its views in `site.admin_view`, so login, the staff check and
CSRF are the admin's own, and crm imports no domain app (like `TENANT_SETUP_HOOKS`).
"""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _


class BackofficeAdminSite(AdminSite):
    site_header = _("CRM — бэк-офис")
    site_title = "CRM"
    index_title = _("Бэк-офис")
    index_template = "admin/backoffice/index.html"
    # No public site behind the back-office: no «Открыть сайт» link (`/` itself redirects here).
    site_url = None

    def has_permission(self, request):
        # Django lets in active staff only; managers work their own leads, tasks and deals here too.
        # Imported here: this module loads before the app registry, and crm.tenancy declares a model base.
        from crm.tenancy import may_enter_backoffice

        return may_enter_backoffice(request.user)

    def index(self, request, extra_context=None):
        from crm.tenancy import is_backoffice_manager

        # A manager's start page is their own work (leads, today's tasks, deals, the board), not the dashboard.
        extra_context = {"is_manager": is_backoffice_manager(request.user), **(extra_context or {})}
        return super().index(request, extra_context)

    @property
    def login_form(self):
        # Imported here: this module loads before the app registry, and the form needs the user model.
        from crm.admin_login import LimitedAdminAuthenticationForm

        return LimitedAdminAuthenticationForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        # A refused login renders the form with its Russian error; the status and header say the same to machines.
        form = (getattr(response, "context_data", None) or {}).get("form")
        limited = getattr(form, "login_limited", None)
        if limited is not None:
            response.status_code = 429
            response["Retry-After"] = str(limited.retry_after)
        return response

    def get_urls(self):
        # Ahead of the model admins' URLs: their `<path:object_id>/` would swallow `pipeline/5/board/`.
        extra = [pattern for dotted in settings.BACKOFFICE_URLS for pattern in import_string(dotted)(self)]
        return extra + super().get_urls()


class BackofficeAdminConfig(AdminConfig):
    """Replaces "django.contrib.admin" in INSTALLED_APPS, so `admin.site` is the back-office site."""

    default_site = "crm.admin_site.BackofficeAdminSite"
