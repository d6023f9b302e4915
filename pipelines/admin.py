"""Back-office for pipelines (stages inline, in board order), leads (read-only history inline) and loss reasons.

Tenant staff see only their tenant's rows (crm.admin_base.TenantScopedAdmin); every write goes through the services,
so the admin records history and emits events exactly like the API.
"""

from django import forms
from django.contrib import admin
from django.forms.models import ModelChoiceIterator
from django.utils.translation import gettext_lazy as _

from crm.admin_base import (
    TenantRelatedFieldListFilter,
    TenantScopedAdmin,
    TenantScopedInline,
    TenantScopedReadOnlyInline,
    acting_user,
)
from crm.admin_versions import VersionedAdminMixin
from crm.charts import money
from crm.tenancy import is_tenant_staff, sees_whole_tenant
from crm.versions import ANY
from pipelines import services
from pipelines.admin_bulk import LeadBulkActionsMixin
from pipelines.filtersets import search_q
from pipelines.models import Lead, LeadHistory, LossReason, Pipeline, Stage

LEAD_FORM_FIELDS = ("name", "phone", "email", "comment", "assigned_to", "price")


def _record_formset_changes(formset, new=(), changed=(), deleted=()) -> None:
    """What the admin's change message reads from a formset that a service, not `formset.save()`, wrote."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = list(new), list(changed), list(deleted)


class StageChoiceIterator(ModelChoiceIterator):
    """A lead's stage select: each pipeline's stages under its name (an <optgroup>), the default pipeline first."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        groups: dict[int, tuple[str, list]] = {}
        for stage in self.queryset:
            groups.setdefault(stage.pipeline_id, (stage.pipeline.name, []))[1].append(self.choice(stage))
        yield from groups.values()


class StageInlineForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        # A won or lost stage is closed: the box left as it was follows the outcome; unticking it is refused.
        if data.get("outcome") and not data.get("is_closed") and "is_closed" not in self.changed_data:
            data["is_closed"] = True
        return data


class StageInline(TenantScopedInline):
    model = Stage
    form = StageInlineForm
    fields = ["name", "order_index", "color", "is_closed", "outcome"]
    ordering = ["order_index", "id"]


def _new_row_tenant(request, form):
    """The tenant a row added in the admin belongs to: the one a superuser picks, else the user's own."""
    return form.cleaned_data.get("tenant") if request.user.is_superuser else request.user.tenant


@admin.register(Pipeline)
class PipelineAdmin(TenantScopedAdmin):
    list_display = ["id", "name", "is_default", "tenant", "created_at"]
    list_select_related = ["tenant"]
    search_fields = ["name"]
    ordering = ["tenant", "-is_default", "id"]
    inlines = [StageInline]

    def save_model(self, request, obj, form, change):
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in ("name", "is_default")}
            self.save_with_service(request, lambda: services.pipeline_update(pipeline=obj, **fields))
            return
        tenant = _new_row_tenant(request, form)
        created = self.save_with_service(
            request,
            lambda: services.pipeline_create(
                tenant=tenant, name=form.cleaned_data["name"], is_default=form.cleaned_data["is_default"]
            ),
        )
        obj.pk = created.pk

    def save_formset(self, request, form, formset, change):
        # Like Django's formset.save(): rows are created from the extra forms only and changed from the initial
        # forms only, whose ids the formset resolved inside this pipeline (crm.admin_base.TenantScopedInlineFormSet).
        pipeline = form.instance
        new, changed, deleted = [], [], []
        for inline_form in formset.deleted_forms:
            stage = inline_form.instance
            if stage.pk is not None and self.save_with_service(
                request, lambda s=stage: services.stage_delete(stage=s) or s
            ):
                deleted.append(stage)
        for inline_form in formset.initial_forms:
            stage = inline_form.instance
            if stage.pk is None or not inline_form.has_changed() or inline_form in formset.deleted_forms:
                continue
            fields = {name: inline_form.cleaned_data.get(name) for name in inline_form.changed_data}
            fields = {name: value for name, value in fields.items() if name in StageInline.fields}
            if self.save_with_service(request, lambda s=stage, f=fields: services.stage_update(stage=s, **f)):
                changed.append((stage, list(fields)))
        for inline_form in formset.extra_forms:
            if not inline_form.has_changed() or inline_form in formset.deleted_forms or pipeline.pk is None:
                continue
            data = {name: inline_form.cleaned_data.get(name) for name in StageInline.fields}
            stage = self.save_with_service(request, lambda d=data: services.stage_create(pipeline=pipeline, **d))
            new += [stage] if stage else []
        _record_formset_changes(formset, new, changed, deleted)


