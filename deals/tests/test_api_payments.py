import uuid

import pytest

from deals.models import Payment
from deals.tests.conftest import assert_error
from deals.tests.factories import DealFactory, PaymentFactory, PolicyFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments"


@pytest.fixture
def body(deal, policy):
    return {
        "deal_id": str(deal.id),
        "policy_id": str(policy.id),
        "payment_type": "client_premium",
        "amount": 12345.67,
        "currency": "RUB",
    }


def test_create_is_201_planned_with_the_seed_fields(manager_client, body):
    response = manager_client.post(URL, {**body, "planned_date": "2025-03-15", "notes": "Первый взнос"}, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert {key: data[key] for key in ("deal_id", "policy_id", "payment_type", "amount", "currency", "status")} == {
        **{key: body[key] for key in ("deal_id", "policy_id", "payment_type", "amount", "currency")},
        "status": "planned",
    }
    assert data["external_ref"] is None
    payment = Payment.objects.get(pk=data["id"])
    assert (str(payment.amount), str(payment.planned_date), payment.notes) == ("12345.67", "2025-03-15", "Первый взнос")


def test_unknown_policy_is_404_policy_not_found(owner_client, body, other_tenant):
    foreign = PolicyFactory(deal=DealFactory(tenant=other_tenant))

    for policy_id in (str(uuid.uuid4()), str(foreign.id)):
        assert_error(owner_client.post(URL, {**body, "policy_id": policy_id}, format="json"), 404, "policy_not_found")
    assert not Payment.objects.exists()


def test_unknown_deal_is_404_deal_not_found(owner_client, body, foreign_deal):
    for deal_id in (str(uuid.uuid4()), str(foreign_deal.id)):
        assert_error(owner_client.post(URL, {**body, "deal_id": deal_id}, format="json"), 404, "deal_not_found")
    assert not Payment.objects.exists()


def test_policy_of_another_deal_is_400(owner_client, tenant, body):
    other = PolicyFactory(deal=DealFactory(tenant=tenant))

    response = owner_client.post(URL, {**body, "policy_id": str(other.id)}, format="json")

    assert_error(response, 400, "validation_error", "policy_id")
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "USD"}, "currency"),
        ({"currency": "rub"}, "currency"),
        ({"currency": None}, "currency"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 10.555}, "amount"),
        ({"amount": "12345.67"}, "amount"),
        ({"amount": 1e13}, "amount"),
        ({"payment_type": "bribe"}, "payment_type"),
        ({"deal_id": "deal-1"}, "deal_id"),
        ({"policy_id": 17}, "policy_id"),
        ({"planned_date": "2025-02-29"}, "planned_date"),
        ({"notes": "x" * 10_001}, "notes"),
    ],
)
def test_bad_input_is_400_and_nothing_is_stored(owner_client, body, change, field):
    assert_error(owner_client.post(URL, {**body, **change}, format="json"), 400, "validation_error", field)
    assert not Payment.objects.exists()


def test_manager_cannot_pay_on_a_colleagues_deal(api_client, body, other_manager):
    assert_error(api_client(other_manager).post(URL, body, format="json"), 403, "forbidden")
    assert not Payment.objects.exists()


def test_list_filters_and_visibility(api_client, owner_client, tenant, payment, policy, other_manager):
    received = PaymentFactory(policy=policy, status="received")
    other_deal_payment = PaymentFactory(
        policy=PolicyFactory(deal=DealFactory(tenant=tenant, sales_agent=other_manager))
    )

    def ids(client, query=""):
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()}

    assert ids(owner_client) == {str(payment.id), str(received.id), str(other_deal_payment.id)}
    assert ids(owner_client, f"deal_id={policy.deal_id}") == {str(payment.id), str(received.id)}
    assert ids(owner_client, f"policy_id={policy.id}&status=received") == {str(received.id)}
    assert ids(owner_client, "status=planned,received") == ids(owner_client, "status=planned&status=received")
    assert ids(api_client(other_manager)) == {str(other_deal_payment.id)}


@pytest.mark.parametrize("query", ["status=paid", "deal_id=1", "policy_id=x", "limit=201", "offset=-3"])
def test_bad_list_queries_are_400(owner_client, query):
    assert_error(owner_client.get(f"{URL}?{query}"), 400, "validation_error")


def test_retrieve_and_access(api_client, owner_client, payment, other_manager, other_tenant):
    foreign = PaymentFactory(policy=PolicyFactory(deal=DealFactory(tenant=other_tenant)))

    assert owner_client.get(f"{URL}/{payment.id}").json()["amount"] == 1000.0
    assert_error(api_client(other_manager).get(f"{URL}/{payment.id}"), 403, "forbidden")
    assert_error(owner_client.get(f"{URL}/{foreign.id}"), 404, "payment_not_found")
    assert_error(owner_client.get(f"{URL}/{uuid.uuid4()}"), 404, "payment_not_found")
    assert_error(owner_client.get(f"{URL}/12"), 404, "payment_not_found")
    assert_error(owner_client.patch(f"{URL}/12", {"notes": "x"}, format="json"), 404, "payment_not_found")


def test_patch_fields_and_status(manager_client, payment):
    response = manager_client.patch(
        f"{URL}/{payment.id}",
        {"status": "expected", "external_ref": "pay_123", "planned_date": "2025-04-01", "notes": "Счёт выставлен"},
        format="json",
    )

    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    assert (payment.status, payment.external_ref, str(payment.planned_date)) == ("expected", "pay_123", "2025-04-01")
    assert response.json()["external_ref"] == "pay_123"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"status": "lost"}, "status"), ({"external_ref": 5}, "external_ref"), ({"planned_date": "x"}, "planned_date")],
)
def test_patch_bad_input_is_400(manager_client, payment, change, field):
    assert_error(manager_client.patch(f"{URL}/{payment.id}", change, format="json"), 400, "validation_error", field)


def test_colleague_cannot_patch(api_client, payment, other_manager):
    assert_error(
        api_client(other_manager).patch(f"{URL}/{payment.id}", {"notes": "x"}, format="json"), 403, "forbidden"
    )
