"""The back-office base: every model admin, inline and changelist reads tenant data through here.

`TenantScopedAdminMixin` gives tenant staff (owners and ROPs) only their tenant's rows, everywhere the admin reads:
the admin's own queryset (changelist, change, history, delete, actions, autocomplete), every related field's
choices (`get_field_queryset`), the raw-id label beside an id, initial values from the add page's query string and
the ids an inline formset resolves. A foreign id is simply not found. Superusers see everything.
`SuperuserOnlyAdminMixin` keeps internal tables (idempotency replays, auth groups) away from tenant staff.
Both use `StrictChangeList`: a query parameter that is not a filter of the page is a 400, never ignored.
"""

from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.filters import FieldListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import BadRequest, ValidationError
from django.forms import ModelChoiceField
from django.forms.models import BaseInlineFormSet
from django.template.response import SimpleTemplateResponse, TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from crm.admin_refusals import RefusalAwareAdminMixin
from crm.models import Tenant, User
from crm.tenancy import is_backoffice_manager, is_tenant_staff, scoped, sees_whole_tenant


def tenant_rows(queryset, user):
    """The rows of `queryset` an admin user may see: their tenant's (or their tenant itself); a superuser's all.

    A manager sees of a model with a role rule (`visibility_q`) only what the API shows them (crm.tenancy).
    """
    if user.is_superuser:
        return queryset
    if queryset.model is Tenant:
        return queryset.filter(pk=user.tenant_id) if user.tenant_id else queryset.none()
    if any(field.name == "tenant" for field in queryset.model._meta.concrete_fields):
        rows = scoped(queryset, user.tenant_id)
        if not sees_whole_tenant(user) and hasattr(queryset.model, "visibility_q"):
            rows = rows.filter(queryset.model.visibility_q(user))
        return rows
    # Fail closed: a table without a tenant is nothing tenant staff may read.
    return queryset.none()


def acting_user(request) -> User | None:
    """The tenant user behind a back-office write; a platform superuser acts like a system process.

    For None the services skip their role checks.
    """
    return request.user if request.user.tenant_id else None


# ---------------------------------------------------------------- changelists


def _applied_when_used(spec):
    # Django drops a filter with nothing to show (a single stage, say) together with its query parameter, so the
    # list (and its export) silently showed everything; a filter given a value applies it, and shows that it does.
    if spec is not None and spec.used_parameters and not spec.has_output():
        spec.has_output = lambda: True
    return spec


def _strict(list_filter):
    if callable(list_filter):
        return lambda *args: _applied_when_used(list_filter(*args))
    field, filter_class = (
        list_filter if isinstance(list_filter, list | tuple) else (list_filter, FieldListFilter.create)
    )
    return (field, lambda *args, **kwargs: _applied_when_used(filter_class(*args, **kwargs)))


class TenantRelatedFieldListFilter(admin.RelatedOnlyFieldListFilter):
    """A related-object filter offering the staff user's tenant's objects, read from their own small table.

    Django's RelatedOnlyFieldListFilter finds them with a DISTINCT over the listed rows: a scan of every lead of the
    tenant on each page load (~100 ms per filter at 100,000 leads). A platform superuser, and a manager (whose own
    rows are few, and who is not shown colleagues' names), keep Django's way.
    """

    def field_choices(self, field, request, model_admin):
        if not request.user.tenant_id or not sees_whole_tenant(request.user):
            return super().field_choices(field, request, model_admin)
        related = scoped(field.related_model._default_manager.all(), request.user.tenant_id)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return [(obj.pk, str(obj)) for obj in related.order_by(*ordering or ["pk"])]


class UnknownFilter(IncorrectLookupParameters):
    pass


