"""Every /api/v1 list runs a constant number of queries whatever the page size (SPEC §4)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.tests.factories import (
    CalculationFactory,
    ClientFactory,
    DealFactory,
    DealTaskFactory,
    JournalEntryFactory,
    PaymentFactory,
    PolicyFactory,
)

pytestmark = pytest.mark.django_db

# The user behind the token, COUNT(*), one page of rows; sub-collections also load the deal.
LIST_QUERIES = 3
SUBCOLLECTION_QUERIES = 4


@pytest.fixture
def world(tenant, manager, owner):
    deals = [DealFactory(tenant=tenant, sales_agent=manager, executor=owner) for _ in range(12)]
    deal = deals[0]
    ClientFactory.create_batch(12, tenant=tenant)
    JournalEntryFactory.create_batch(12, deal=deal, author=manager)
    calculation = CalculationFactory(deal=deal)
    CalculationFactory.create_batch(11, deal=deal)
    policy = PolicyFactory(deal=deal, calculation=calculation)
    PolicyFactory.create_batch(11, deal=deal)
    PaymentFactory.create_batch(12, policy=policy)
    DealTaskFactory.create_batch(12, tenant=tenant, assignee=manager, deal=deal)
    return deal


def lists(deal):
    return [
        ("/api/v1/clients", LIST_QUERIES),
        ("/api/v1/clients?search=ромашка&status=active", LIST_QUERIES),
        ("/api/v1/deals", LIST_QUERIES),
        ("/api/v1/deals?search=каско&status=draft,active", LIST_QUERIES),
        ("/api/v1/payments?status=planned", LIST_QUERIES),
        ("/api/v1/tasks?priority=normal", LIST_QUERIES),
        (f"/api/v1/deals/{deal.id}/journal", SUBCOLLECTION_QUERIES),
        (f"/api/v1/deals/{deal.id}/calculations", SUBCOLLECTION_QUERIES),
        (f"/api/v1/deals/{deal.id}/policies", SUBCOLLECTION_QUERIES),
    ]


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_lists_run_a_constant_number_of_queries(api_client, world, request, role, django_assert_max_num_queries):
    client = api_client(request.getfixturevalue(role))
    for url, expected in lists(world):
        counts = []
        for limit in (2, 10):
            separator = "&" if "?" in url else "?"
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"{url}{separator}limit={limit}")
            assert response.status_code == 200, (url, response.content)
            assert len(response.json()) == limit, url
            counts.append(len(queries))
        assert counts[0] == counts[1], (url, counts)
        with django_assert_max_num_queries(expected):
            client.get(f"{url}{separator}limit=10")
