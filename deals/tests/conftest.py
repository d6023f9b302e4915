import pytest

from deals.tests.factories import CalculationFactory, ClientFactory, DealFactory, PaymentFactory, PolicyFactory


@pytest.fixture
def client_obj(tenant):
    return ClientFactory(tenant=tenant, full_name="ООО Ромашка", tax_number="7701234567")


@pytest.fixture
def deal(tenant, client_obj, manager):
    """A draft deal sold by `manager` (so `manager` sees it and `other_manager` does not)."""
    return DealFactory(tenant=tenant, client=client_obj, sales_agent=manager, title="КАСКО Toyota")


@pytest.fixture
def calculation(deal):
    return CalculationFactory(deal=deal)


@pytest.fixture
def policy(deal, calculation):
    return PolicyFactory(deal=deal, calculation=calculation, policy_number="POL-1")


@pytest.fixture
def payment(policy):
    return PaymentFactory(policy=policy)


@pytest.fixture
def foreign_deal(other_tenant):
    return DealFactory(tenant=other_tenant)


@pytest.fixture
def other_client(api_client, other_manager):
    return api_client(other_manager)


def assert_error(response, http_status: int, code: str, field: str | None = None):
    """The envelope with the expected status and code (and, for validation errors, the field named)."""
    assert response.status_code == http_status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code, body
    if field is not None:
        assert field in (body["details"] or {}), body
    return body
