"""A deal's calculations, policies, payments and tasks in the back-office: added from the deal's page, written by
the services (state machines, the confirmed-client rule, unique numbers), refusals shown on their fields."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client as BrowserClient

from deals.models import Calculation, DealTask, Payment, Policy
from deals.tests.factories import ClientFactory, DealFactory, PaymentFactory, PolicyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(owner):
    browser = BrowserClient()
    browser.force_login(owner)
    return browser


def _policy_form(deal, **changes) -> dict:
    form = {"deal": deal.pk, "calculation": "", "policy_number": "П-100", "insurer": "Ингосстрах"}
    form |= {"program_name": "", "status": "draft", "effective_from": "2026-01-01", "effective_to": "2026-12-31"}
    return {**form, "premium_amount": "125000.50", "coverage_sum": "", **changes}


def test_the_deal_page_links_its_objects_add_pages_with_the_deal_chosen(browser, deal):
    page = browser.get(f"/admin/deals/deal/{deal.pk}/change/").content.decode()
    for url, label in (
        ("calculation", "Добавить расчёт"),
        ("policy", "Добавить полис"),
        ("payment", "Добавить платёж"),
        ("dealtask", "Добавить задачу"),
    ):
        assert f'href="/admin/deals/{url}/add/?deal={deal.pk}">{label}</a>' in page

    add = browser.get("/admin/deals/calculation/add/", {"deal": deal.pk})
    assert f'<option value="{deal.pk}" selected>{deal.title}</option>' in str(add.context["adminform"].form["deal"])


def test_a_calculation_is_added_through_the_service_and_leads_back_to_the_deal(browser, deal):
    form = {"deal": deal.pk, "insurance_company": "Ингосстрах", "program_name": "", "premium_amount": "9900"}
    form |= {"coverage_sum": "", "calculation_date": "2026-12-01", "valid_from": "", "valid_to": "", "comments": ""}

    response = browser.post("/admin/deals/calculation/add/", form)

    assert response["Location"] == f"/admin/deals/deal/{deal.pk}/change/"
    calculation = Calculation.objects.get()
    assert (calculation.deal, calculation.tenant_id, calculation.premium_amount) == (deal, deal.tenant_id, 9900)


def test_a_refused_calculation_keeps_the_input(browser, deal):
    form = {"deal": deal.pk, "insurance_company": "Ингосстрах", "program_name": "", "premium_amount": "9900"}
    form |= {"coverage_sum": "", "calculation_date": "2026-12-01", "valid_from": "2026-12-31", "valid_to": "2026-01-01"}

    response = browser.post("/admin/deals/calculation/add/", {**form, "comments": ""})

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.non_field_errors()  # the model's validity constraint, before the service's same rule
    assert form["valid_from"].value() == "2026-12-31"
    assert not Calculation.objects.exists()


def test_a_policy_number_taken_is_an_error_on_the_number(browser, deal):
    PolicyFactory(deal=deal, policy_number="П-100")

    response = browser.post("/admin/deals/policy/add/", _policy_form(deal))

    assert response.context["adminform"].form.errors == {"policy_number": ["П-100 is taken."]}
    assert Policy.objects.count() == 1
    assert not LogEntry.objects.exists()


def test_an_active_policy_needs_a_confirmed_client(browser, tenant, manager):
    deal = DealFactory(tenant=tenant, client=ClientFactory(tenant=tenant, status="potential"), sales_agent=manager)

    refused = browser.post("/admin/deals/policy/add/", _policy_form(deal, status="active"))
    created = browser.post("/admin/deals/policy/add/", _policy_form(deal))

    assert "не подтверждён" in refused.context["adminform"].form.non_field_errors()[0]
    assert created["Location"] == f"/admin/deals/deal/{deal.pk}/change/"
    assert list(Policy.objects.values_list("status", "premium_amount")) == [("draft", Decimal("125000.50"))]


def test_a_payment_moves_by_its_state_machine(browser, deal):
    payment = PaymentFactory(policy=PolicyFactory(deal=deal))
    url = f"/admin/deals/payment/{payment.pk}/change/"
    form = {"planned_date": "", "external_ref": "PAY-1", "notes": ""}

    received = browser.post(url, {**form, "status": "received"})
    back = browser.post(url, {**form, "status": "planned"})

    assert received.status_code == 302
    assert back.context["adminform"].form.errors == {"status": ["Allowed from received: paid_out."]}
    payment.refresh_from_db()
    assert (payment.status, payment.external_ref, payment.version) == ("received", "PAY-1", 2)


def test_a_payment_is_planned_from_the_deal_page(browser, deal):
    policy = PolicyFactory(deal=deal)
    form = {"deal": deal.pk, "policy": policy.pk, "payment_type": "client_premium", "amount": "1500"}

    response = browser.post("/admin/deals/payment/add/", {**form, "planned_date": "2026-12-20", "notes": ""})

    assert response["Location"] == f"/admin/deals/deal/{deal.pk}/change/"
    assert list(Payment.objects.values_list("status", "amount", "deal")) == [("planned", 1500, deal.pk)]


def test_a_deal_task_is_added_and_worked(browser, deal, owner):
    form = {"deal": deal.pk, "subject": "Запросить ПТС", "description": "Скан", "assignee": owner.uuid}

    browser.post("/admin/deals/dealtask/add/", {**form, "due_date": "", "priority": "normal"})
    task = DealTask.objects.get()
    changed = browser.post(
        f"/admin/deals/dealtask/{task.pk}/change/",
        {**form, "due_date": "", "priority": "high", "status": "in_progress"},
    )

    assert changed.status_code == 302
    task.refresh_from_db()
    assert (task.deal, task.created_by, task.priority, task.status) == (deal, owner, "high", "in_progress")
    assert task.started_at is not None
