"""Renewals in the back-office (SPEC §13): the «Полисы» list with its renewal filters and the «Начать продление»
action, the payments' overdue filter, and the dashboard's renewals-and-overdue panel."""

import datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client as BrowserClient

from deals.dashboard import renewals_and_overdue, renewals_panel
from deals.models import Deal
from deals.tests.factories import DealFactory, PaymentFactory, PolicyFactory

pytestmark = pytest.mark.django_db

POLICIES = "/admin/deals/policy/"
PAYMENTS = "/admin/deals/payment/"
# 2026-03-31 22:00 UTC is already 1 April in Moscow (the tenant's default timezone).
NOW = datetime.datetime(2026, 3, 31, 22, 0, tzinfo=datetime.UTC)
TODAY = datetime.date(2026, 4, 1)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def browser(owner):
    browser = BrowserClient()
    browser.force_login(owner)
    return browser


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def ending(deal, ends: datetime.date, status: str = "active", **fields):
    return PolicyFactory(deal=deal, effective_from=ends - 365 * DAY, effective_to=ends, status=status, **fields)


def listed(browser, url, params=None) -> set:
    response = browser.get(url, params or {})
    assert response.status_code == 200, response.content[:300]
    return {row.pk for row in response.context["cl"].result_list}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def calendar(deal, frozen):
    """Policies around the tenant's today (1 April 2026 in Moscow, still 31 March in UTC)."""
    return {
        "ended": ending(deal, TODAY - DAY),
        "today": ending(deal, TODAY),
        "day20": ending(deal, TODAY + 20 * DAY),
        "day30": ending(deal, TODAY + 30 * DAY),
        "day31": ending(deal, TODAY + 31 * DAY),
        "day60": ending(deal, TODAY + 60 * DAY, status="renewal_due"),
        "day90": ending(deal, TODAY + 90 * DAY),
        "day91": ending(deal, TODAY + 91 * DAY),
        "draft": ending(deal, TODAY + 5 * DAY, status="draft"),
        "closed": ending(deal, TODAY + 5 * DAY, status="closed"),
    }


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("30", {"today", "day20", "day30"}),
        ("60", {"today", "day20", "day30", "day31", "day60"}),
        ("90", {"today", "day20", "day30", "day31", "day60", "day90"}),
        ("due", {"day60"}),
        # April: day30 is already 1 May.
        ("month", {"today", "day20"}),
    ],
)
def test_the_renewal_filters_count_days_from_the_tenants_today(browser, calendar, value, names):
    assert listed(browser, POLICIES, {"renewal": value}) == {calendar[name].pk for name in names}


def test_the_month_filter_leaves_out_policies_already_being_renewed(browser, calendar, deal):
    DealFactory(tenant=deal.tenant, client=deal.client, sales_agent=deal.sales_agent, renews_policy=calendar["today"])

    assert listed(browser, POLICIES, {"renewal": "month"}) == {calendar["day20"].pk}


@pytest.mark.parametrize("params", [{"renewal": "45"}, {"renewal": ""}, {"overdue": "no"}])
def test_an_unknown_filter_value_is_400(browser, calendar, params):
    url = PAYMENTS if "overdue" in params else POLICIES
    assert browser.get(url, params).status_code == 400


def test_the_policies_list_is_titled_and_links_the_renewal_deal(browser, calendar, deal):
    renewal = DealFactory(
        tenant=deal.tenant, client=deal.client, sales_agent=deal.sales_agent, renews_policy=calendar["today"]
    )

    page = browser.get(POLICIES).content.decode()

    assert "Полисы" in page
    assert f'href="/admin/deals/deal/{renewal.pk}/change/"' in page
    assert "Начать продление" in page


