import uuid

import pytest

from deals.models import Calculation, Policy
from deals.tests.conftest import assert_error
from deals.tests.factories import CalculationFactory, DealFactory, PolicyFactory

pytestmark = pytest.mark.django_db

DEALS = "/api/v1/deals"
POLICIES = "/api/v1/policies"


@pytest.fixture
def policy_body(calculation):
    return {
        "calculation_id": str(calculation.id),
        "policy_number": "ХХХ 0123456789",
        "insurer": "Ингосстрах",
        "program_name": "КАСКО Полное",
        "effective_from": "2025-02-01",
        "effective_to": "2026-01-31",
        "premium_amount": 45000.5,
        "coverage_sum": 2500000,
        "status": "active",
        "documents": ["https://drive/policy.pdf"],
    }


def test_calculation_create_and_list(manager_client, deal):
    response = manager_client.post(
        f"{DEALS}/{deal.id}/calculations",
        {
            "insurance_company": "РЕСО",
            "program_name": "Базовая",
            "premium_amount": 31000.99,
            "coverage_sum": 1500000,
            "calculation_date": "2025-01-20",
            "validity_period": {"from": "2025-01-20", "to": "2025-02-20"},
            "files": ["https://drive/calc.xlsx"],
            "comments": "Со скидкой",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["premium_amount"] == 31000.99
    assert body["validity_period"] == {"from": "2025-01-20", "to": "2025-02-20"}
    calculation = Calculation.objects.get(pk=body["id"])
    assert str(calculation.premium_amount) == "31000.99"
    listed = manager_client.get(f"{DEALS}/{deal.id}/calculations")
    assert [row["id"] for row in listed.json()] == [body["id"]]
    assert listed["X-Total-Count"] == "1"


def test_calculation_without_optional_fields(manager_client, deal):
    response = manager_client.post(
        f"{DEALS}/{deal.id}/calculations",
        {"insurance_company": "РЕСО", "calculation_date": "2025-01-20"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["validity_period"] is None
    assert response.json()["premium_amount"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"insurance_company": ""}, "insurance_company"),
        ({"calculation_date": "2025-13-01"}, "calculation_date"),
        ({"premium_amount": -1}, "premium_amount"),
        ({"premium_amount": 1.005}, "premium_amount"),
        ({"premium_amount": "100"}, "premium_amount"),
        ({"coverage_sum": 10**12}, "coverage_sum"),
        ({"validity_period": {"from": "2025-03-01", "to": "2025-02-01"}}, "validity_period.to"),
        ({"validity_period": {"from": "2025-03-01"}}, "validity_period.to"),
        ({"comments": "x" * 10_001}, "comments"),
    ],
)
def test_calculation_bad_input_is_400(manager_client, deal, change, field):
    body = {"insurance_company": "РЕСО", "calculation_date": "2025-01-20", **change}

    assert_error(
        manager_client.post(f"{DEALS}/{deal.id}/calculations", body, format="json"), 400, "validation_error", field
    )
    assert not Calculation.objects.exists()


def test_calculations_of_unknown_or_colleague_deal(api_client, owner_client, deal, other_manager):
    body = {"insurance_company": "РЕСО", "calculation_date": "2025-01-20"}

    assert_error(owner_client.post(f"{DEALS}/{uuid.uuid4()}/calculations", body, format="json"), 404, "deal_not_found")
    assert_error(
        api_client(other_manager).post(f"{DEALS}/{deal.id}/calculations", body, format="json"), 403, "forbidden"
    )
    assert_error(api_client(other_manager).get(f"{DEALS}/{deal.id}/calculations"), 403, "forbidden")
    assert not Calculation.objects.exists()


def test_policy_create_and_list(manager_client, deal, policy_body):
    response = manager_client.post(f"{DEALS}/{deal.id}/policies", policy_body, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["deal_id"] == str(deal.id)
    assert body["premium_amount"] == 45000.5
    assert body["status"] == "active"
    policy = Policy.objects.get(pk=body["id"])
    assert str(policy.premium_amount) == "45000.50"
    assert [row["id"] for row in manager_client.get(f"{DEALS}/{deal.id}/policies").json()] == [body["id"]]


def test_duplicate_policy_number_in_the_tenant_is_409(owner_client, tenant, deal, policy_body):
    PolicyFactory(deal=DealFactory(tenant=tenant), policy_number=policy_body["policy_number"])

    assert_error(owner_client.post(f"{DEALS}/{deal.id}/policies", policy_body, format="json"), 409, "policy_conflict")
    assert Policy.objects.count() == 1


def test_same_policy_number_in_another_tenant_is_fine(owner_client, other_tenant, deal, policy_body):
    PolicyFactory(deal=DealFactory(tenant=other_tenant), policy_number=policy_body["policy_number"])

    assert owner_client.post(f"{DEALS}/{deal.id}/policies", policy_body, format="json").status_code == 201


def test_calculation_of_another_deal_is_400(owner_client, tenant, deal, policy_body, other_tenant):
    for calculation in (
        CalculationFactory(deal=DealFactory(tenant=tenant)),
        CalculationFactory(deal=DealFactory(tenant=other_tenant)),
    ):
        response = owner_client.post(
            f"{DEALS}/{deal.id}/policies", {**policy_body, "calculation_id": str(calculation.id)}, format="json"
        )
        assert_error(response, 400, "validation_error", "calculation_id")
    assert not Policy.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"effective_from": "2026-02-01"}, "effective_to"),
        ({"effective_to": "31.01.2026"}, "effective_to"),
        ({"policy_number": "x" * 65}, "policy_number"),
        ({"policy_number": ""}, "policy_number"),
        ({"insurer": None}, "insurer"),
        ({"status": "expired"}, "status"),
        ({"premium_amount": 0.001}, "premium_amount"),
        ({"premium_amount": True}, "premium_amount"),
        ({"calculation_id": "calc-1"}, "calculation_id"),
        ({"calculation_id": str(uuid.uuid4())}, "calculation_id"),
        ({"documents": "a.pdf"}, "documents"),
    ],
)
def test_policy_bad_input_is_400(owner_client, deal, policy_body, change, field):
    response = owner_client.post(f"{DEALS}/{deal.id}/policies", {**policy_body, **change}, format="json")

    assert_error(response, 400, "validation_error", field)
    assert not Policy.objects.exists()