class StrictChangeList(ChangeList):
    """Applies every declared list filter named in the query string; any other parameter is refused.

    Django applies any field lookup it is given (`?tenant__id__exact=…`, `?lead__name__icontains=…`), whether or
    not the page offers that filter: only the filters the page shows (and the admin's own `q`, `o`, `p`, …) are
    accepted here.
    """

    def __init__(self, request, model, list_display, list_display_links, list_filter, *args, **kwargs):
        strict = [_strict(item) for item in list_filter]
        super().__init__(request, model, list_display, list_display_links, strict, *args, **kwargs)

    def get_filters(self, request):
        specs, has_filters, remaining, may_have_duplicates, has_active_filters = super().get_filters(request)
        hierarchy = {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"} if self.date_hierarchy else set()
        unknown = sorted(set(remaining) - hierarchy)
        if unknown:
            raise UnknownFilter(_("Нет такого фильтра: %(names)s.") % {"names": ", ".join(unknown)})
        return specs, has_filters, remaining, may_have_duplicates, has_active_filters


def in_tenant_timezone(request, view, *args, **kwargs):
    """Run an admin view and render its page in the staff user's tenant timezone (SPEC §15), like the API.

    Forms read naive dates and times in it, and the page is rendered inside it (a TemplateResponse would otherwise
    render after the override ended). A platform superuser without a tenant keeps the server's timezone.
    """
    if not request.user.tenant_id:
        return view(*args, **kwargs)
    with timezone.override(request.user.tenant.tzinfo):
        response = view(*args, **kwargs)
        if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
            response.render()
    return response


class BackofficeViewsMixin(RefusalAwareAdminMixin):
    """The model admin pages with dates: each runs in the tenant's timezone; a service's refusal of a save comes
    back as form errors (crm.admin_refusals)."""

    def changeform_view(self, request, *args, **kwargs):
        view = super().changeform_view
        return self.refusal_aware_changeform(
            request, lambda: in_tenant_timezone(request, view, request, *args, **kwargs)
        )

    def history_view(self, request, *args, **kwargs):
        return in_tenant_timezone(request, super().history_view, request, *args, **kwargs)

    def delete_view(self, request, *args, **kwargs):
        return in_tenant_timezone(request, super().delete_view, request, *args, **kwargs)


class StrictChangeListMixin(BackofficeViewsMixin):
    def get_changelist(self, request, **kwargs):
        return StrictChangeList

    def get_changelist_instance(self, request):
        """The changelist (also behind the exports); a bad filter is a 400 here, not the admin's `?e=1` redirect."""
        try:
            return super().get_changelist_instance(request)
        except UnknownFilter as exc:
            raise BadRequest(str(exc)) from exc
        except DisallowedModelAdminLookup as exc:
            # Django's own refusal of a lookup across relations: "Filtering by <name> not allowed".
            name = str(exc).removeprefix("Filtering by ").split()[0]
            raise BadRequest(_("Нет такого фильтра: %(names)s.") % {"names": name}) from exc
        except IncorrectLookupParameters as exc:
            # A declared filter given a value it cannot use (not a number, not a date, an unknown bucket).
            raise BadRequest(_("Неверное значение фильтра.")) from exc

    def changelist_view(self, request, extra_context=None):
        try:
            return in_tenant_timezone(request, super().changelist_view, request, extra_context)
        except BadRequest as exc:
            context = {**self.admin_site.each_context(request), "title": _("Неверный фильтр"), "message": str(exc)}
            context["changelist_url"] = request.path
            return TemplateResponse(request, "admin/bad_filter.html", context, status=400)


# ---------------------------------------------------------------- related fields and inlines


class TenantScopedRawIdWidget(ForeignKeyRawIdWidget):
    """The label beside a raw id comes from the field's own (tenant-scoped) choices: a foreign id shows nothing.

    Django's widget looks the id up through the related model's unscoped default manager, so any tenant's lead
    name or client name could be read by typing sequential ids into `…/add/?lead=N`.
    """

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            obj = self.choices.queryset.using(self.db).get(**{key: value})
        except (ValueError, TypeError, ValidationError, self.rel.model.DoesNotExist):
            return "", ""
        try:
            url = reverse(f"{self.admin_site.name}:{obj._meta.app_label}_{obj._meta.model_name}_change", args=(obj.pk,))
        except NoReverseMatch:
            url = ""
        return Truncator(obj).words(14), url


class TenantScopedInlineFormSet(BaseInlineFormSet):
    """A posted row id must name a row of this formset's own queryset (the parent's rows in the tenant).

    Django resolves the hidden id field through the model's unscoped default manager: a forged or foreign id
    validated and turned the row into a new one. Here it is "not a valid choice", and an initial row needs its id.
    """

    def add_fields(self, form, index):
        super().add_fields(form, index)
        pk_field = form.fields.get(self._pk_field.name)
        if isinstance(pk_field, ModelChoiceField):
            pk_field.queryset = self.get_queryset()
            pk_field.required = index is not None and index < self.initial_form_count()


class TenantScopedAdminMixin(StrictChangeListMixin):
    """Limits an admin (or inline) to the staff user's tenant; superusers bypass it.

    Tenant staff (owners, ROPs) may view, add and change; a manager only what `manager_permissions` names, on
    their own rows (`tenant_rows`): everything else answers 403, like the API's role checks.
    """

    manager_permissions: frozenset[str] = frozenset()

    def get_queryset(self, request):
        return tenant_rows(super().get_queryset(request), request.user)

    def get_field_queryset(self, db, db_field, request):
        # Every related field's choices (select, raw id, autocomplete, filters' choices) start from here.
        queryset = super().get_field_queryset(db, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.using(db).all()
        return tenant_rows(queryset, request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.raw_id_fields:
            kwargs["widget"] = TenantScopedRawIdWidget(
                db_field.remote_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        """The add page's `?lead=…` initial values: a related id the user may not see is dropped, not shown."""
        initial = super().get_changeform_initial_data(request)
        for name, value in list(initial.items()):
            field = next((f for f in self.opts.concrete_fields if f.name == name and f.is_relation), None)
            field = field or next((f for f in self.opts.many_to_many if f.name == name), None)
            if field is not None and not self._resolves(request, field, value):
                del initial[name]
        return initial

    def _resolves(self, request, field, value) -> bool:
        values = set(value) if isinstance(value, list) else {value}
        key = field.remote_field.get_related_field().name
        try:
            found = self.get_field_queryset(None, field, request).filter(**{f"{key}__in": values}).count()
        except (ValueError, TypeError, ValidationError):
            return False
        return found == len(values)

    def role_may(self, request, permission: str) -> bool:
        user = request.user
        if user.is_superuser or is_tenant_staff(user):
            return True
        return permission in self.manager_permissions and is_backoffice_manager(user)

    def has_module_permission(self, request):
        return self.role_may(request, "view")

    def has_view_permission(self, request, obj=None):
        return self.role_may(request, "view")

    def has_change_permission(self, request, obj=None):
        return self.role_may(request, "change")

    def has_add_permission(self, request, obj=None):
        return self.role_may(request, "add")

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_with_service(self, request, action):
        """Run a service call from a save; a refusal (ApplicationError) escapes to `changeform_view`, which rolls
        the save back and shows the form again with the refusal as its errors (crm.admin_refusals)."""
        return action()


class TenantScopedInline(TenantScopedAdminMixin, admin.TabularInline):
    formset = TenantScopedInlineFormSet
    extra = 0


class TenantScopedReadOnlyInline(TenantScopedInline):
    """Rows shown on their parent's page, never edited there: changes go through the services elsewhere."""

    can_delete = False
    # Whoever may open the parent page sees its rows (a manager: of their own lead or deal).
    manager_permissions = frozenset({"view"})

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TenantScopedAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        if not change and not request.user.is_superuser and hasattr(obj, "tenant_id"):
            obj.tenant_id = request.user.tenant_id
        super().save_model(request, obj, form, change)

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser:
            excluded.append("tenant")
        return excluded


class SuperuserOnlyAdminMixin(StrictChangeListMixin):
    """Internal tables: platform superusers only; tenant staff get 403 on every page (list, change, history…)."""

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
