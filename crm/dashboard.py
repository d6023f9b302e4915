"""The back-office dashboard: one admin page composed of the panels the domain apps provide.

`settings.BACKOFFICE_DASHBOARD_PANELS` lists dotted paths of functions `panel(*, request, tenant) -> Panel`. Each
panel reads its numbers through its own app's selectors with aggregate queries, so the page's query count does not
grow with the data. crm imports no domain app.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from crm.models import Tenant
from crm.tenancy import is_tenant_staff


@dataclass(frozen=True)
class Panel:
    """One block of the dashboard: a chart and, optionally, the same numbers as a small table and links."""

    title: str
    chart: SafeString
    table_head: Sequence[str] = ()
    table_rows: Sequence[Sequence[str]] = ()
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)
    controls: SafeString | None = None


def admin_link(label: str, name: str, query: str = "") -> tuple[tuple[str, str], ...]:
    """A panel link to an admin page, or none while that page is not registered."""
    try:
        return ((label, reverse(name) + query),)
    except NoReverseMatch:
        return ()


def backoffice_tenant(request) -> Tenant:
    """The tenant a back-office page works on: the staff user's own; a superuser picks one with `?tenant=`."""
    user = request.user
    if not user.is_superuser:
        if not is_tenant_staff(user):
            raise PermissionDenied
        return user.tenant
    tenant_id = request.GET.get("tenant") or ""
    tenants = Tenant.objects.order_by("id")
    tenant = tenants.filter(pk=int(tenant_id)).first() if tenant_id.isdigit() else tenants.first()
    if tenant is None:
        raise Http404("No tenant.")
    return tenant


def dashboard_view(request, *, site):
    tenant = backoffice_tenant(request)
    with timezone.override(tenant.tzinfo):
        panels = [
            import_string(dotted)(request=request, tenant=tenant) for dotted in settings.BACKOFFICE_DASHBOARD_PANELS
        ]
        context = {
            **site.each_context(request),
            "title": _("Дашборд — %(tenant)s") % {"tenant": tenant.name},
            "tenant": tenant,
            "tenants": Tenant.objects.order_by("id") if request.user.is_superuser else None,
            "panels": panels,
            "generated_at": timezone.localtime(),
        }
        return TemplateResponse(request, "admin/backoffice/dashboard.html", context).render()


def admin_urls(site) -> list:
    return [path("dashboard/", site.admin_view(partial(dashboard_view, site=site)), name="backoffice_dashboard")]