def test_policy_of_unknown_deal_is_404(owner_client, policy_body):
    assert_error(
        owner_client.post(f"{DEALS}/{uuid.uuid4()}/policies", policy_body, format="json"), 404, "deal_not_found"
    )


def test_policy_retrieve_and_access(api_client, owner_client, manager_client, policy, other_manager, other_tenant):
    foreign = PolicyFactory(deal=DealFactory(tenant=other_tenant))

    assert manager_client.get(f"{POLICIES}/{policy.id}").json()["policy_number"] == "POL-1"
    assert_error(api_client(other_manager).get(f"{POLICIES}/{policy.id}"), 403, "forbidden")
    assert_error(owner_client.get(f"{POLICIES}/{foreign.id}"), 404, "policy_not_found")
    assert_error(owner_client.get(f"{POLICIES}/{uuid.uuid4()}"), 404, "policy_not_found")
    assert_error(owner_client.get(f"{POLICIES}/bad"), 404, "policy_not_found")
    assert_error(owner_client.patch(f"{POLICIES}/bad", {"status": "active"}, format="json"), 404, "policy_not_found")


def test_policy_patch_fields(manager_client, policy):
    response = manager_client.patch(
        f"{POLICIES}/{policy.id}",
        {"effective_to": "2026-06-30", "documents": ["a.pdf"], "premium_amount": 100.1, "coverage_sum": None},
        format="json",
    )

    assert response.status_code == 200, response.content
    policy.refresh_from_db()
    assert (str(policy.effective_to), policy.documents, str(policy.premium_amount)) == (
        "2026-06-30",
        ["a.pdf"],
        "100.10",
    )


def test_policy_patch_effective_to_before_from_is_400(manager_client, policy):
    response = manager_client.patch(f"{POLICIES}/{policy.id}", {"effective_to": "2024-12-31"}, format="json")

    assert_error(response, 400, "validation_error", "effective_to")
    policy.refresh_from_db()
    assert str(policy.effective_to) == "2025-12-31"


def test_colleague_cannot_patch_policy(api_client, policy, other_manager):
    response = api_client(other_manager).patch(f"{POLICIES}/{policy.id}", {"status": "active"}, format="json")

    assert_error(response, 403, "forbidden")
    policy.refresh_from_db()
    assert policy.status == "draft"
