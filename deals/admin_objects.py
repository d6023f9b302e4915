"""Back-office pages of what hangs off a deal: calculations, policies, payments and deal tasks.

Each is added from the deal's page (`…/add/?deal=<id>`: the deal chosen, by autocomplete) and comes back to that
page when saved. Every write goes through the service the API calls (state machines, the confirmed-client rule,
unique policy numbers, the role checks); a refusal comes back as form errors (crm.admin_refusals). What a service
never changes after creation (the deal, a policy's number, a payment's amount) is read-only on the change page;
a calculation has no update service, so its page only shows it. Tenant staff only: a manager sees these rows on
the pages of their own deals.
"""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, ngettext

from crm.admin_base import TenantScopedAdmin
from crm.charts import money
from deals import services
from deals.due import ending_within_q, overdue_payments_q, renewals_this_month_q
from deals.models import Calculation, DealTask, Payment, Policy, PolicyStatus
from deals.services.payments import PAYMENT_EDITABLE_FIELDS
from deals.services.policies import POLICY_EDITABLE_FIELDS
from deals.services.tasks import TASK_EDITABLE_FIELDS


def _tenant_today(request):
    """The staff user's tenant's date (a superuser without a tenant: the server's)."""
    zone = request.user.tenant.tzinfo if request.user.tenant_id else timezone.get_current_timezone()
    return timezone.localdate(timezone=zone)


class RenewalFilter(admin.SimpleListFilter):
    """Policies to renew: in force and ending within 30, 60 or 90 days, ending this month unrenewed, or due."""

    title = gettext_lazy("продление")
    parameter_name = "renewal"
    WITHIN_DAYS = {"30": 30, "60": 60, "90": 90}

    def lookups(self, request, model_admin):
        return [
            *((value, self._ending_within(days)) for value, days in self.WITHIN_DAYS.items()),
            ("month", gettext("Продлить в этом месяце")),
            ("due", gettext("Пора продлевать")),
        ]

    @staticmethod
    def _ending_within(days: int) -> str:
        text = ngettext("Заканчиваются в ближайший %(days)s день", "Заканчиваются в ближайшие %(days)s дней", days)
        return text % {"days": days}

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "due":
            return queryset.filter(status=PolicyStatus.RENEWAL_DUE)
        if value == "month":
            return queryset.filter(renewals_this_month_q(_tenant_today(request)))
        if value not in self.WITHIN_DAYS:
            raise IncorrectLookupParameters(gettext("Нет такого фильтра продления: %(value)s.") % {"value": value})
        return queryset.filter(ending_within_q(_tenant_today(request), self.WITHIN_DAYS[value]))


class OverdueFilter(admin.SimpleListFilter):
    """Payments still to come in whose planned date has passed (the API's `overdue=true`)."""

    title = gettext_lazy("просрочка")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", gettext_lazy("Просрочены"))]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() != "yes":
            raise IncorrectLookupParameters(gettext("Нет такого значения: %(value)s.") % {"value": self.value()})
        return queryset.filter(overdue_payments_q(_tenant_today(request)))


@admin.action(description=gettext_lazy("Начать продление"))
def start_renewal(modeladmin, request, queryset):
    """A renewal deal per selected policy, through the API's service; each refused row says why."""
    modeladmin.run_per_row(
        request,
        queryset,
        lambda policy: services.policy_renew(policy=policy, acting_user=request.user),
        gettext("Начато продление полисов"),
    )


def _changed(form, names) -> dict:
    return {name: form.cleaned_data[name] for name in names if name in form.changed_data}


class DealObjectAdmin(TenantScopedAdmin):
    autocomplete_fields = ["deal"]
    list_select_related = ["deal"]
    search_fields = ["deal__title"]
    # Fixed once created: the deal, and what the model's service does not change.
    fixed_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "deal", *self.fixed_fields] if obj is not None else readonly

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "deal" and field is not None:
            field.required = True  # added from a deal's page (a deal task without a deal is the API's business)
        return field

    def response_post_save_add(self, request, obj):
        return self._back_to_deal(obj) or super().response_post_save_add(request, obj)

    def response_post_save_change(self, request, obj):
        return self._back_to_deal(obj) or super().response_post_save_change(request, obj)

    @staticmethod
    def _back_to_deal(obj):
        if obj.deal_id is None:
            return None
        return HttpResponseRedirect(reverse("admin:deals_deal_change", args=[obj.deal_id]))


@admin.register(Calculation)
class CalculationAdmin(DealObjectAdmin):
    list_display = ["insurance_company", "deal", "program_name", "premium", "calculation_date"]
    search_fields = ["deal__title", "insurance_company", "program_name"]
    fields = [
        "deal",
        "insurance_company",
        "program_name",
        "premium_amount",
        "coverage_sum",
        "calculation_date",
        "valid_from",
        "valid_to",
        "comments",
    ]

    def has_change_permission(self, request, obj=None):
        return False  # no service changes a calculation: add a new one

    @admin.display(description=gettext_lazy("Премия"))
    def premium(self, calculation):
        return money(calculation.premium_amount)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in self.fields if name != "deal"}
        data["program_name"] = data["program_name"] or ""
        data["comments"] = data["comments"] or ""
        deal = form.cleaned_data["deal"]
        obj.pk = self.save_with_service(request, lambda: services.calculation_create(deal=deal, **data)).pk


