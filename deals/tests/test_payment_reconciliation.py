"""Payment reconciliation (SPEC §13): `received_at` / `paid_out_at` and the new filters of `GET /api/v1/payments`.

"Today" is the tenant's: the tests run with tenants far east (UTC+14) and far west (UTC-11) of UTC, so at any hour
of the day at least one of them has a calendar date other than the server's UTC date.
"""

import datetime
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import Payment
from deals.tests.conftest import assert_error
from deals.tests.factories import DealFactory, PaymentFactory, PolicyFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments"
FAR_ZONES = ["Pacific/Kiritimati", "Pacific/Pago_Pago"]
DAY = datetime.timedelta(days=1)


def tenant_today(zone: str) -> datetime.date:
    return datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date()


@pytest.fixture(params=FAR_ZONES)
def zone(request, tenant):
    tenant.timezone = request.param
    tenant.save(update_fields=["timezone"])
    return request.param


@pytest.fixture
def body(deal, policy):
    return {
        "deal_id": str(deal.id),
        "policy_id": str(policy.id),
        "payment_type": "client_premium",
        "amount": 500.0,
        "currency": "RUB",
    }


def patch(client, payment, data):
    return client.patch(f"{URL}/{payment.id}", data, format="json")


# --- the two dates in the JSON and in writes ---


def test_new_payment_has_both_dates_null(manager_client, body):
    response = manager_client.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["received_at"], data["paid_out_at"]) == (None, None)
    assert manager_client.get(f"{URL}/{data['id']}").json()["received_at"] is None
    assert [row["paid_out_at"] for row in manager_client.get(URL).json()] == [None]


def test_dates_given_on_create_are_stored_and_rendered(manager_client, body):
    response = manager_client.post(
        URL, {**body, "received_at": "2025-03-01", "paid_out_at": "2025-03-05"}, format="json"
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["status"], data["received_at"], data["paid_out_at"]) == ("planned", "2025-03-01", "2025-03-05")
    payment = Payment.objects.get(pk=data["id"])
    assert (payment.received_at, payment.paid_out_at) == (datetime.date(2025, 3, 1), datetime.date(2025, 3, 5))


@pytest.mark.parametrize("field", ["received_at", "paid_out_at"])
@pytest.mark.parametrize("value", ["2025-02-30", "01.03.2025", "03/01/2025", 20250301, "", True])
def test_bad_date_on_create_is_400_and_nothing_is_stored(owner_client, body, field, value):
    assert_error(owner_client.post(URL, {**body, field: value}, format="json"), 400, "validation_error", field)
    assert not Payment.objects.exists()


@pytest.mark.parametrize("field", ["received_at", "paid_out_at"])
@pytest.mark.parametrize("value", ["2025-02-30", "yesterday", 7, ["2025-01-01"]])
def test_bad_date_on_patch_is_400_and_changes_nothing(manager_client, payment, field, value):
    response = patch(manager_client, payment, {"status": "received", "notes": "x", field: value})

    assert_error(response, 400, "validation_error", field)
    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.status, stored.notes, stored.received_at, stored.paid_out_at, stored.version) == (
        "planned",
        "",
        None,
        None,
        payment.version,
    )


def test_patch_sets_and_clears_the_dates_without_a_transition(manager_client, payment):
    response = patch(manager_client, payment, {"received_at": "2025-06-10", "paid_out_at": "2025-06-20"})

    assert response.status_code == 200, response.content
    assert (response.json()["received_at"], response.json()["paid_out_at"]) == ("2025-06-10", "2025-06-20")
    assert response.json()["status"] == "planned"

    response = patch(manager_client, payment, {"received_at": None})

    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    assert (payment.received_at, payment.paid_out_at) == (None, datetime.date(2025, 6, 20))


# --- transitions stamp today in the tenant's timezone ---


@pytest.mark.parametrize("start", ["planned", "expected"])
def test_move_to_received_sets_received_at_to_the_tenants_today(manager_client, policy, zone, start):
    payment = PaymentFactory(policy=policy, status=start)

    before = tenant_today(zone)
    response = patch(manager_client, payment, {"status": "received"})
    after = tenant_today(zone)

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "received"
    assert data["received_at"] in {before.isoformat(), after.isoformat()}
    assert data["paid_out_at"] is None
    payment.refresh_from_db()
    assert payment.received_at.isoformat() == data["received_at"]


