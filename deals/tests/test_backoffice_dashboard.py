"""Dashboard selectors of the deals app: deals by status, premiums and commissions planned vs received per month."""

import datetime
from decimal import Decimal

from deals.dashboard import add_months, deals_by_status, payments_per_month
from deals.tests.factories import DealFactory, PaymentFactory, PolicyFactory


def test_deals_by_status_counts_every_status_of_the_tenant(tenant, other_tenant, owner):
    DealFactory.create_batch(2, tenant=tenant, sales_agent=owner)
    DealFactory(tenant=tenant, sales_agent=owner, status="active")
    DealFactory(tenant=other_tenant)
    counts = deals_by_status(tenant=tenant)
    assert counts["draft"] == 2
    assert counts["active"] == 1
    assert counts["closed"] == 0


def test_payments_planned_vs_received_per_month(tenant, owner, other_tenant, django_assert_num_queries):
    policy = PolicyFactory(deal=DealFactory(tenant=tenant, sales_agent=owner))
    today = datetime.date(2025, 6, 15)

    def pay(amount, status, planned, kind="client_premium"):
        PaymentFactory(policy=policy, amount=Decimal(amount), status=status, planned_date=planned, payment_type=kind)

    pay("100.00", "planned", datetime.date(2025, 6, 1))
    pay("50.00", "received", datetime.date(2025, 6, 20))
    pay("25.00", "paid_out", datetime.date(2025, 5, 3))
    pay("999.00", "cancelled", datetime.date(2025, 6, 2))
    pay("7.00", "received", datetime.date(2025, 6, 2), kind="commission_income")
    PaymentFactory(policy=PolicyFactory(deal=DealFactory(tenant=other_tenant)), planned_date=datetime.date(2025, 6, 1))
    with django_assert_num_queries(1):
        months = payments_per_month(tenant=tenant, payment_type="client_premium", today=today)
    by_month = {month: (planned, received) for month, planned, received in months}
    assert by_month[datetime.date(2025, 6, 1)] == (150.0, 50.0)
    assert by_month[datetime.date(2025, 5, 1)] == (25.0, 25.0)
    assert months[0][0] == datetime.date(2024, 10, 1)
    assert months[-1][0] == datetime.date(2025, 9, 1)
    commissions = payments_per_month(tenant=tenant, payment_type="commission_income", today=today)
    assert {m: r for m, _, r in commissions}[datetime.date(2025, 6, 1)] == 7.0


def test_add_months_crosses_years():
    assert add_months(datetime.date(2025, 11, 1), 3) == datetime.date(2026, 2, 1)
    assert add_months(datetime.date(2025, 1, 1), -1) == datetime.date(2024, 12, 1)
