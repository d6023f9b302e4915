"""Lead filters shared by `/api/leads` and `/api/v2/leads/table` (SPEC §5).

Ids are plain numbers applied to an already tenant-scoped queryset: a foreign id simply matches nothing.
"""

import re
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from crm.api.filters import IdFilter
from crm.bounds import MAX_BIGINT
from crm.errors import ValidationFailed
from pipelines.models import LeadSource
from pipelines.table_columns import ID_FILTERS

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


class LeadFilterSet(django_filters.FilterSet):
    pipeline_id = IdFilter(field_name="pipeline_id")
    stage_id = IdFilter(field_name="stage_id")
    assigned_to_user_id = IdFilter(field_name="assigned_to_id")
    source = django_filters.ChoiceFilter(choices=LeadSource.choices)
    search = django_filters.CharFilter(method="filter_search", max_length=MAX_SEARCH_LENGTH)
    price_from = django_filters.NumberFilter(field_name="price", lookup_expr="gte", **PRICE_BOUND)
    price_to = django_filters.NumberFilter(field_name="price", lookup_expr="lte", **PRICE_BOUND)

    def filter_search(self, queryset, name, value):
        return queryset.filter(search_q(value)) if value.strip() else queryset


_PRICE_FILTERS = {"price_from": "price__gte", "price_to": "price__lte"}
_PRICE_FIELD = forms.DecimalField(**PRICE_BOUND)


def lead_filters_parse(params) -> dict:
    """LeadFilterSet's parameters validated by hand, for the lead table's hot path.

    Same rules and messages as the FilterSet, without building a form per request (django-filter deep-copies
    its filters and fields on every instantiation, which cost as much as the whole page query).
    """
    cleaned: dict = {}
    errors: dict[str, list[str]] = {}
    for name in ID_FILTERS:
        raw = (params.get(name) or "").strip()
        if not raw:
            continue
        try:
            value = int(raw)
        except ValueError:
            errors[name] = ["Enter a whole number."]
            continue
        if not 1 <= value <= MAX_BIGINT:
            errors[name] = [f"Ensure this value is between 1 and {MAX_BIGINT}."]
            continue
        cleaned[name] = value
    source = params.get("source") or ""
    if source and source not in LeadSource.values:
        errors["source"] = [f"Select a valid choice. {source[:40]} is not one of the available choices."]
    elif source:
        cleaned["source"] = source
    search = params.get("search") or ""
    if len(search) > MAX_SEARCH_LENGTH:
        errors["search"] = [f"Ensure this value has at most {MAX_SEARCH_LENGTH} characters (it has {len(search)})."]
    elif search.strip():
        cleaned["search"] = search
    _price_bounds_parse(params, cleaned, errors)
    if errors:
        raise ValidationFailed("Invalid filter.", details=errors)
    return cleaned


def _price_bounds_parse(params, cleaned: dict, errors: dict) -> None:
    for name in _PRICE_FILTERS:
        raw = (params.get(name) or "").strip()
        if not raw:
            continue
        try:
            cleaned[name] = _PRICE_FIELD.clean(raw)
        except ValidationError as exc:
            errors[name] = list(exc.messages)


def lead_filters_apply(queryset, filters: dict):
    """Narrow a lead queryset by `lead_filters_parse` output."""
    for name, lookup in _PRICE_FILTERS.items():
        if name in filters:
            queryset = queryset.filter(**{lookup: filters[name]})
    for name, field in ID_FILTERS.items():
        if name in filters:
            queryset = queryset.filter(**{field: filters[name]})
    if "source" in filters:
        queryset = queryset.filter(source=filters["source"])
    if "search" in filters:
        queryset = queryset.filter(search_q(filters["search"]))
    return queryset