def test_move_to_paid_out_sets_paid_out_at_and_keeps_received_at(manager_client, policy, zone):
    payment = PaymentFactory(policy=policy, status="received", received_at=datetime.date(2025, 1, 15))

    before = tenant_today(zone)
    response = patch(manager_client, payment, {"status": "paid_out"})
    after = tenant_today(zone)

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["paid_out_at"] in {before.isoformat(), after.isoformat()}
    assert data["received_at"] == "2025-01-15"
    payment.refresh_from_db()
    assert (payment.status, payment.paid_out_at.isoformat()) == ("paid_out", data["paid_out_at"])


def test_other_transitions_set_no_date(manager_client, policy):
    expected = PaymentFactory(policy=policy)
    cancelled = PaymentFactory(policy=policy)

    assert patch(manager_client, expected, {"status": "expected"}).json()["received_at"] is None
    data = patch(manager_client, cancelled, {"status": "cancelled"}).json()
    assert (data["received_at"], data["paid_out_at"]) == (None, None)


def test_date_given_in_the_same_patch_wins(manager_client, policy, zone):
    payment = PaymentFactory(policy=policy, status="expected")

    response = patch(manager_client, payment, {"status": "received", "received_at": "2024-12-31"})

    assert response.status_code == 200, response.content
    assert response.json()["received_at"] == "2024-12-31"

    response = patch(manager_client, payment, {"status": "paid_out", "paid_out_at": "2025-01-09"})

    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    assert (payment.status, payment.received_at, payment.paid_out_at) == (
        "paid_out",
        datetime.date(2024, 12, 31),
        datetime.date(2025, 1, 9),
    )


def test_explicit_null_in_the_same_patch_wins_too(manager_client, payment):
    response = patch(manager_client, payment, {"status": "received", "received_at": None})

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["received_at"]) == ("received", None)


def test_no_op_status_patch_does_not_restamp(manager_client, policy):
    payment = PaymentFactory(policy=policy, status="received", received_at=datetime.date(2025, 2, 2))
    version = payment.version

    response = patch(manager_client, payment, {"status": "received"})

    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    assert (payment.received_at, payment.version) == (datetime.date(2025, 2, 2), version)


def test_refused_transition_stamps_nothing(manager_client, payment):
    assert_error(patch(manager_client, payment, {"status": "paid_out"}), 400, "invalid_status_transition")

    payment.refresh_from_db()
    assert (payment.status, payment.paid_out_at) == ("planned", None)


# --- the new list filters ---


def ids(client, query=""):
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()}


def as_ids(*payments):
    return {str(payment.id) for payment in payments}


def test_payment_type_filter(owner_client, policy):
    premium = PaymentFactory(policy=policy, payment_type="client_premium")
    commission = PaymentFactory(policy=policy, payment_type="commission_income")
    fee = PaymentFactory(policy=policy, payment_type="executor_fee")

    assert ids(owner_client, "payment_type=commission_income") == as_ids(commission)
    assert ids(owner_client, "payment_type=client_premium,executor_fee") == as_ids(premium, fee)
    assert ids(owner_client, "payment_type=client_discount") == set()
    assert ids(owner_client, "payment_type=executor_fee&status=planned") == as_ids(fee)


def test_planned_date_range_is_inclusive(owner_client, policy):
    march_1 = PaymentFactory(policy=policy, planned_date=datetime.date(2025, 3, 1))
    march_15 = PaymentFactory(policy=policy, planned_date=datetime.date(2025, 3, 15))
    march_31 = PaymentFactory(policy=policy, planned_date=datetime.date(2025, 3, 31))
    april_1 = PaymentFactory(policy=policy, planned_date=datetime.date(2025, 4, 1))
    undated = PaymentFactory(policy=policy, planned_date=None)

    assert ids(owner_client, "planned_date_from=2025-03-01&planned_date_to=2025-03-31") == as_ids(
        march_1, march_15, march_31
    )
    assert ids(owner_client, "planned_date_from=2025-03-15") == as_ids(march_15, march_31, april_1)
    assert ids(owner_client, "planned_date_to=2025-03-15") == as_ids(march_1, march_15)
    assert ids(owner_client, "planned_date_from=2025-03-16&planned_date_to=2025-03-30") == set()
    assert ids(owner_client, "planned_date_from=2025-04-01&planned_date_to=2025-03-01") == set()
    assert str(undated.id) in ids(owner_client)


