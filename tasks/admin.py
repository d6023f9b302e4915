"""Back-office for lead tasks: a filtered changelist and a read-only inline for the lead page.

Writes go through `tasks.services` (history and `lead_updated` like the API), so the inline only shows tasks
and links to each task's own page and to a new task of the lead (its add page with the lead chosen).
"""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone

from crm.admin_base import TenantRelatedFieldListFilter, TenantScopedAdmin, TenantScopedReadOnlyInline
from crm.admin_versions import VersionedAdminMixin
from crm.tenancy import sees_whole_tenant
from pipelines.models import Lead
from tasks import services
from tasks.models import DueBucket, LeadTask
from tasks.selectors import due_bucket_q


class DueBucketFilter(admin.SimpleListFilter):
    """today / overdue / week on the tenant's wall clock (a superuser without a tenant: the server's)."""

    title = "срок"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return DueBucket.choices

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() not in DueBucket.values:
            raise IncorrectLookupParameters(f"Нет такого срока: {self.value()}.")
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
                request, lambda: services.task_update(task=obj, user=user, expected=expected, **changed)
            )
            return
        created = self.save_with_service(
            request, lambda: services.task_create(lead=form.cleaned_data["lead"], user=user, **data)
        )
        obj.pk = created.pk


class LeadTaskInline(TenantScopedReadOnlyInline):
    """The lead page's tasks; each row links to the task's page, where changes go through services."""

    model = LeadTask
    fk_name = "lead"
    fields = ["type", "status", "due_at", "note", "assigned_to", "completed_at"]
    show_change_link = True
    template = "admin/tasks/leadtask/lead_inline.html"  # the table and a link to add a task to this lead

    def get_queryset(self, request):
        # Every task of a lead the user may see (SPEC §15): a manager sees a colleague's task on their lead too.
        if sees_whole_tenant(request.user):
            tasks = super().get_queryset(request)
        else:
            tasks = LeadTask.objects.visible_through(request.user, "lead")
        return tasks.select_related("assigned_to")


# The lead page lists its tasks. The pipelines app knows nothing of tasks (its lead table gets the task columns the
# same way, from tasks/apps.py), so the inline joins the lead admin, registered earlier in INSTALLED_APPS, from here.
lead_admin = admin.site.get_model_admin(Lead)
# django-stubs makes `inlines` a class variable; Django reads it from the instance, and only this one changes.
lead_admin.inlines = [LeadTaskInline, *lead_admin.inlines]  # type: ignore[misc]
