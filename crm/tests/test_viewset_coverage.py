"""Meta-test: every routed viewset goes through the tenancy layer (STYLE §2.3)."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.viewsets import ViewSetMixin

from crm.api.viewsets import TenantScopedViewSet


def _views(patterns):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _views(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            yield entry.callback


def test_every_routed_viewset_is_tenant_scoped():
    offenders = []
    for callback in _views(get_resolver().url_patterns):
        view_class = getattr(callback, "cls", None)
        if view_class and issubclass(view_class, ViewSetMixin) and not issubclass(view_class, TenantScopedViewSet):
            offenders.append(view_class.__name__)
    assert offenders == []


def test_tenant_scoped_viewsets_cannot_override_the_queryset():
    with pytest.raises(TypeError, match="get_queryset"):

        class Sneaky(TenantScopedViewSet):
            def get_queryset(self):
                return None
