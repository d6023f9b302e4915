"""Query filters of the /api/v1 lists; array filters accept `status=a&status=b` and `status=a,b` (SPEC §4)."""

import django_filters
from django import forms
from django.db.models import F
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from crm.errors import ValidationFailed
from deals.due import overdue_payments_q
from deals.models import (
    Client,
    ClientStatus,
    ClientType,
    Deal,
    DealStatus,
    DealTask,
    DealTaskPriority,
    DealTaskStatus,
    Payment,
    PaymentStatus,
    PaymentType,
    Policy,
    PolicyStatus,
)
from deals.selectors import ILikeContains, deal_search_q

MAX_VALUES = 50


class MultiValueWidget(forms.Widget):
    def value_from_datadict(self, data, files, name):
        raw = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        return [part.strip() for item in raw if item for part in str(item).split(",") if part.strip()]


class MultiValueField(forms.Field):
    """A list of values, each cleaned by `item_field` (a choice or a UUID)."""

    widget = MultiValueWidget

    def __init__(self, *, item_field: forms.Field, **kwargs):
        self.item_field = item_field
        super().__init__(**kwargs)

    def clean(self, value):
        if not value:
            return []
        if len(value) > MAX_VALUES:
            raise forms.ValidationError(f"At most {MAX_VALUES} values.")
        return [self.item_field.clean(item) for item in value]


class InFilter(django_filters.Filter):
    field_class = MultiValueField

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


def choices_filter(field_name: str, choices) -> InFilter:
    values = [value for value, _label in choices]
    schema = {"type": "array", "items": {"type": "string", "enum": values}}
    return extend_schema_field(schema)(
        InFilter(
            field_name=field_name, item_field=forms.ChoiceField(choices=choices), help_text="Repeat or comma-separate."
        )
    )


def uuid_filter(field_name: str) -> InFilter:
    schema = {"type": "array", "items": {"type": "string", "format": "uuid"}}
    return extend_schema_field(schema)(
        InFilter(field_name=field_name, item_field=forms.UUIDField(), help_text="One id, repeated or comma-separated.")
    )


def search_filter(help_text: str) -> django_filters.CharFilter:
    return django_filters.CharFilter(method="filter_search", max_length=255, help_text=help_text)


class ClientFilterSet(django_filters.FilterSet):
    search = search_filter("Case-insensitive fragment of full/short name, tax number or a contact value.")
    status = choices_filter("status", ClientStatus.choices)
    type = choices_filter("type", ClientType.choices)

    class Meta:
        model = Client
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(ILikeContains(F("search_text"), value)) if value.strip() else queryset


_DEAL_STATUSES = MultiValueField(item_field=forms.ChoiceField(choices=DealStatus.choices))


def deal_status_filter(query_params) -> list[str]:
    """The `status` values of a deal list request, validated like DealFilterSet's (400 for an unknown one)."""
    raw = MultiValueWidget().value_from_datadict(query_params, None, "status")
    try:
        return sorted(set(_DEAL_STATUSES.clean(raw)))
    except forms.ValidationError as exc:
        raise ValidationFailed(exc.messages[0], details={"status": exc.messages}) from None


class DealFilterSet(django_filters.FilterSet):
    client_id = uuid_filter("client_id")
    status = choices_filter("status", DealStatus.choices)
    sales_agent_id = uuid_filter("sales_agent_id")
    search = search_filter("Case-insensitive fragment of the title or of the deal's journal.")

    class Meta:
        model = Deal
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(deal_search_q(value)) if value.strip() else queryset


def date_filter(field_name: str, lookup_expr: str, help_text: str) -> django_filters.DateFilter:
    """A `YYYY-MM-DD` date only (not the other formats Django's date field admits)."""
    return django_filters.DateFilter(
        field_name=field_name, lookup_expr=lookup_expr, input_formats=["%Y-%m-%d"], help_text=help_text
    )


class StrictBooleanField(forms.Field):
    """`true` or `false` (empty: no filter); anything else is a 400."""

    def clean(self, value):
        if value in (None, ""):
            return None
        if value not in ("true", "false"):
            raise forms.ValidationError("Must be `true` or `false`.")
        return value == "true"


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class PaymentFilterSet(django_filters.FilterSet):
    deal_id = uuid_filter("deal_id")
    policy_id = uuid_filter("policy_id")
    status = choices_filter("status", PaymentStatus.choices)
    payment_type = choices_filter("payment_type", PaymentType.choices)
    planned_date_from = date_filter("planned_date", "gte", "Planned on or after this date (YYYY-MM-DD).")
    planned_date_to = date_filter("planned_date", "lte", "Planned on or before this date (YYYY-MM-DD).")
    overdue = extend_schema_field({"type": "boolean"})(
        StrictBooleanFilter(
            method="filter_overdue",
            help_text="`true`: planned or expected with planned_date before today (tenant's timezone); "
            "`false`: every other payment.",
        )
    )

    class Meta:
        model = Payment
        fields: list[str] = []

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        overdue = overdue_payments_q(timezone.localdate(timezone=self.request.user.tenant.tzinfo))
        return queryset.filter(overdue) if value else queryset.exclude(overdue)


class PolicyFilterSet(django_filters.FilterSet):
    status = choices_filter("status", PolicyStatus.choices)
    deal_id = uuid_filter("deal_id")
    client_id = uuid_filter("deal__client_id")
    insurer = django_filters.CharFilter(
        field_name="insurer", lookup_expr="iexact", max_length=255, help_text="The insurer's name, any case."
    )
    effective_to_from = date_filter("effective_to", "gte", "Ending on or after this date (YYYY-MM-DD).")
    effective_to_to = date_filter("effective_to", "lte", "Ending on or before this date (YYYY-MM-DD).")

    class Meta:
        model = Policy
        fields: list[str] = []


class DealTaskFilterSet(django_filters.FilterSet):
    assignee_id = uuid_filter("assignee_id")
    status = choices_filter("status", DealTaskStatus.choices)
    deal_id = uuid_filter("deal_id")
    priority = choices_filter("priority", DealTaskPriority.choices)

    class Meta:
        model = DealTask
        fields: list[str] = []
