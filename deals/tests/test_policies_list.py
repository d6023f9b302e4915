"""`GET /api/v1/policies` (SPEC §13): the register of every policy, ending first, with filters; `renewal_deal_id`."""

import datetime
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import Policy
from deals.tests.conftest import assert_error
from deals.tests.factories import ClientFactory, DealFactory, PolicyFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/policies"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


def policy_ending(deal, day: str, **fields) -> Policy:
    ends = datetime.date.fromisoformat(day)
    return PolicyFactory(deal=deal, effective_from=ends - datetime.timedelta(days=365), effective_to=ends, **fields)


@pytest.fixture
def register(tenant, manager, other_manager, deal):
    """Policies of `manager`'s deal and of a colleague's deal with another client, ends in no particular order."""
    colleague_deal = DealFactory(tenant=tenant, sales_agent=other_manager, client=ClientFactory(tenant=tenant))
    return {
        "late": policy_ending(deal, "2026-09-01", status="active", insurer="Ингосстрах"),
        "early": policy_ending(deal, "2026-01-15", status="renewal_due", insurer="РЕСО"),
        "middle": policy_ending(colleague_deal, "2026-05-01", status="draft", insurer="СОГАЗ"),
        "closed": policy_ending(colleague_deal, "2026-03-01", status="closed", insurer="ингосстрах"),
    }


def test_the_list_is_an_array_ending_first_with_the_total_header(owner_client, register):
    response = owner_client.get(URL)

    assert ids(response) == [str(register[name].id) for name in ("early", "closed", "middle", "late")]
    assert response["X-Total-Count"] == "4"
    row = response.json()[0]
    assert row["policy_number"] == register["early"].policy_number
    assert row["status"] == "renewal_due"
    assert row["effective_to"] == "2026-01-15"
    assert row["renewal_deal_id"] is None


def test_equal_end_dates_are_ordered_by_id(owner_client, deal):
    same_day = [policy_ending(deal, "2026-04-01") for _ in range(4)]

    assert ids(owner_client.get(URL)) == sorted(str(policy.id) for policy in same_day)


def test_pages_follow_the_order_with_link_headers(owner_client, register):
    first = owner_client.get(f"{URL}?limit=2")
    second = owner_client.get(f"{URL}?limit=2&offset=2")

    assert ids(first) + ids(second) == [str(register[n].id) for n in ("early", "closed", "middle", "late")]
    assert 'rel="next"' in first["Link"]
    assert 'rel="prev"' in second["Link"]


def test_a_manager_sees_only_the_policies_of_their_deals(manager_client, register):
    response = manager_client.get(URL)

    assert ids(response) == [str(register["early"].id), str(register["late"].id)]
    assert response["X-Total-Count"] == "2"


def test_an_executor_manager_sees_the_deals_policies_too(api_client, tenant, other_manager, register, deal):
    deal.executor = other_manager
    deal.save(update_fields=["executor"])

    assert len(ids(api_client(other_manager).get(URL))) == 4


def test_another_tenants_policies_are_never_listed(owner_client, foreign_deal, register):
    foreign = PolicyFactory(deal=foreign_deal)

    listed = ids(owner_client.get(URL))

    assert str(foreign.id) not in listed
    assert len(listed) == 4


def test_a_foreign_owner_sees_none_of_ours(api_client, foreign_owner, register):
    response = api_client(foreign_owner).get(URL)

    assert ids(response) == []
    assert response["X-Total-Count"] == "0"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("status=active", ["late"]),
        ("status=active&status=draft", ["middle", "late"]),
        ("status=active,renewal_due", ["early", "late"]),
        pytest.param(
            "insurer=ИНГОССТРАХ",
            ["closed", "late"],
            marks=pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite folds the case of ASCII only"),
        ),
        ("effective_to_from=2026-03-01", ["closed", "middle", "late"]),
        ("effective_to_to=2026-03-01", ["early", "closed"]),
        ("effective_to_from=2026-03-02&effective_to_to=2026-09-01", ["middle", "late"]),
        ("effective_to_from=2026-09-02", []),
    ],
)
def test_filters(owner_client, register, query, names):
    assert ids(owner_client.get(f"{URL}?{query}")) == [str(register[name].id) for name in names]


def test_filter_by_deal_and_client(owner_client, register, deal):
    other_client_id = register["middle"].deal.client_id

    assert ids(owner_client.get(f"{URL}?deal_id={deal.id}")) == [str(register[n].id) for n in ("early", "late")]
    assert ids(owner_client.get(f"{URL}?client_id={other_client_id}")) == [
        str(register[n].id) for n in ("closed", "middle")
    ]
    assert ids(owner_client.get(f"{URL}?deal_id={uuid.uuid4()}")) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=expired", "status"),
        ("deal_id=42", "deal_id"),
        ("client_id=not-a-uuid", "client_id"),
        ("effective_to_from=2026-02-30", "effective_to_from"),
        ("effective_to_to=01.03.2026", "effective_to_to"),
        ("effective_to_from=tomorrow", "effective_to_from"),
        ("insurer=" + "x" * 256, "insurer"),
        ("limit=0", None),
        ("limit=201", None),
        ("offset=-1", None),
    ],
)
def test_bad_filters_are_400(owner_client, register, query, field):
    assert_error(owner_client.get(f"{URL}?{query}"), 400, "validation_error", field)


def test_a_renewal_deal_shows_on_its_policy_in_every_rendering(owner_client, deal, register):
    renewed = register["late"]
    renewal = DealFactory(tenant=deal.tenant, client=deal.client, sales_agent=deal.sales_agent, renews_policy=renewed)

    listed = {row["id"]: row["renewal_deal_id"] for row in owner_client.get(URL).json()}
    assert listed[str(renewed.id)] == str(renewal.id)
    assert listed[str(register["early"].id)] is None
    assert owner_client.get(f"{URL}/{renewed.id}").json()["renewal_deal_id"] == str(renewal.id)
    by_deal = owner_client.get(f"/api/v1/deals/{deal.id}/policies").json()
    assert {row["id"]: row["renewal_deal_id"] for row in by_deal}[str(renewed.id)] == str(renewal.id)
    patched = owner_client.patch(f"{URL}/{renewed.id}", {"documents": ["a.pdf"]}, format="json")
    assert patched.json()["renewal_deal_id"] == str(renewal.id)
    assert owner_client.get(f"/api/v1/deals/{renewal.id}").json()["renews_policy_id"] == str(renewed.id)


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_the_list_runs_three_queries_whatever_the_page(api_client, request, role, deal, django_assert_num_queries):
    policies = [policy_ending(deal, f"2026-0{1 + n % 9}-1{n % 10}") for n in range(12)]
    for renewed in policies[:5]:
        DealFactory(tenant=deal.tenant, client=deal.client, sales_agent=deal.sales_agent, renews_policy=renewed)
    client = api_client(request.getfixturevalue(role))
    query = "status=draft&effective_to_from=2026-01-01&insurer=Ингосстрах"

    counts = []
    for limit in (2, 12):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{URL}?{query}&limit={limit}")
        assert len(ids(response)) == limit
        counts.append(len(queries))
    # The user behind the token, COUNT(*), one page of policies with their renewal deals.
    assert counts == [3, 3]
    with django_assert_num_queries(3):
        client.get(URL)
