"""`/api/leads` and the board filter through LeadFilterSet (django-filter); the lead table and the board's column
sums through `lead_filters_parse` + `lead_filters_apply`. Both read the table's one declaration of the equality
filters: here they give the same leads and the same messages for every filter, valid or not."""

from decimal import Decimal

import pytest
from django.utils import translation

from crm.errors import ValidationFailed
from pipelines.filtersets import LeadFilterSet, lead_filters_apply, lead_filters_parse
from pipelines.models import Lead

MAX_BIGINT = 9223372036854775807  # PostgreSQL's bigint, the API's id bound (SPEC §3)


@pytest.fixture
def leads(make_lead, stages, manager, other_manager):
    return [
        make_lead(name="Анна", phone="+79161234567", source="site", assigned_to=manager, price=Decimal("100.00")),
        make_lead(name="Борис", email="boris@example.com", source="manual", stage=stages[1], price=Decimal("5000")),
        make_lead(name="Вера", phone="+79031112233", source="whatsapp", assigned_to=other_manager),
    ]


def _tenant_id():
    """The fixture's tenant: every lead here is of one tenant, the one the search index is read for."""
    return Lead.objects.values_list("tenant_id", flat=True).first()


def through_filterset(params):
    filterset = LeadFilterSet(data=params, queryset=Lead.objects.all(), tenant_id=_tenant_id())
    if not filterset.is_valid():
        return {name: list(messages) for name, messages in filterset.errors.items()}
    return sorted(filterset.qs.values_list("name", flat=True))


def through_parse(params):
    try:
        filters = lead_filters_parse(params)
    except ValidationFailed as exc:
        return exc.details
    leads = lead_filters_apply(Lead.objects.all(), filters, tenant_id=_tenant_id())
    return sorted(leads.values_list("name", flat=True))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Анна", "Борис", "Вера"]),
        ({"source": "site"}, ["Анна"]),
        ({"source": "telegram"}, {"source": ["Select a valid choice. telegram is not one of the available choices."]}),
        ({"search": "916 123"}, ["Анна"]),
        ({"search": "89031112233"}, ["Вера"]),
        ({"search": "x" * 101}, {"search": ["Ensure this value has at most 100 characters (it has 101)."]}),
        ({"search": "   "}, ["Анна", "Борис", "Вера"]),
        ({"price_from": "100", "price_to": "100.00"}, ["Анна"]),
        ({"price_from": "-1"}, {"price_from": ["Ensure this value is greater than or equal to 0."]}),
        ({"price_to": "1.001"}, {"price_to": ["Ensure that there are no more than 2 decimal places."]}),
        ({"stage_id": "abc"}, {"stage_id": ["Enter a whole number."]}),
        ({"pipeline_id": "0"}, {"pipeline_id": ["Ensure this value is greater than or equal to 1."]}),
        (
            {"assigned_to_user_id": str(MAX_BIGINT + 1)},
            {"assigned_to_user_id": [f"Ensure this value is less than or equal to {MAX_BIGINT}."]},
        ),
        (
            {"stage_id": "1.5", "source": "x"},
            {
                "stage_id": ["Enter a whole number."],
                "source": ["Select a valid choice. x is not one of the available choices."],
            },
        ),
    ],
)
def test_both_filter_paths_give_the_same_leads_and_messages(leads, params, expected):
    with translation.override("en"):  # the API's language
        by_filterset, by_parse = through_filterset(params), through_parse(params)
    assert by_filterset == by_parse == expected


def test_the_back_office_gets_the_same_messages_in_russian(leads):
    params = {"stage_id": "abc", "price_from": "-1"}
    with translation.override("ru"):
        by_filterset, by_parse = through_filterset(params), through_parse(params)
    assert (
        by_filterset
        == by_parse
        == {
            "stage_id": ["Введите целое число."],
            "price_from": ["Убедитесь, что это значение больше либо равно 0."],
        }
    )


def test_the_id_filters_narrow_by_the_declared_field(leads, stages, manager):
    params = {"stage_id": str(stages[1].pk)}
    assert through_filterset(params) == through_parse(params) == ["Борис"]
    params = {"assigned_to_user_id": str(manager.pk), "pipeline_id": str(stages[0].pipeline_id)}
    assert through_filterset(params) == through_parse(params) == ["Анна"]
