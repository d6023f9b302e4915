"""Back-office for the brokerage: clients, and deals with their journal, calculations, policies and payments.

Every write goes through `deals.services`, like the API's: a status change in the admin obeys the state machine
and writes the journal. The inlines only show the deal's rows.
"""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.admin_base import TenantRelatedFieldListFilter, TenantScopedAdmin, TenantScopedReadOnlyInline
from crm.admin_versions import VersionedAdminMixin
from crm.charts import money
from crm.tenancy import sees_whole_tenant
from deals import admin_objects, services  # noqa: F401 (admin_objects registers the admins of a deal's objects)
from deals.admin_fields import ContactsField, TagsField
from deals.admin_workflow import DealWorkflowMixin
from deals.models import (
    DEAL_TRANSITIONS,
    Calculation,
    Client,
    Deal,
    DealStatus,
    JournalEntry,
    Payment,
    Policy,
)
from deals.services.clients import CLIENT_FIELDS
from deals.services.deals import DEAL_EDITABLE_FIELDS


class ClientForm(forms.ModelForm):
    contacts = ContactsField(label=_("Контакты"), required=False)


class DealForm(forms.ModelForm):
    tags = TagsField(label=_("Теги"), required=False)


@admin.register(Client)
class ClientAdmin(VersionedAdminMixin, TenantScopedAdmin):
    form = ClientForm
    list_display = ["full_name", "type", "status", "tax_number", "segment", "created_at"]
    list_filter = ["type", "status"]
    # search_text holds the names, the tax number and every contact value.
    search_fields = ["full_name", "tax_number", "search_text"]
    fields = [
        "type",
        "full_name",
        "short_name",
        "tax_number",
        "registration_number",
        "segment",
        "status",
        "contacts",
        "notes",
        "created_at",
        "client_deals",
    ]
    readonly_fields = ["created_at", "client_deals"]

    @admin.display(description=_("Сделки"))
    def client_deals(self, client):
        """The client's deals, newest first, each a link to its page (the client admin is tenant staff's)."""
        if client.pk is None:
            return "—"
        deals = Deal.objects.for_tenant(client.tenant_id).filter(client=client).order_by("-created_at")
        rows = [
            (reverse("admin:deals_deal_change", args=[deal.pk]), deal.title, deal.get_status_display())
            for deal in deals
        ]
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a> — {}', rows) or gettext("Сделок нет.")  # noqa: S308

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in CLIENT_FIELDS if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in data.items() if name in form.changed_data}
            expected = self.expected(form)
            self.save_with_service(
                request,
                lambda: services.client_update(client=obj, acting_user=request.user, expected=expected, **changed),
            )
            return
        tenant = obj.tenant if request.user.is_superuser else request.user.tenant
        obj.pk = self.save_with_service(request, lambda: services.client_create(tenant=tenant, **data)).pk


class JournalEntryInline(TenantScopedReadOnlyInline):
    model = JournalEntry
    fields = ["created_at", "kind", "author", "text"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


class CalculationInline(TenantScopedReadOnlyInline):
    model = Calculation
    fields = ["insurance_company", "program_name", "premium", "coverage", "calculation_date"]

    @admin.display(description=_("Премия"))
    def premium(self, calculation):
        return money(calculation.premium_amount)

    @admin.display(description=_("Страховая сумма"))
    def coverage(self, calculation):
        return money(calculation.coverage_sum)


class PolicyInline(TenantScopedReadOnlyInline):
    model = Policy
    fields = ["policy_number", "insurer", "status", "effective_from", "effective_to", "premium"]

    @admin.display(description=_("Премия"))
    def premium(self, policy):
        return money(policy.premium_amount)


class PaymentInline(TenantScopedReadOnlyInline):
    model = Payment
    fields = ["payment_type", "status", "payment_sum", "planned_date", "external_ref", "policy"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("policy")

    @admin.display(description=_("Сумма"))
    def payment_sum(self, payment):
        return money(payment.amount, payment.currency)


def _status_action(status: str, label: str | Promise):
    def change_status(modeladmin, request, queryset):
        movable = []
        for deal in queryset:
            allowed = DEAL_TRANSITIONS[deal.status]
            if status == deal.status or status in allowed:
                movable.append(deal)
                continue
            choices = ", ".join(f"«{s.label}»" for s in DealStatus if s in allowed) or gettext("никуда")
            refusal = gettext("«%(deal)s»: из статуса «%(status)s» нельзя перейти в «%(target)s» (можно: %(allowed)s).")
            modeladmin.message_user(
                request,
                refusal % {"deal": deal, "status": deal.get_status_display(), "target": label, "allowed": choices},
                level=messages.ERROR,
            )
        modeladmin.run_per_row(
            request,
            movable,
            lambda deal: services.deal_transition(deal=deal, status=status, acting_user=request.user),
            gettext("Переведены в статус «%(status)s»") % {"status": label},
        )

    change_status.__name__ = f"move_to_{status}"
    return admin.action(description=format_lazy(_("Перевести в статус «{}»"), label))(change_status)


@admin.register(Deal)
class DealAdmin(VersionedAdminMixin, DealWorkflowMixin, TenantScopedAdmin):
    form = DealForm
    list_display = ["title", "client", "status", "sales_agent", "executor", "expected_close_date", "created_at"]
    list_filter = ["status", ("sales_agent", TenantRelatedFieldListFilter)]
    list_select_related = ["client", "sales_agent", "executor"]
    search_fields = ["title", "client__full_name"]
    autocomplete_fields = ["client"]  # searches the tenant's clients by name, tax number and contacts
    fields = [
        "client",
        "title",
        "description",
        "status",
        "sales_agent",
        "executor",
        "expected_close_date",
        "tags",
        "folder_id",
        "created_at",
    ]
    readonly_fields = ["status", "folder_id", "created_at"]
    inlines = [JournalEntryInline, CalculationInline, PolicyInline, PaymentInline]
    actions = [_status_action(status, label) for status, label in DealStatus.choices]

    # A manager works the deals where they are the agent or the executor; (re)assigning is a supervisor's job.
    manager_permissions = frozenset({"view", "change"})

    def get_readonly_fields(self, request, obj=None):
        # A deal stays with its client; its status moves only through the state machine (buttons, actions).
        readonly = [*self.readonly_fields, "client"] if obj is not None else self.readonly_fields
        return readonly if sees_whole_tenant(request.user) else [*readonly, "sales_agent", "executor"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name in ("sales_agent", "executor") and field is not None:
            field.queryset = field.queryset.filter(is_active=True)
        return field

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changed = {
                name: data[name]
                for name in (*DEAL_EDITABLE_FIELDS, "sales_agent", "executor")
                if name in form.changed_data
            }
            expected = self.expected(form)
            self.save_with_service(
                request, lambda: services.deal_update(deal=obj, acting_user=request.user, expected=expected, **changed)
            )
            return
        tenant = data["client"].tenant
        created = self.save_with_service(
            request,
            lambda: services.deal_create(
                tenant=tenant,
                acting_user=request.user,
                client_id=data["client"].pk,
                title=data["title"],
                description=data.get("description", ""),
                sales_agent=data["sales_agent"],
                executor=data.get("executor"),
                expected_close_date=data.get("expected_close_date"),
                tags=data.get("tags") or [],
            ),
        )
        obj.pk = created.pk