@admin.register(LossReason)
class LossReasonAdmin(TenantScopedAdmin):
    """The tenant's loss reasons (SPEC §12): listed, added and renamed or deactivated, never deleted (leads keep
    theirs; deactivate instead)."""

    list_display = ["id", "name", "is_active", "tenant", "created_at"]
    list_select_related = ["tenant"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    ordering = ["tenant", "id"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in ("name", "is_active")}
            self.save_with_service(request, lambda: services.loss_reason_update(reason=obj, **fields))
            return
        tenant = _new_row_tenant(request, form)
        created = self.save_with_service(
            request,
            lambda: services.loss_reason_create(
                tenant=tenant, name=form.cleaned_data["name"], is_active=form.cleaned_data["is_active"]
            ),
        )
        obj.pk = created.pk


class LeadHistoryInline(TenantScopedReadOnlyInline):
    model = LeadHistory
    fields = ["created_at", "kind", "from_stage", "to_stage", "user", "text"]
    ordering = ["-created_at", "-id"]


@admin.register(Lead)
class LeadAdmin(VersionedAdminMixin, LeadBulkActionsMixin, TenantScopedAdmin):
    list_display = [
        "id",
        "name",
        "phone",
        "email",
        "source",
        "pipeline",
        "stage",
        "assigned_to",
        "budget",
        "created_at",
    ]
    list_select_related = ["pipeline", "stage", "assigned_to"]
    list_filter = [
        ("pipeline", TenantRelatedFieldListFilter),
        ("stage", TenantRelatedFieldListFilter),
        "source",
        ("assigned_to", TenantRelatedFieldListFilter),
    ]
    search_fields = ["name", "phone", "email"]  # shows the search box; get_search_results applies the rule
    show_full_result_count = False  # «N всего» would count every lead of the tenant on each search
    ordering = ["-created_at", "-id"]
    fields = [
        "name",
        "phone",
        "email",
        "source",
        "stage",
        "loss_reason",
        "assigned_to",
        "price",
        "comment",
        "external_id",
        "moved_to_stage_at",
        "source_payload",
        "created_at",
        "updated_at",
    ]
    inlines = [LeadHistoryInline]
    # A manager works their own leads (the list, the card, a new lead is theirs); assigning is a supervisor's job.
    manager_permissions = frozenset({"view", "add", "change"})
    actions = [*LeadBulkActionsMixin.actions, "convert_to_deals"]

    def get_search_results(self, request, queryset, search_term):
        # The API's and the board's search rule (the whole term; a phone as typed or as stored), one place for all.
        if not search_term.strip():
            return queryset, False
        return queryset.filter(search_q(search_term, tenant_id=request.user.tenant_id)), False

    @admin.action(description=_("Создать сделку"), permissions=["change"])
    def convert_to_deals(self, request, queryset):
        """Each selected lead becomes a v1 client and deal (SPEC §12), through the API's service and its rules."""
        self.run_per_row(
            request,
            queryset,
            lambda lead: services.lead_convert(lead=lead, acting_user=request.user),
            _("Создана сделка"),
        )

    def has_delete_permission(self, request, obj=None):
        # Erasure (SPEC §12) is a supervisor's act, as in the API: tenant staff and superusers, never a manager.
        return request.user.is_superuser or is_tenant_staff(request.user)

    def get_deleted_objects(self, objs, request):
        # The lead's tasks, history and delivery ids go with it by design (lead_erase): deleting the lead needs no
        # permission on them.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj):
        services.lead_erase(lead=obj, acting_user=acting_user(request))

    def delete_queryset(self, request, queryset):
        # "Delete selected": the same erasure per lead (its events, its contact's lock), not one bulk DELETE.
        for lead in queryset:
            services.lead_erase(lead=lead, acting_user=acting_user(request))

    @admin.display(description=_("Бюджет"), ordering="price")
    def budget(self, lead):
        return money(lead.price) if lead.price is not None else "—"

    def get_fields(self, request, obj=None):
        # A new lead starts open; its loss reason is named when it is moved into a lost stage.
        fields = super().get_fields(request, obj)
        return fields if obj is not None else [name for name in fields if name != "loss_reason"]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["external_id", "moved_to_stage_at", "source_payload", "created_at", "updated_at"]
        readonly += ["source"] if obj is not None else []
        return readonly if sees_whole_tenant(request.user) else [*readonly, "assigned_to"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "loss_reason" and field is not None:
            field.help_text = _("Только на стадии с исходом «Отказ».")
        if db_field.name == "stage" and field is not None:
            field.iterator = StageChoiceIterator  # before the queryset, which hands the choices to the widget
            order = ["-pipeline__is_default", "pipeline__name", "pipeline_id", "order_index", "id"]
            field.queryset = field.queryset.select_related("pipeline").order_by(*order)
        return field

    def get_changeform_initial_data(self, request):
        """A new lead starts in the default pipeline's first open stage, as the API puts it."""
        initial = super().get_changeform_initial_data(request)
        if "stage" not in initial and request.user.tenant_id:
            stages = Stage.objects.for_tenant(request.user.tenant_id).filter(pipeline__is_default=True, is_closed=False)
            first = stages.order_by("order_index", "id").first()
            if first is not None:
                initial["stage"] = first.pk
        return initial

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            tenant = request.user.tenant if not request.user.is_superuser else data["stage"].tenant
            created = self.save_with_service(
                request,
                lambda: services.lead_create(
                    tenant=tenant,
                    acting_user=acting_user(request),
                    stage=data["stage"],
                    source=data["source"],
                    **{name: data.get(name) for name in LEAD_FORM_FIELDS},
                ),
            )
            obj.pk = created.pk
            return
        fields = {name: data[name] for name in form.changed_data if name in LEAD_FORM_FIELDS}
        # The version the form was opened with is checked once, by the first service call (SPEC §11); the page's
        # transaction then holds the lead's row, so the stage move that may follow needs no second check.
        expected = self.expected(form)
        if fields:
            self.save_with_service(
                request,
                lambda: services.lead_update(lead=obj, acting_user=acting_user(request), expected=expected, **fields),
            )
            expected = ANY
        if "stage" in form.changed_data or "loss_reason" in form.changed_data:
            # A reason left as it was goes only with a lost stage: moving a lost lead back to work clears it.
            reason = data.get("loss_reason") if "loss_reason" in form.changed_data or data["stage"].is_lost else None
            self.save_with_service(
                request,
                lambda: services.lead_move_to_stage(
                    lead=obj,
                    stage=data["stage"],
                    loss_reason=reason,
                    acting_user=acting_user(request),
                    expected=expected,
                ),
            )

    def save_related(self, request, form, formsets, change):
        # The lead was saved by a service and its history inline is read-only; rows other apps add to the page (the
        # tasks inline) save themselves through their own services.
        for formset in formsets:
            if formset.model is LeadHistory:
                _record_formset_changes(formset)
            else:
                formset.save()
