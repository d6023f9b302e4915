"""The one tenancy layer: every read of tenant data is scoped here, and every role check derives from here.

- `Model.objects.for_tenant(tenant)` is the isolation filter; a tenantless user (a platform superuser) reads nothing.
- `Model.objects.visible_to(user)` adds the role rule the model declares in `visibility_q(user)` (managers see only
  what is theirs); `with_visibility(user)` annotates it instead, so a detail read can tell 403 from 404 in one query.
- `may_touch(user, obj)` / `check_may_touch(...)` answer "may this user act on this object" from the same
  `visibility_q`, never from a copied rule.
- `unscoped()` is the explicit, greppable escape for the few reads that have no tenant to scope by (commands,
  webhooks resolved by their key, superuser paths); `crm/tests/test_tenancy_layer.py` counts its callers.
- `tenant_users(tenant)`, `is_tenant_staff(user)` and `may_enter_backoffice(user)`: the user model has a nullable
  tenant and no TenantQuerySet, so its tenant scope and the back-office entry rules live here too.

Runtime fail-closed managers (querysets that refuse to evaluate unless scoped) were left out on purpose: Django's
related managers, prefetch, `validate_unique`, the admin and the test factories all read through the default manager
unscoped. The static scan in `crm/tests/test_tenancy_layer.py` closes the gap instead.
"""

from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils.translation import gettext as _

from crm.errors import Forbidden


def tenant_pk(tenant) -> int | None:
    """The tenant's id from a Tenant, an id or None: the one source of a tenant parameter for raw SQL too."""
    return getattr(tenant, "pk", tenant)


def sees_whole_tenant(user) -> bool:
    """Supervisors (owner, rop, admin) act on their whole tenant; managers only on what is theirs.

    Platform superusers act through the admin on any tenant they pick; having no tenant, they still read nothing
    through `for_tenant`/`visible_to`.
    """
    return bool(user.is_superuser or user.is_supervisor)


def is_tenant_staff(user) -> bool:
    """A tenant's back-office user: active, `is_staff` and a staff role (owner, rop) of a tenant."""
    from crm.models import STAFF_ROLES

    return bool(user.is_active and user.is_staff and user.tenant_id and user.role in STAFF_ROLES)


def is_backoffice_manager(user) -> bool:
    """A tenant's manager: not Django staff, yet works their own leads, tasks and deals in the back-office."""
    from crm.models import Role

    return bool(user.is_active and user.tenant_id and not user.is_superuser and user.role == Role.MANAGER)


def may_enter_backoffice(user) -> bool:
    """Who the back-office (admin site, board stream) lets in: staff and managers; each page decides the rest."""
    return bool(user.is_active and (user.is_staff or is_backoffice_manager(user)))


def scoped(queryset: models.QuerySet, tenant) -> models.QuerySet:
    """One tenant's rows of any queryset with a `tenant` (the user model too); none for no tenant."""
    tenant_id = tenant_pk(tenant)
    return queryset.none() if tenant_id is None else queryset.filter(tenant_id=tenant_id)


def tenant_users(tenant) -> models.QuerySet:
    """The users of one tenant (none for no tenant)."""
    return scoped(get_user_model()._default_manager.all(), tenant)


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        # Fail closed: a user without a tenant (a platform superuser) reads nothing through the tenant scope.
        return scoped(self, tenant)

    def visible_to(self, user):
        """Rows of the user's tenant that the user's role may see."""
        qs = self.for_tenant(user.tenant_id)
        if sees_whole_tenant(user):
            return qs
        return qs.filter(self.model.visibility_q(user))

    def visible_through(self, user, relation: str):
        """Rows of the user's tenant whose `relation` (a foreign key) the user may see, e.g. every task of a
        lead the user may see (SPEC §15); the related model's `visibility_q` is the rule."""
        qs = self.for_tenant(user.tenant_id)
        if sees_whole_tenant(user):
            return qs
        # A TenantModel (its manager has visible_to), which the field's declared type cannot say.
        related: Any = self.model._meta.get_field(relation).related_model
        return qs.filter(**{f"{relation}__in": related._default_manager.visible_to(user).values("pk")})

    def with_visibility(self, user):
        """Annotate `is_visible_to_user` (the role rule), so a detail read can answer 403 (not 404) in one query."""
        if sees_whole_tenant(user):
            visible = models.Value(True, output_field=BooleanField())
        else:
            visible = ExpressionWrapper(self.model.visibility_q(user), output_field=BooleanField())
        return self.annotate(is_visible_to_user=visible)

    def unscoped(self):
        """Every tenant's rows. Only for reads with no tenant to scope by; each caller is on the allow-list."""
        return self.all()


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


def _field_value(obj, name: str, value):
    """The stored value of `obj.name` and the value to compare it with, for a plain field or a foreign key."""
    field = obj._meta.get_field(name)
    if field.is_relation and field.many_to_one:
        target = field.target_field.attname
        return getattr(obj, field.attname), getattr(value, target, value)
    return getattr(obj, field.attname), value


def _q_matches(q: Q, obj) -> bool | None:
    """Evaluate a Q of plain `field=value` terms on a loaded row; None when it needs the database (joins, lookups)."""
    results = []
    for child in q.children:
        if isinstance(child, Q):
            result = _q_matches(child, obj)
        else:
            name, value = cast(tuple[str, Any], child)  # a leaf of a Q is a (name, value) pair
            if "__" in name or hasattr(value, "resolve_expression"):
                return None
            try:
                stored, wanted = _field_value(obj, name, value)
            except FieldDoesNotExist:  # a name that is not a field (an annotation): let the database answer
                return None
            result = stored == wanted
        if result is None:
            return None
        results.append(result)
    # An empty Q matches everything, like the database's WHERE without terms.
    answer = (any(results) if q.connector == Q.OR else all(results)) if results else True
    return not answer if q.negated else answer


def may_touch(user, obj) -> bool:
    """May `user` act on `obj`: same tenant and inside the model's `visibility_q(user)`.

    `user=None` is a system caller (command, webhook, demo data) acting inside the tenant it was given; a platform
    superuser acts through the admin on any tenant. Reads the `is_visible_to_user` annotation when the row was
    loaded `with_visibility(user)`, evaluates plain terms on the row, and asks the database only for joins.
    """
    if user is None or user.is_superuser:
        return True
    if obj.tenant_id is None or obj.tenant_id != user.tenant_id:
        return False
    visibility_q = getattr(type(obj), "visibility_q", None)
    if sees_whole_tenant(user) or visibility_q is None:
        return True
    annotated = getattr(obj, "is_visible_to_user", None)
    if annotated is not None:
        return bool(annotated)
    answer = _q_matches(visibility_q(user), obj)
    if answer is None:
        answer = type(obj)._default_manager.visible_to(user).filter(pk=obj.pk).exists()
    return answer


def check_may_touch(user, obj, message: str | None = None) -> None:
    """403 `forbidden` unless `may_touch(user, obj)`."""
    if not may_touch(user, obj):
        raise Forbidden(message or _("This object belongs to a colleague."))
