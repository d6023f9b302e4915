"""The tenant-owned model base: every business table has a `tenant` and is read through this queryset.

`for_tenant(tenant)` is the isolation filter; `visible_to(user)` adds the role rule a model declares in
`visibility_q(user)` (managers see only what is theirs). The API base viewset and the admin base are the only
callers that apply them for a request, so no view types a tenant filter by hand.
"""

from django.db import models
from django.db.models import BooleanField, ExpressionWrapper, Q


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        tenant_id = getattr(tenant, "pk", tenant)
        if tenant_id is None:
            # Fail closed: a user without a tenant (a platform superuser) reads nothing through the API.
            return self.none()
        return self.filter(tenant_id=tenant_id)

    def visible_to(self, user):
        """Rows of the user's tenant that the user's role may see."""
        qs = self.for_tenant(user.tenant_id)
        if user.is_supervisor:
            return qs
        return qs.filter(self.model.visibility_q(user))

    def with_visibility(self, user):
        """Annotate `is_visible_to_user`, so a detail view can answer 403 (not 404) in one query."""
        if user.is_supervisor:
            return self.annotate(is_visible_to_user=models.Value(True, output_field=BooleanField()))
        return self.annotate(
            is_visible_to_user=ExpressionWrapper(self.model.visibility_q(user), output_field=BooleanField())
        )


class TenantModel(models.Model):
    """Abstract base of every tenant-owned model."""

    tenant = models.ForeignKey("crm.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def visibility_q(cls, user) -> Q:
        """What a non-supervisor may see, as a filter. Default: the whole tenant."""
        return Q()
