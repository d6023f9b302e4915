"""`TenantScopedViewSet`: the only place where API reads are limited to the caller's tenant and role.

Security rules (modelled on PostHog's TeamAndOrgViewSetMixin):
- subclasses may not override `get_queryset`, `get_object` or `initial`; they narrow with `scope_queryset(qs)`;
- every action sees only the caller's tenant, so another tenant's id is a 404 (its existence is not revealed);
- the role rule (`Model.visibility_q(user)`) filters lists; detail actions load the row within the tenant and
  answer 403 when the role may not touch it (SPEC §1: 404 across tenants, 403 inside one).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import BooleanField, ExpressionWrapper
from django.db.models import Value as V
from django.http import Http404
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from crm.api.permissions import ActionRolePermission

_PROTECTED = ("get_queryset", "get_object", "initial")
_MAX_BIGINT = 2**63 - 1


class TenantContextMixin:
    """Resolve the tenant once per request, after authentication, and render datetimes in its timezone.

    Naive datetimes in bodies are read in the tenant's timezone too (SPEC §4, §7). The timezone is
    deactivated again in `finalize_response`, so nothing leaks into the next request on this thread.
    """

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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in _PROTECTED:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} may not override {name}(); use scope_queryset() instead.")

    def scope_queryset(self, queryset):
        """Hook for select_related, annotations and extra narrowing. Never widens."""
        return queryset

    def get_queryset(self):
        user = self.request.user
        queryset = self.scope_queryset(self.queryset.all().filter(tenant_id=user.tenant_id))
        visibility_q = getattr(queryset.model, "visibility_q", None)
        if visibility_q is None or user.is_supervisor:
            return queryset if self.action == "list" else queryset.annotate(is_visible_to_user=V(True))
        if self.action == "list":
            return queryset.filter(visibility_q(user))
        return queryset.annotate(is_visible_to_user=ExpressionWrapper(visibility_q(user), output_field=BooleanField()))

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
        if isinstance(value, int) and not 0 < value <= _MAX_BIGINT:
            raise Http404
        obj = queryset.filter(**{self.lookup_field: value}).first()
        if obj is None:
            raise Http404
        if not getattr(obj, "is_visible_to_user", True):
            raise PermissionDenied("This object belongs to a colleague.")
        self.check_object_permissions(self.request, obj)
        return obj
