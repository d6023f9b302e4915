"""`TenantScopedViewSet`: the only place where API reads are limited to the caller's tenant and role.

Security rules (modelled on PostHog's TeamAndOrgViewSetMixin):
- subclasses may not override `get_queryset`, `get_object`, `initial`, `get_permissions`, `get_authenticators`
  or the permission and authentication classes; they narrow with `scope_queryset(qs)` and `action_roles`;
- reads go through `crm.tenancy` (`for_tenant`, `visible_to`, `with_visibility`); every action sees only the caller's
  tenant, so another tenant's id is a 404 (its existence is not revealed);
- the role rule (`Model.visibility_q(user)`) filters lists; detail actions load the row within the tenant and
  answer 403 when the role may not touch it (SPEC §1: 404 across tenants, 403 inside one).
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from crm.api.permissions import ActionRolePermission
from crm.bounds import MAX_BIGINT
from crm.tenancy import TenantQuerySet, may_touch, scoped

# The tenant scope, the role rule and who may call at all: a subclass cannot widen any of them.
_PROTECTED = (
    "get_queryset",
    "get_object",
    "initial",
    "get_permissions",
    "get_authenticators",
    "permission_classes",
    "authentication_classes",
)


class TenantContextMixin:
    """Resolve the tenant once per request, after authentication, and render datetimes in its timezone.

    Naive datetimes in bodies are read in the tenant's timezone too (SPEC §4, §7). The timezone is
    deactivated again in `finalize_response`, so nothing leaks into the next request on this thread.
    """

    # APIView's DRF Request; Any, as Django's View (a later base) declares an HttpRequest.
    request: Any

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.tenant = request.user.tenant
        timezone.activate(self.tenant.tzinfo)

    def validated_input(self, serializer_class, **kwargs) -> dict:
        """Validate the request body with an input serializer (tenant-scoped related fields need the request)."""
        serializer = serializer_class(data=self.request.data, context={"request": self.request, "view": self}, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def finalize_response(self, request, response, *args, **kwargs):
        try:
            return super().finalize_response(request, response, *args, **kwargs)
        finally:
            timezone.deactivate()


class TenantAPIView(TenantContextMixin, APIView):
    """Base of the tenant's non-collection endpoints (`/api/tenant`, `/api/auth/me`)."""

    permission_classes = [IsAuthenticated, ActionRolePermission]


class TenantScopedViewSet(TenantContextMixin, GenericViewSet):
    not_found_error = "not_found"
    permission_classes = [IsAuthenticated, ActionRolePermission]
    action_roles: dict = {}
    # A list whose role rule is its parent's (e.g. "lead": every task of a lead the caller may see, SPEC §15).
    visible_through: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in _PROTECTED:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} may not override {name}; narrow with scope_queryset(), action_roles.")

    def scope_queryset(self, queryset):
        """Hook for select_related, annotations and extra narrowing. Never widens."""
        return queryset

    def get_queryset(self):
        """The tenant's rows; lists narrowed by the role rule, details annotated with it (403 rather than 404)."""
        user = self.request.user
        queryset = self.queryset.all()
        if not isinstance(queryset, TenantQuerySet):
            # The user model: tenant-scoped, no role rule (every role lists its colleagues, SPEC §1).
            return self.scope_queryset(scoped(queryset, self.tenant))
        if self.action != "list":
            queryset = queryset.for_tenant(self.tenant).with_visibility(user)
        elif self.visible_through:
            queryset = queryset.visible_through(user, self.visible_through)
        else:
            queryset = queryset.visible_to(user)
        return self.scope_queryset(queryset)

    def filter_queryset(self, queryset):
        """Query filters narrow lists only: `?status=` never turns a detail lookup into a 404, and the filterset is
        not built for every detail, write and action request (a millisecond of a stage move)."""
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    def get_object(self):
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        value = self.kwargs[lookup_url_kwarg]
        queryset = self.filter_queryset(self.get_queryset())
        meta = queryset.model._meta
        field = meta.pk if self.lookup_field == "pk" else meta.get_field(self.lookup_field)
        try:
            value = field.to_python(value)
        except DjangoValidationError as exc:
            raise Http404 from exc
        if isinstance(value, int) and not 0 < value <= MAX_BIGINT:
            raise Http404
        obj = queryset.filter(**{self.lookup_field: value}).first()
        if obj is None:
            raise Http404
        if not may_touch(self.request.user, obj):
            raise PermissionDenied("This object belongs to a colleague.")
        self.check_object_permissions(self.request, obj)
        return obj