@admin.register(Policy)
class PolicyAdmin(DealObjectAdmin):
    list_display = [
        "policy_number",
        "deal",
        "insurer",
        "status",
        "effective_from",
        "effective_to",
        "premium",
        "renewal_deal_link",
    ]
    list_filter = ["status", RenewalFilter]
    list_select_related = ["deal", "renewal_deal"]
    actions = [start_renewal]
    search_fields = ["deal__title", "policy_number", "insurer"]
    fields = [
        "deal",
        "calculation",
        "policy_number",
        "insurer",
        "program_name",
        "status",
        "effective_from",
        "effective_to",
        "premium_amount",
        "coverage_sum",
    ]
    fixed_fields = ("calculation", "policy_number", "insurer", "program_name", "effective_from")

    @admin.display(description=gettext_lazy("Премия"))
    def premium(self, policy):
        return money(policy.premium_amount)

    @admin.display(description=gettext_lazy("Продление"))
    def renewal_deal_link(self, policy):
        renewal_deal = getattr(policy, "renewal_deal", None)
        if renewal_deal is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:deals_deal_change", args=[renewal_deal.pk]), renewal_deal
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            fields = _changed(form, POLICY_EDITABLE_FIELDS)
            status = data["status"] if "status" in form.changed_data else None
            self.save_with_service(request, lambda: services.policy_update(policy=obj, status=status, **fields))
            return
        created = {name: data.get(name) for name in self.fields if name not in ("deal", "calculation")}
        created["program_name"] = created["program_name"] or ""
        policy = self.save_with_service(
            request, lambda: services.policy_create(deal=data["deal"], calculation=data.get("calculation"), **created)
        )
        obj.pk = policy.pk


@admin.register(Payment)
class PaymentAdmin(DealObjectAdmin):
    list_display = ["deal", "policy", "payment_type", "status", "payment_sum", "planned_date"]
    list_filter = ["status", "payment_type", OverdueFilter]
    list_select_related = ["deal", "policy"]
    search_fields = ["deal__title", "policy__policy_number", "external_ref"]
    fields = ["deal", "policy", "payment_type", "amount", "planned_date", "status", "external_ref", "notes"]
    fixed_fields = ("policy", "payment_type", "amount")

    def get_readonly_fields(self, request, obj=None):
        # A payment is created planned, with no external reference yet (as the API's POST).
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is not None else [*readonly, "status", "external_ref"]

    @admin.display(description=gettext_lazy("Сумма"))
    def payment_sum(self, payment):
        return money(payment.amount, payment.currency)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            fields = _changed(form, PAYMENT_EDITABLE_FIELDS)
            status = data["status"] if "status" in form.changed_data else None
            self.save_with_service(request, lambda: services.payment_update(payment=obj, status=status, **fields))
            return
        payment = self.save_with_service(
            request,
            lambda: services.payment_create(
                tenant=data["deal"].tenant,
                acting_user=request.user,
                deal_id=data["deal"].pk,
                policy_id=data["policy"].pk,
                payment_type=data["payment_type"],
                amount=data["amount"],
                planned_date=data.get("planned_date"),
                notes=data.get("notes") or "",
            ),
        )
        obj.pk = payment.pk


@admin.register(DealTask)
class DealTaskAdmin(DealObjectAdmin):
    list_display = ["subject", "deal", "assignee", "priority", "status", "due_date"]
    list_filter = ["status", "priority"]
    list_select_related = ["deal", "assignee"]
    search_fields = ["deal__title", "subject"]
    fields = ["deal", "subject", "description", "assignee", "due_date", "priority", "status"]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is not None else [*readonly, "status"]  # a task starts `new`

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if request.user.tenant_id:
            initial.setdefault("assignee", request.user.uuid)
        return initial

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            fields = _changed(form, TASK_EDITABLE_FIELDS)
            status = data["status"] if "status" in form.changed_data else None
            assignee = data["assignee"] if "assignee" in form.changed_data else None
            self.save_with_service(
                request,
                lambda: services.deal_task_update(
                    task=obj, acting_user=request.user, status=status, assignee=assignee, **fields
                ),
            )
            return
        task = self.save_with_service(
            request,
            lambda: services.deal_task_create(
                tenant=data["deal"].tenant,
                acting_user=request.user,
                subject=data["subject"],
                description=data["description"],
                assignee=data["assignee"],
                deal_id=data["deal"].pk,
                due_date=data.get("due_date"),
                priority=data["priority"],
            ),
        )
        obj.pk = task.pk
