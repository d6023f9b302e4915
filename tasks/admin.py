"""Back-office for lead tasks: a filtered changelist and an editable inline on the lead page.

Writes go through `tasks.services` (history and `lead_updated` like the API), from the task's own page and from
the lead page's inline alike; a refused row comes back with the refusal on that row and nothing saved.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.admin_base import (
    TenantRelatedFieldListFilter,
    TenantScopedAdmin,
    TenantScopedInline,
    TenantScopedInlineFormSet,
    acting_user,
)
from crm.admin_refusals import RefusalAwareInlineFormSet
from crm.admin_versions import VERSION_FIELD, VersionedAdminMixin, VersionedChangeForm
from crm.tenancy import sees_whole_tenant
from pipelines.models import Lead
from tasks import services
from tasks.models import DueBucket, LeadTask, TaskStatus
from tasks.selectors import due_bucket_q


class DueBucketFilter(admin.SimpleListFilter):
    """today / overdue / week on the tenant's wall clock (a superuser without a tenant: the server's)."""

    title = _("срок")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return DueBucket.choices

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() not in DueBucket.values:
            raise IncorrectLookupParameters(_("Нет такого срока: %(value)s.") % {"value": self.value()})
        tz = request.user.tenant.tzinfo if request.user.tenant_id else timezone.get_current_timezone()
        return queryset.filter(due_bucket_q(self.value(), tz=tz))


@admin.register(LeadTask)
class LeadTaskAdmin(VersionedAdminMixin, TenantScopedAdmin):
    list_display = ["id", "lead", "type", "status", "due_at", "assigned_to", "completed_at", "created_at"]
    list_filter = ["status", "type", ("assigned_to", TenantRelatedFieldListFilter), DueBucketFilter]
    list_select_related = ["lead", "assigned_to"]
    search_fields = ["note", "lead__name"]
    autocomplete_fields = ["lead"]  # searches the leads the user may see (the lead admin's own queryset)
    fields = ["lead", "type", "status", "due_at", "note", "assigned_to", "created_by", "completed_at", "created_at"]
    readonly_fields = ["created_by", "completed_at", "created_at"]
    # A manager works the tasks assigned to them (SPEC §15) and adds tasks for themself.
    manager_permissions = frozenset({"view", "add", "change"})

    def get_readonly_fields(self, request, obj=None):
        # A task is created open on a lead and stays on that lead.
        readonly = [*self.readonly_fields, "lead" if obj is not None else "status"]
        return readonly if sees_whole_tenant(request.user) else [*readonly, "assigned_to"]

    def get_changeform_initial_data(self, request):
        # Like the API: a new task is the author's unless someone else is named.
        initial = super().get_changeform_initial_data(request)
        if request.user.tenant_id:
            initial.setdefault("assigned_to", request.user.pk)
        return initial

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "assigned_to" and field is not None:
            field.queryset = field.queryset.filter(is_active=True)
        return field

    def save_model(self, request, obj, form, change):
        user = None if request.user.is_superuser else request.user
        data = {name: form.cleaned_data[name] for name in services.TASK_EDITABLE_FIELDS if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in data.items() if name in form.changed_data}
            expected = self.expected(form)
            self.save_with_service(
                request, lambda: services.task_update(task=obj, acting_user=user, expected=expected, **changed)
            )
            return
        created = self.save_with_service(
            request, lambda: services.task_create(lead=form.cleaned_data["lead"], acting_user=user, **data)
        )
        obj.pk = created.pk


class LeadTaskInlineForm(VersionedChangeForm, forms.ModelForm):
    """A row of the lead page's tasks; it carries the version it was opened with, like the task's own page."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields[VERSION_FIELD].disabled = True  # a new row has no version to check; it is not a change

    def clean(self):
        data = super().clean()
        # A task is created open (as in the API); it is completed or cancelled once it exists.
        if self.instance.pk is None and data.get("status", TaskStatus.OPEN) != TaskStatus.OPEN:
            self.add_error("status", _("Новая задача создаётся открытой."))
        return data


class LeadTaskInlineFormSet(RefusalAwareInlineFormSet, TenantScopedInlineFormSet):
    """Saves each added or changed row through `tasks.services`, never through the model form."""

    def save(self, commit=True):
        user = acting_user(self.request)
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.initial_forms:
            if form.instance.pk is None or not form.has_changed():
                continue
            fields = {
                name: form.cleaned_data[name] for name in form.changed_data if name in services.TASK_EDITABLE_FIELDS
            }
            if not fields:
                continue
            expected = VersionedAdminMixin.expected(form)
            task = self.save_row(
                form,
                lambda t=form.instance, f=fields, e=expected: services.task_update(
                    task=t, acting_user=user, expected=e, **f
                ),
            )
            self.changed_objects.append((task, list(fields)))
        for form in self.extra_forms:
            if not form.has_changed():
                continue
            data = {
                name: form.cleaned_data[name] for name in services.TASK_EDITABLE_FIELDS if name in form.cleaned_data
            }
            data.pop("status", None)  # open, checked by the form
            self.new_objects.append(
                self.save_row(form, lambda d=data: services.task_create(lead=self.instance, acting_user=user, **d))
            )
        return self.new_objects + [task for task, _ in self.changed_objects]


class LeadTaskInline(TenantScopedInline):
    """The lead page's tasks: added, rescheduled, reassigned and completed there, through the services."""

    model = LeadTask
    fk_name = "lead"
    form = LeadTaskInlineForm
    formset = LeadTaskInlineFormSet
    fields = ["type", "status", "due_at", "note", "assigned_to", "completed_at", VERSION_FIELD]
    readonly_fields = ["completed_at"]
    can_delete = False  # a task is cancelled, never deleted (its history stays)
    show_change_link = True
    template = "admin/tasks/leadtask/lead_inline.html"  # the table and a link to add a task to this lead
    # A manager adds tasks on their own lead and changes the tasks assigned to them (the service says which).
    manager_permissions = frozenset({"view", "add", "change"})

    def get_queryset(self, request):
        # Every task of a lead the user may see (SPEC §15): a manager sees a colleague's task on their lead too.
        if sees_whole_tenant(request.user):
            tasks = super().get_queryset(request)
        else:
            tasks = LeadTask.objects.visible_through(request.user, "lead")
        return tasks.select_related("assigned_to")

    def get_readonly_fields(self, request, obj=None):
        # A manager's new task is their own (the service's default assignee); assigning is a supervisor's job.
        readonly = list(self.readonly_fields)
        return readonly if sees_whole_tenant(request.user) else [*readonly, "assigned_to"]

    def get_formset(self, request, obj=None, **kwargs):
        # `version` is the form's own field, not the model's (crm.admin_versions); the formset saves as this user.
        fields = kwargs.pop("fields", None) or [name for name in self.fields if name != VERSION_FIELD]
        readonly = self.get_readonly_fields(request, obj)
        kwargs["fields"] = [name for name in fields if name not in readonly and name != VERSION_FIELD]
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (formset,), {"request": request})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "assigned_to" and field is not None:
            field.queryset = field.queryset.filter(is_active=True)
        return field


# The lead page lists and edits its tasks. The pipelines app knows nothing of tasks (its lead table gets the task
# columns the same way, from tasks/apps.py), so the inline joins the lead admin, registered earlier in
# INSTALLED_APPS, from here.
lead_admin = admin.site.get_model_admin(Lead)
# django-stubs makes `inlines` a class variable; Django reads it from the instance, and only this one changes.
lead_admin.inlines = [LeadTaskInline, *lead_admin.inlines]  # type: ignore[misc]