def test_overdue_uses_the_tenants_today(owner_client, policy, zone):
    today = tenant_today(zone)
    overdue_planned = PaymentFactory(policy=policy, status="planned", planned_date=today - DAY)
    overdue_expected = PaymentFactory(policy=policy, status="expected", planned_date=today - 30 * DAY)
    due_today = PaymentFactory(policy=policy, status="planned", planned_date=today)
    due_tomorrow = PaymentFactory(policy=policy, status="expected", planned_date=today + DAY)
    late_but_received = PaymentFactory(policy=policy, status="received", planned_date=today - DAY)
    late_but_cancelled = PaymentFactory(policy=policy, status="cancelled", planned_date=today - DAY)
    undated = PaymentFactory(policy=policy, status="planned", planned_date=None)

    if tenant_today(zone) != today:  # midnight passed in the tenant's zone during the test: the sets shift by a day
        pytest.skip("The tenant's date changed while the test ran.")
    assert ids(owner_client, "overdue=true") == as_ids(overdue_planned, overdue_expected)
    assert ids(owner_client, "overdue=false") == as_ids(
        due_today, due_tomorrow, late_but_received, late_but_cancelled, undated
    )
    assert ids(owner_client, "overdue=true&status=expected") == as_ids(overdue_expected)
    assert ids(owner_client, "overdue=") == ids(owner_client)


def test_filters_combine(owner_client, policy, zone):
    today = tenant_today(zone)
    hit = PaymentFactory(
        policy=policy, payment_type="commission_income", status="expected", planned_date=today - 3 * DAY
    )
    PaymentFactory(policy=policy, payment_type="client_premium", status="expected", planned_date=today - 3 * DAY)
    PaymentFactory(policy=policy, payment_type="commission_income", status="expected", planned_date=today - 40 * DAY)
    PaymentFactory(policy=policy, payment_type="commission_income", status="received", planned_date=today - 3 * DAY)

    query = (
        f"payment_type=commission_income&overdue=true&planned_date_from={(today - 10 * DAY).isoformat()}"
        f"&planned_date_to={today.isoformat()}"
    )
    assert ids(owner_client, query) == as_ids(hit)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("payment_type=bribe", "payment_type"),
        ("payment_type=client_premium,bribe", "payment_type"),
        ("payment_type=CLIENT_PREMIUM", "payment_type"),
        ("planned_date_from=2025-02-30", "planned_date_from"),
        ("planned_date_from=01.03.2025", "planned_date_from"),
        ("planned_date_to=03/01/2025", "planned_date_to"),
        ("planned_date_to=2025-13-01", "planned_date_to"),
        ("planned_date_to=tomorrow", "planned_date_to"),
        ("overdue=yes", "overdue"),
        ("overdue=1", "overdue"),
        ("overdue=True", "overdue"),
    ],
)
def test_bad_filter_values_are_400(owner_client, payment, query, field):
    assert_error(owner_client.get(f"{URL}?{query}"), 400, "validation_error", field)


def test_manager_sees_only_their_deals_payments_with_the_filters(api_client, manager, tenant, policy, other_manager):
    today = tenant_today(tenant.timezone)
    mine = PaymentFactory(policy=policy, payment_type="executor_fee", planned_date=today - 2 * DAY)
    colleagues = PaymentFactory(
        policy=PolicyFactory(deal=DealFactory(tenant=tenant, sales_agent=other_manager)),
        payment_type="executor_fee",
        planned_date=today - 2 * DAY,
    )
    window = f"planned_date_from={(today - 5 * DAY).isoformat()}&planned_date_to={today.isoformat()}"

    for query in ("payment_type=executor_fee", "overdue=true", window):
        assert ids(api_client(manager), query) == as_ids(mine), query
        assert ids(api_client(other_manager), query) == as_ids(colleagues), query


def test_filtered_list_runs_a_constant_number_of_queries(
    api_client, owner, manager, tenant, policy, django_assert_max_num_queries
):
    today = tenant_today(tenant.timezone)
    PaymentFactory.create_batch(
        12, policy=policy, payment_type="commission_income", status="expected", planned_date=today - 3 * DAY
    )
    query = (
        f"payment_type=commission_income&overdue=true&planned_date_from={(today - 10 * DAY).isoformat()}"
        f"&planned_date_to={today.isoformat()}"
    )
    for user in (owner, manager):
        client = api_client(user)
        counts = []
        for limit in (2, 10):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"{URL}?{query}&limit={limit}")
            assert response.status_code == 200, response.content
            assert len(response.json()) == limit
            assert response["X-Total-Count"] == "12"
            counts.append(len(queries))
        assert counts[0] == counts[1], counts
        # The user behind the token, COUNT(*), one page of rows (as every v1 list, SPEC §4).
        with django_assert_max_num_queries(3):
            client.get(f"{URL}?{query}&limit=10")
