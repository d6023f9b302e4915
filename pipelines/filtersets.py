"""Lead filters shared by `/api/leads` and `/api/v2/leads/table` (SPEC §5).

Ids are plain numbers applied to an already tenant-scoped queryset: a foreign id simply matches nothing.
"""

import re
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q

from crm.api.filters import IdFilter
from crm.errors import ValidationFailed
from pipelines.table_columns import EQUALITY_FILTERS, Kind, TableColumn

_PHONE_LIKE = re.compile(r"^[\d\s()+\-.]+\Z")
MAX_SEARCH_LENGTH = 100
# A budget bound (inclusive; leads without a budget never match one): money as the API writes it (SPEC §3).
PRICE_BOUND: dict[str, Any] = {"min_value": 0, "max_digits": 14, "decimal_places": 2}


def search_q(term: str) -> Q:
    """Name, phone or email containing the term; a phone-looking term also matches the stored E.164 digits."""
    term = term.strip()[:MAX_SEARCH_LENGTH]
    query = Q(name__icontains=term) | Q(email__icontains=term) | Q(phone__contains=term)
    digits = re.sub(r"\D", "", term)
    if _PHONE_LIKE.match(term) and len(digits) >= 3:
        query |= Q(phone__contains=digits)
        if len(digits) == 11 and digits[0] == "8":
            # A Russian national number (8 916 …) is stored as +7 916 ….
            query |= Q(phone__contains="7" + digits[1:])
    return query


def _equality_filter(column: TableColumn) -> django_filters.Filter:
    if column.kind is Kind.INTEGER:
        return IdFilter(field_name=column.lookup)
    return django_filters.ChoiceFilter(field_name=column.lookup, choices=column.choices)


class _SearchAndBudgetFilters(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", max_length=MAX_SEARCH_LENGTH)
    price_from = django_filters.NumberFilter(field_name="price", lookup_expr="gte", **PRICE_BOUND)
    price_to = django_filters.NumberFilter(field_name="price", lookup_expr="lte", **PRICE_BOUND)

    def filter_search(self, queryset, name, value):
        return queryset.filter(search_q(value)) if value.strip() else queryset


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


def lead_filters_apply(queryset, filters: dict):
    """Narrow a lead queryset by `lead_filters_parse` output."""
    for name, value in filters.items():
        queryset = queryset.filter(search_q(value)) if name == "search" else queryset.filter(**{_LOOKUPS[name]: value})
    return queryset
