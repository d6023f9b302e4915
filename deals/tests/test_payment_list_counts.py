"""The payment list's counted fast path (deals.payment_page.CountedPaymentPage): a supervisor's plain, status- or
type-filtered page with an exact `X-Total-Count` (SPEC §4) from the trigger-kept PaymentCount on PostgreSQL, and
from an exact count on SQLite.

The ORM path is the general list (the viewset's queryset, filterset and model instances), reached here by switching
the fast path off, and each payment's own detail: the fast path must answer both byte for byte.
"""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from crm.tests.factories import UserFactory
from deals.api.views import payments as payment_views
from deals.models import Payment, PaymentCount
from deals.payment_page import CountedPaymentPage, counted_payment_page
from deals.tests.factories import DealFactory, PaymentFactory, PolicyFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments"
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the counters are PostgreSQL triggers")


@pytest.fixture
def payments(tenant, other_tenant) -> list[Payment]:
    """Payments as unlike each other as the list's fields allow, in every status and type, plus a foreign one."""
    agent = UserFactory(tenant=tenant, role="manager", username="payments_agent")
    policy = PolicyFactory(deal=DealFactory(tenant=tenant, sales_agent=agent))
    other_policy = PolicyFactory(deal=DealFactory(tenant=tenant, sales_agent=agent))
    rows = [
        PaymentFactory(
            policy=policy,
            payment_type="commission_income",
            status="received",
            planned_date=datetime.date(9999, 12, 31),
            amount=Decimal("999999999999.99"),
            external_ref="pay-" + "я" * 200,
            notes='Строка 1\nстрока "2"\t\\ 😀',
            received_at=datetime.date(2025, 1, 1),
        ),
        PaymentFactory(policy=policy, amount=Decimal("0.01"), planned_date=None),
        PaymentFactory(
            policy=other_policy,
            payment_type="executor_fee",
            status="paid_out",
            planned_date=datetime.date(1, 1, 1),
            received_at=datetime.date(2025, 1, 2),
            paid_out_at=datetime.date(2025, 1, 3),
        ),
        PaymentFactory(policy=other_policy, payment_type="client_discount", status="cancelled"),
        PaymentFactory(policy=other_policy, status="expected", planned_date=datetime.date(2000, 2, 29)),
    ]
    # Two payments created in the same microsecond: the id breaks the tie, in both paths.
    twin_moment = datetime.datetime(2020, 2, 29, 12, 0, 0, 1, tzinfo=datetime.UTC)
    twins = PaymentFactory.create_batch(2, policy=policy)
    Payment.objects.filter(pk__in=[twin.pk for twin in twins]).update(created_at=twin_moment, updated_at=twin_moment)
    oldest = PaymentFactory(policy=other_policy)
    Payment.objects.filter(pk=oldest.pk).update(
        created_at=datetime.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC), version=2_147_483_647
    )
    PaymentFactory(policy=PolicyFactory(deal=DealFactory(tenant=other_tenant)))
    return [*rows, *twins, oldest]


def through_orm(monkeypatch):
    monkeypatch.setattr(payment_views, "counted_payment_page", lambda **kwargs: None)


def without_rate_limit(headers) -> dict:
    # The RateLimit-* headers count the requests themselves: the second of the pair has one fewer left.
    return {key: value for key, value in headers.items() if not key.startswith("RateLimit-")}


QUERIES = [
    "limit=200",
    "limit=3&offset=2",
    "limit=3&offset=6",
    "offset=100",
    "status=planned,received&limit=2",
    "status=planned&status=cancelled&payment_type=client_premium,client_discount",
    "payment_type=executor_fee",
    "status=paid_out&payment_type=client_premium",
]


@pytest.mark.parametrize("by_id_from", [0, CountedPaymentPage.BY_ID_FROM])
@pytest.mark.parametrize("query", QUERIES)
def test_the_fast_path_answers_as_the_orm_path_byte_for_byte(
    owner, owner_client, payments, query, by_id_from, monkeypatch
):
    # 0: every page by ids first, as deep offsets are read.
    monkeypatch.setattr(CountedPaymentPage, "BY_ID_FROM", by_id_from)
    assert counted_payment_page(user=owner, query_params=QueryDict(query)) is not None, "not the fast path"

    fast = owner_client.get(f"{URL}?{query}")
    through_orm(monkeypatch)
    orm = owner_client.get(f"{URL}?{query}")

    assert fast.status_code == orm.status_code == 200
    assert fast.content == orm.content
    assert fast.has_header("X-Total-Count")
    assert without_rate_limit(fast.headers) == without_rate_limit(orm.headers)


def test_every_payment_is_listed_as_its_detail_shows_it(owner_client, payments, tenant):
    response = owner_client.get(f"{URL}?limit=200")

    rows = response.json()
    expected = Payment.objects.filter(tenant=tenant).order_by("-created_at", "-id").values_list("pk", flat=True)
    assert [row["id"] for row in rows] == [str(pk) for pk in expected]
    assert response["X-Total-Count"] == str(len(payments))
    for row in rows:
        assert row == owner_client.get(f"{URL}/{row['id']}").json(), row["id"]