def test_the_action_renews_each_selected_policy_and_reports_each_row(browser, deal, owner, frozen):
    active = ending(deal, TODAY + 10 * DAY, policy_number="A-1")
    draft = ending(deal, TODAY + 10 * DAY, status="draft", policy_number="D-1")
    data = {"action": "start_renewal", "_selected_action": [active.pk, draft.pk]}

    response = browser.post(POLICIES, data, follow=True)

    assert response.status_code == 200
    renewal = Deal.objects.get(renews_policy=active)
    assert (renewal.status, renewal.title, renewal.sales_agent_id) == (
        "draft",
        "Продление: КАСКО Toyota",
        deal.sales_agent_id,
    )
    assert not Deal.objects.filter(renews_policy=draft).exists()
    assert messages_of(response) == [
        "«D-1»: Продлить можно только действующий полис, а этот — «Черновик».",
        "Начато продление полисов: «A-1».",
    ]

    again = browser.post(POLICIES, {"action": "start_renewal", "_selected_action": [active.pk]}, follow=True)

    assert messages_of(again) == ["«A-1»: Продление уже начато."]
    assert Deal.objects.filter(renews_policy=active).count() == 1


def test_two_policies_of_one_deal_meet_the_open_title_rule_in_russian(browser, deal, frozen):
    first = ending(deal, TODAY + 10 * DAY, policy_number="A-1")
    second = ending(deal, TODAY + 10 * DAY, policy_number="A-2")

    response = browser.post(
        POLICIES, {"action": "start_renewal", "_selected_action": [first.pk, second.pk]}, follow=True
    )

    renewed = Deal.objects.get(renews_policy__in=[first, second]).renews_policy
    refused = second if renewed == first else first
    assert messages_of(response) == [
        f"«{refused}»: У клиента уже есть открытая сделка «Продление: КАСКО Toyota».",
        f"Начато продление полисов: «{renewed}».",
    ]


def test_the_overdue_filter_lists_planned_and_expected_payments_past_their_date(browser, deal, frozen):
    policy = ending(deal, TODAY + 100 * DAY)
    overdue = [
        PaymentFactory(policy=policy, status=status, planned_date=TODAY - DAY) for status in ("planned", "expected")
    ]
    PaymentFactory(policy=policy, status="planned", planned_date=TODAY)
    PaymentFactory(policy=policy, status="received", planned_date=TODAY - DAY)
    PaymentFactory(policy=policy, status="planned", planned_date=None)

    assert listed(browser, PAYMENTS, {"overdue": "yes"}) == {payment.pk for payment in overdue}


def test_the_dashboard_counts_renewals_this_month_and_overdue_payments(
    tenant, other_tenant, calendar, deal, foreign_deal, django_assert_num_queries
):
    PaymentFactory(policy=calendar["today"], status="expected", planned_date=TODAY - 2 * DAY)
    PaymentFactory(policy=calendar["today"], status="cancelled", planned_date=TODAY - 2 * DAY)
    ending(foreign_deal, TODAY + DAY)
    PaymentFactory(policy=ending(foreign_deal, TODAY + 200 * DAY), planned_date=TODAY - DAY)

    with django_assert_num_queries(1):
        counts = renewals_and_overdue(tenant=tenant)

    assert counts == (2, 1)


def test_the_panel_shows_both_counts_and_links_the_filtered_lists(tenant, calendar, browser):
    panel = renewals_panel(request=None, tenant=tenant)

    assert panel.title == "Продления и просроченные платежи"
    assert [tuple(row) for row in panel.table_rows] == [("Продлить в этом месяце", "2"), ("Платежи просрочены", "0")]
    assert [url for _label, url in panel.links] == [
        "/admin/deals/policy/?renewal=month",
        "/admin/deals/payment/?overdue=yes",
    ]
    assert '<svg class="chart"' in panel.chart
    # The lists it links to show those rows.
    assert len(listed(browser, "/admin/deals/policy/", {"renewal": "month"})) == 2


def test_the_dashboard_page_shows_the_panel(browser, calendar):
    page = browser.get("/admin/dashboard/").content.decode()

    assert "Продления и просроченные платежи" in page
    assert "/admin/deals/policy/?renewal=month" in page
    assert "/admin/deals/payment/?overdue=yes" in page
