"""The service toolkit through real models: what a caller of any service sees when a write is refused."""

import pytest
from django.utils import translation

from crm.errors import ApplicationError, ValidationFailed
from crm.service_kit import apply_changes, save_or_conflict, status_move, validate
from deals.models import Client, Deal
from deals.services import client_create
from deals.tests.factories import ClientFactory, DealFactory
from pipelines.models import Stage
from pipelines.tests.factories import PipelineFactory, StageFactory

# Moves of the deal state machine as the contract lists them (SPEC §11).
DEAL_MOVES = {"draft": frozenset({"estimating", "closed"}), "closed": frozenset()}


@pytest.fixture(autouse=True)
def _api_language():
    """The messages as the API gives them (crm.i18n.LanguageMiddleware activates English for it)."""
    with translation.override("en"):
        yield


class ClientTaken(ApplicationError):
    code, status = "client_exists", 409


def test_a_field_the_service_does_not_change_is_a_400_naming_it(tenant):
    pipeline = PipelineFactory(tenant=tenant, name="Продажи")

    with pytest.raises(ValidationFailed) as refused:
        apply_changes(pipeline, ("name", "is_default"), {"name": "Новая", "tenant": tenant})

    assert (refused.value.status, refused.value.code) == (400, "validation_error")
    assert refused.value.details == {"tenant": ["This field cannot be changed."]}
    assert pipeline.name == "Продажи"  # refused before anything is set


def test_a_create_refuses_a_field_it_does_not_set_instead_of_dropping_it(tenant):
    with pytest.raises(ValidationFailed) as refused:
        client_create(tenant=tenant, type="individual", full_name="Иван Петров", version=7)

    assert refused.value.details == {"version": ["This field cannot be set."]}
    assert not Client.objects.filter(tenant=tenant).exists()


def test_only_the_values_that_differ_are_reported_changed(tenant):
    pipeline = PipelineFactory(tenant=tenant, name="Продажи", is_default=False)

    changed = apply_changes(pipeline, ("name", "is_default"), {"name": "Продажи", "is_default": True})

    assert changed == ["is_default"]
    assert pipeline.is_default is True


def test_validation_maps_each_field_to_its_messages_and_leads_with_the_first(tenant):
    stage = Stage(tenant=tenant, pipeline=PipelineFactory(tenant=tenant), name="x" * 256, color="red", order_index=0)

    with pytest.raises(ValidationFailed) as refused:
        validate(stage)

    details = refused.value.details
    assert set(details) == {"name", "color"}
    assert details["color"] == ["A colour is #rgb or #rrggbb."]
    assert refused.value.message == next(iter(details.values()))[0]


def test_validation_runs_the_models_own_clean(tenant):
    stage = StageFactory(pipeline=PipelineFactory(tenant=tenant), tenant=tenant)
    stage.outcome, stage.is_closed = "won", False

    with pytest.raises(ValidationFailed) as refused:
        validate(stage)

    assert list(refused.value.details) == ["is_closed"]


def test_a_unique_constraint_answers_its_own_conflict(tenant):
    ClientFactory(tenant=tenant, tax_number="7701234567")
    duplicate = Client(tenant=tenant, type="company", full_name="Двойник", tax_number="7701234567", status="active")

    with pytest.raises(ClientTaken) as refused:
        save_or_conflict(duplicate, {"deals_client_tax_uniq": ClientTaken("taken")}, force_insert=True)

    assert refused.value.status == 409
    assert Client.objects.filter(tax_number="7701234567").count() == 1


def test_a_status_move_in_the_table_sets_the_status(tenant):
    deal = DealFactory(tenant=tenant)

    assert status_move(deal, DEAL_MOVES, "estimating") is True
    assert deal.status == "estimating"


def test_the_current_status_is_a_no_op(tenant):
    deal = DealFactory(tenant=tenant)

    assert status_move(deal, DEAL_MOVES, "draft") is False
    assert Deal.objects.get(pk=deal.pk).status == deal.status == "draft"


@pytest.mark.parametrize("http_status", [400, 409])
def test_a_move_outside_the_table_is_invalid_status_transition(tenant, http_status):
    deal = DealFactory(tenant=tenant)

    with pytest.raises(ApplicationError) as refused:
        status_move(deal, DEAL_MOVES, "active", http_status=http_status)

    assert (refused.value.code, refused.value.status) == ("invalid_status_transition", http_status)
    assert list(refused.value.details) == ["status"]
    assert deal.status == "draft"