@pytest.mark.parametrize(
    ("query", "total"),
    [
        ("", 8),
        ("status=planned", 4),
        ("status=planned,expected", 5),
        ("payment_type=client_premium", 5),
        ("status=received&payment_type=commission_income", 1),
        ("status=received&payment_type=client_premium", 0),
    ],
)
def test_the_total_is_exact_for_each_status_and_type(owner_client, payments, query, total):
    response = owner_client.get(f"{URL}?{query}&limit=1")

    assert response.status_code == 200
    assert response["X-Total-Count"] == str(total)
    assert len(response.json()) == min(total, 1)


@pytest.mark.parametrize(
    ("query", "total"),
    [
        # Filters the counters know nothing of: the matching rows are counted.
        ("planned_date_from=2000-01-01", 2),  # 9999-12-31 and 2000-02-29; payments without a date never match
        ("planned_date_to=2000-12-31&status=expected", 1),
        ("overdue=true", 1),  # planned or expected before today: the expected one of 2000-02-29
        ("overdue=false", 7),
        ("limit=200&status=planned&overdue=false", 4),
    ],
)
def test_filters_the_counters_cannot_serve_keep_the_exact_total(owner_client, payments, query, total):
    expected = owner_client.get(f"{URL}?{query}&limit=200")

    assert expected.status_code == 200
    assert expected["X-Total-Count"] == str(len(expected.json()))
    assert expected["X-Total-Count"] == str(total)


def test_a_managers_list_is_their_deals_payments_with_the_exact_total(api_client, manager, payments, tenant):
    mine = PaymentFactory(policy=PolicyFactory(deal=DealFactory(tenant=tenant, sales_agent=manager)))

    response = api_client(manager).get(URL)

    assert [row["id"] for row in response.json()] == [str(mine.id)]
    assert response["X-Total-Count"] == "1"


@pytest.mark.parametrize("query", ["status=paid", "payment_type=cash", "status=planned,bogus", "limit=0"])
def test_bad_filters_answer_the_filtersets_400(owner_client, payments, query, monkeypatch):
    fast = owner_client.get(f"{URL}?{query}")
    through_orm(monkeypatch)
    orm = owner_client.get(f"{URL}?{query}")

    assert fast.status_code == orm.status_code == 400
    assert fast.content == orm.content


@pytest.mark.parametrize("query", ["", "status=planned", "payment_type=client_premium,executor_fee"])
def test_the_statement_count_does_not_grow_with_the_page(owner_client, tenant, query):
    PaymentFactory.create_batch(12, policy=PolicyFactory(deal=DealFactory(tenant=tenant)))
    counts = []
    for limit in (1, 12):
        with CaptureQueriesContext(connection) as queries:
            response = owner_client.get(f"{URL}?{query}&limit={limit}")
        assert len(response.json()) == limit
        counts.append(len(queries))

    # The user behind the token, then the page with its total: one statement on PostgreSQL, two on SQLite.
    expected = 2 if connection.vendor == "postgresql" else 3
    assert counts == [expected, expected]


def counters(tenant) -> dict:
    rows = PaymentCount.objects.filter(tenant=tenant, count__gt=0)
    return {(row.status, row.payment_type): row.count for row in rows}


def recount(tenant) -> dict:
    rows = Payment.objects.filter(tenant=tenant).values("status", "payment_type").annotate(n=Count("id"))
    return {(row["status"], row["payment_type"]): row["n"] for row in rows}


@on_postgresql
def test_counters_follow_creates_changes_deletes_and_tenants(owner_client, tenant, other_tenant, payments):
    assert counters(tenant) == recount(tenant)
    assert counters(other_tenant) == {("planned", "client_premium"): 1}
    policy = payments[1].policy

    created = owner_client.post(
        URL,
        {
            "deal_id": str(policy.deal_id),
            "policy_id": str(policy.id),
            "payment_type": "executor_fee",
            "amount": 5,
            "currency": "RUB",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    moved = owner_client.patch(f"{URL}/{payments[1].id}", {"status": "expected"}, format="json")
    assert moved.status_code == 200, moved.content
    Payment.objects.filter(pk=payments[3].pk).update(payment_type="client_premium", status="planned")
    Payment.objects.filter(pk=payments[4].pk).delete()
    Payment.objects.filter(pk=payments[5].pk).update(tenant=other_tenant)

    assert counters(tenant) == recount(tenant)
    assert counters(other_tenant) == recount(other_tenant)
    listed = owner_client.get(URL)
    assert listed["X-Total-Count"] == str(Payment.objects.filter(tenant=tenant).count())

    Payment.objects.filter(deal=payments[0].deal).delete()
    assert counters(tenant) == recount(tenant)
