from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from crm import health

handler400 = "crm.error_views.bad_request"
handler403 = "crm.error_views.permission_denied"
handler404 = "crm.error_views.page_not_found"
handler500 = "crm.error_views.server_error"

urlpatterns = [
    # The site's front door is the back-office; browsers that ask for /favicon.ico get the admin's icon.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("favicon.ico", RedirectView.as_view(url=static("crm/favicon.svg"), permanent=True)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # The Deals API first: Django tries patterns in order, and the `api/` includes hold over a hundred router
    # patterns that a /api/v1/ path would otherwise be matched against (a tenth of a deal-list request's CPU).
    path("api/v1/", include("deals.api.urls")),
    path("api/", include("crm.api.urls")),
    path("api/", include("pipelines.api.urls")),
    path("api/", include("tasks.api.urls")),
    path("api/", include("events.api.urls")),
]
