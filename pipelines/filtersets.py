"""Lead filters shared by `/api/leads` and `/api/v2/leads/table` (SPEC §5).

Ids are plain numbers applied to an already tenant-scoped queryset: a foreign id simply matches nothing.
"""

import re
from typing import Any

import django_filters
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import BigIntegerField, BooleanField, F, Func, Q, TextField, Value
from django.db.models.functions import Cast, Upper

from crm.api.filters import IdFilter
from crm.errors import ValidationFailed
from pipelines.table_columns import EQUALITY_FILTERS, Kind, TableColumn

_PHONE_LIKE = re.compile(r"^[\d\s()+\-.]+\Z")
MAX_SEARCH_LENGTH = 100
# A budget bound (inclusive; leads without a budget never match one): money as the API writes it (SPEC §3).
PRICE_BOUND: dict[str, Any] = {"min_value": 0, "max_digits": 14, "decimal_places": 2}


class _Trigrams(Func):
    """`lead_search_trigrams(tenant, UPPER(value))`: every three-character piece of the value, each prefixed with the
    tenant's id (the SQL function of migration 0010)."""

    function = "lead_search_trigrams"
    output_field = ArrayField(TextField())

    def __init__(self, tenant, value):
        super().__init__(tenant, Upper(value))


class _Joined(Func):
    template = "(%(expressions)s)"
    arg_joiner = " || "
    output_field = ArrayField(TextField())


class _HasAll(Func):
    template = "%(expressions)s"
    arg_joiner = " @> "
    output_field = BooleanField()


# The expression of the lead table's search index (migration 0010), spelled the same so PostgreSQL uses it.
_LEAD_TRIGRAMS = _Joined(*(_Trigrams(F("tenant_id"), F(name)) for name in ("name", "email", "phone")))


def _containing(fragment: str, lookups: Q, tenant_id: int | None) -> Q:
    """`lookups` (which find `fragment` in a column), first narrowed on PostgreSQL to the tenant's leads that have
    every three-character piece of the fragment in some column: the search index answers that, reading only this
    tenant's entries, and only those leads are checked with LIKE. A shorter fragment has no piece to look up."""
    if tenant_id is None or len(fragment) < 3 or connection.vendor != "postgresql":
        return lookups
    pieces = _Trigrams(Cast(Value(tenant_id), BigIntegerField()), Value(fragment))
    return Q(_HasAll(_LEAD_TRIGRAMS, pieces)) & lookups


def search_q(term: str, *, tenant_id: int | None) -> Q:
    """Name, phone or email containing the term; a phone-looking term also matches the stored E.164 digits.

    `tenant_id` is the tenant whose leads are searched (the caller's scope): the search index is read for that
    tenant only. It narrows and never widens: the caller's queryset keeps its own tenant and role filters, and
    without a tenant (a platform superuser) the same lookups run without the index.
    """
    term = term.strip()[:MAX_SEARCH_LENGTH]
    query = _containing(term, Q(name__icontains=term) | Q(email__icontains=term) | Q(phone__contains=term), tenant_id)
    digits = re.sub(r"\D", "", term)
    if _PHONE_LIKE.match(term) and len(digits) >= 3:
        query |= _containing(digits, Q(phone__contains=digits), tenant_id)
        if len(digits) == 11 and digits[0] == "8":
            # A Russian national number (8 916 …) is stored as +7 916 ….
            national = "7" + digits[1:]
            query |= _containing(national, Q(phone__contains=national), tenant_id)
    return query


def _equality_filter(column: TableColumn) -> django_filters.Filter:
    if column.kind is Kind.INTEGER:
        return IdFilter(field_name=column.lookup)
    return django_filters.ChoiceFilter(field_name=column.lookup, choices=column.choices)


class _SearchAndBudgetFilters(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", max_length=MAX_SEARCH_LENGTH)
    price_from = django_filters.NumberFilter(field_name="price", lookup_expr="gte", **PRICE_BOUND)
    price_to = django_filters.NumberFilter(field_name="price", lookup_expr="lte", **PRICE_BOUND)

    def __init__(self, *args, tenant_id: int | None = None, **kwargs):
        """`tenant_id`: the tenant whose leads the queryset holds (search_q); the API's is the user's."""
        super().__init__(*args, **kwargs)
        user = getattr(self.request, "user", None)
        self.tenant_id = tenant_id if tenant_id is not None else getattr(user, "tenant_id", None)

    def filter_search(self, queryset, name, value):
        return queryset.filter(search_q(value, tenant_id=self.tenant_id)) if value.strip() else queryset


# `/api/leads`' and the board's filters: the equality ones from the lead table's declaration (EQUALITY_FILTERS),
# so a new `?<key>=` filter is one column there. `lead_filters_parse` reads the same declaration; a test holds the
# two to the same answers and messages.
LeadFilterSet = django_filters.filterset.FilterSetMetaclass(
    "LeadFilterSet",
    (_SearchAndBudgetFilters,),
    {"__module__": __name__, **{column.key: _equality_filter(column) for column in EQUALITY_FILTERS}},
)


# Each filter's own form field, built once: the lead table and the board's sums validate with the FilterSet's fields
# and messages without building its form per request (django-filter deep-copies its filters and fields on every
# instantiation, which cost as much as the whole page query).
_FIELDS = {name: filter_.field for name, filter_ in LeadFilterSet.base_filters.items()}
_LOOKUPS = {
    name: f"{filter_.field_name}__{filter_.lookup_expr}"
    for name, filter_ in LeadFilterSet.base_filters.items()
    if not filter_.method
}


def lead_filters_parse(params) -> dict:
    """LeadFilterSet's parameters validated: {name: value} of those given, or a 400 with every bad one's messages."""
    cleaned: dict = {}
    errors: dict[str, list[str]] = {}
    for name, field in _FIELDS.items():
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        try:
            value = field.clean(raw)
        except ValidationError as exc:
            errors[name] = list(exc.messages)
            continue
        if value is not None and value != "":
            cleaned[name] = value
    if errors:
        raise ValidationFailed("Invalid filter.", details=errors)
    return cleaned


def lead_filters_apply(queryset, filters: dict, *, tenant_id: int | None):
    """Narrow a lead queryset (of the tenant `tenant_id`) by `lead_filters_parse` output."""
    for name, value in filters.items():
        if name == "search":
            queryset = queryset.filter(search_q(value, tenant_id=tenant_id))
        else:
            queryset = queryset.filter(**{_LOOKUPS[name]: value})
    return queryset
