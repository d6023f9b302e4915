"""The back-office and versions (SPEC §11): a change form carries its version, and a stale save changes nothing.

Each case opens an object's change form, lets "someone else" change the object through the API, then saves the old
form: the page comes back with the Russian error and the stored object keeps the other change.
"""

import re
from dataclasses import dataclass

import pytest
from django.test import Client as BrowserClient

from conftest import client_for
from deals.models import Client, Deal
from deals.tests.factories import ClientFactory, DealFactory
from pipelines.models import Lead
from tasks.models import LeadTask
from tasks.tests.factories import make_lead

STALE = "Объект изменён другим пользователем"


@dataclass
class Case:
    model: type
    pk: object
    admin_url: str
    api_url: str
    field: str
    form: dict


@pytest.fixture
def browser(owner):
    browser = BrowserClient()
    browser.force_login(owner)
    return browser


@pytest.fixture(params=["lead", "lead_task", "client", "deal"])
def case(request, tenant, owner) -> Case:
    if request.param in ("lead", "lead_task"):
        lead = make_lead(tenant=tenant, assigned_to=owner)
        if request.param == "lead":
            form = {"name": lead.name, "phone": "", "email": lead.email, "stage": lead.stage_id}
            form |= {"assigned_to": owner.pk, "comment": ""}
            return Case(
                Lead, lead.pk, f"/admin/pipelines/lead/{lead.pk}/change/", f"/api/leads/{lead.pk}", "name", form
            )
        task = LeadTask.objects.create(tenant=tenant, lead=lead, assigned_to=owner, note="Позвонить")
        form = {"type": "call", "status": "open", "due_at_0": "", "due_at_1": "", "note": "Позвонить"}
        form |= {"assigned_to": owner.pk}
        return Case(
            LeadTask, task.pk, f"/admin/tasks/leadtask/{task.pk}/change/", f"/api/leads/tasks/{task.pk}", "note", form
        )
    if request.param == "client":
        client = ClientFactory(tenant=tenant, full_name="ООО Ромашка")
        form = {"type": "company", "full_name": client.full_name, "short_name": "", "tax_number": ""}
        form |= {"registration_number": "", "segment": "", "status": "active", "contacts": "[]", "notes": ""}
        return Case(
            Client,
            client.pk,
            f"/admin/deals/client/{client.pk}/change/",
            f"/api/v1/clients/{client.pk}",
            "full_name",
            form,
        )
    deal = DealFactory(tenant=tenant, sales_agent=owner, title="КАСКО")
    form = {"title": deal.title, "description": "", "sales_agent": owner.uuid, "executor": "", "tags": "[]"}
    form |= {"expected_close_date": ""}
    return Case(Deal, deal.pk, f"/admin/deals/deal/{deal.pk}/change/", f"/api/v1/deals/{deal.pk}", "title", form)


def _open(browser, case: Case) -> dict:
    """Open the change form: the version it carries, and the page's inline management forms to post back."""
    page = browser.get(case.admin_url)
    assert page.status_code == 200
    found = re.search(r'<input type="hidden" name="version" value="(\d+)"', page.content.decode())
    assert found, "the change form carries no version"
    posted = {"version": found.group(1)}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        posted |= {f"{management.prefix}-{name}": management[name].value() for name in management.fields}
    return posted


def _stored(case: Case):
    obj = case.model.objects.get(pk=case.pk)
    return obj.version, getattr(obj, case.field)


def test_a_stale_change_form_says_so_and_changes_nothing(browser, owner, case):
    opened = _open(browser, case)
    assert opened["version"] == "1"
    other = client_for(owner).patch(case.api_url, {case.field: "Правка из API"}, format="json")
    assert other.status_code == 200
    before = _stored(case)

    response = browser.post(case.admin_url, {**case.form, **opened, case.field: "Правка из формы"})

    assert response.status_code == 200
    assert STALE in response.content.decode()
    assert _stored(case) == before == (2, "Правка из API")


def test_a_current_change_form_saves_as_a_new_version(browser, case):
    opened = _open(browser, case)

    response = browser.post(case.admin_url, {**case.form, **opened, case.field: "Правка из формы"})

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert _stored(case) == (2, "Правка из формы")
    assert _open(browser, case)["version"] == "2"


def test_a_deal_status_action_refuses_an_unconfirmed_client_in_russian(browser, tenant, owner):
    deal = DealFactory(
        tenant=tenant, client=ClientFactory(tenant=tenant, status="potential"), sales_agent=owner, status="issuing"
    )

    response = browser.post(
        "/admin/deals/deal/", {"action": "move_to_active", "_selected_action": [str(deal.pk)]}, follow=True
    )

    page = response.content.decode()
    assert "не подтверждён" in page
    assert "precondition" not in page.lower()
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.status, stored.version) == ("issuing", 1)
