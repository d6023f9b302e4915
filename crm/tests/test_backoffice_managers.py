"""A manager's day in the back-office (issue 17): log in, work the own leads, today's tasks and deals.

Managers are not Django staff; the site admits them (crm.admin_base.may_enter_backoffice) and each admin opens to
them only what `manager_permissions` names, on the rows the API would show them.
"""

from datetime import timedelta

import pytest
from django.test import Client as BrowserClient
from django.utils import timezone

from crm.tests.factories import TEST_PASSWORD, UserFactory
from deals.models import Deal
from deals.tests.factories import ClientFactory, DealFactory
from pipelines.models import Lead
from pipelines.services import default_pipeline_ensure, lead_create
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory

pytestmark = pytest.mark.django_db
INLINES = {"history-TOTAL_FORMS": "0", "history-INITIAL_FORMS": "0", "tasks-TOTAL_FORMS": "0"}
INLINES |= {"tasks-INITIAL_FORMS": "0"}


@pytest.fixture
def browser(manager):
    browser = BrowserClient()
    browser.force_login(manager)
    return browser


def test_a_manager_logs_in_with_the_admin_form(client, manager):
    response = client.post("/admin/login/", {"username": "manager", "password": TEST_PASSWORD, "next": "/admin/"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("change", [{"is_active": False}, {"role": "admin"}])
def test_an_inactive_user_or_a_non_staff_supervisor_still_may_not(client, tenant, change):
    UserFactory(tenant=tenant, username="someone", **change)

    response = client.post("/admin/login/", {"username": "someone", "password": TEST_PASSWORD})

    assert response.status_code == 200
    assert [error.code for error in response.context["form"].non_field_errors().as_data()] == ["invalid_login"]
    assert "_auth_user_id" not in client.session


def test_a_lead_added_by_a_manager_is_theirs_and_they_cannot_reassign_it(browser, tenant, manager, owner):
    pipeline, _ = default_pipeline_ensure(tenant=tenant)
    stage = pipeline.stages.order_by("order_index").first()
    form = {"name": "Новый", "phone": "", "email": "n@acme.test", "source": "manual", "stage": stage.pk}

    add_page = browser.get("/admin/pipelines/lead/add/")
    response = browser.post("/admin/pipelines/lead/add/", {**form, "comment": "", **INLINES})

    assert "assigned_to" not in add_page.context["adminform"].form.fields
    assert response.status_code == 302
    lead = Lead.objects.get(name="Новый")
    assert lead.assigned_to == manager
    # A posted assignee is not a field of the manager's form: ignored, the lead stays theirs.
    changed = browser.post(
        f"/admin/pipelines/lead/{lead.pk}/change/",
        {**form, "name": "Переименован", "assigned_to": owner.pk, "comment": "", **INLINES},
    )
    assert changed.status_code == 302
    lead.refresh_from_db()
    assert (lead.name, lead.assigned_to) == ("Переименован", manager)


def test_today_lists_only_the_managers_tasks_due_today(browser, tenant, manager, owner):
    lead = lead_create(tenant=tenant, name="Лид", phone=None, email="l@acme.test", assigned_to=manager)
    today = timezone.now().astimezone(tenant.tzinfo).replace(hour=12, minute=0)
    mine = LeadTaskFactory(lead=lead, assigned_to=manager, due_at=today, note="Моя")
    LeadTaskFactory(lead=lead, assigned_to=manager, due_at=today + timedelta(days=3), note="Потом")
    LeadTaskFactory(lead=lead, assigned_to=owner, due_at=today, note="Владельца")

    listing = browser.get("/admin/tasks/leadtask/", {"due": "today"})

    assert [task.pk for task in listing.context["cl"].result_list] == [mine.pk]


def test_a_manager_moves_their_deal_but_not_a_colleagues(browser, tenant, manager, owner):
    client = ClientFactory(tenant=tenant)
    mine = DealFactory(tenant=tenant, client=client, sales_agent=manager, title="Моя")
    theirs = DealFactory(tenant=tenant, client=client, sales_agent=owner, title="Чужая")

    browser.post(
        "/admin/deals/deal/", {"action": "move_to_estimating", "_selected_action": [str(mine.pk), str(theirs.pk)]}
    )

    assert dict(Deal.objects.values_list("title", "status")) == {"Моя": "estimating", "Чужая": "draft"}
    page = browser.get(f"/admin/deals/deal/{mine.pk}/change/")
    assert page.status_code == 200
    assert {"sales_agent", "executor"}.isdisjoint(page.context["adminform"].form.fields)


def test_a_managers_task_cannot_be_given_to_a_colleague(browser, tenant, manager, owner):
    lead = lead_create(tenant=tenant, name="Лид", phone=None, email="l@acme.test", assigned_to=manager)
    task = LeadTaskFactory(lead=lead, assigned_to=manager, note="Позвонить")
    form = {"type": "call", "status": "open", "due_at_0": "", "due_at_1": "", "note": "Перезвонить"}

    response = browser.post(f"/admin/tasks/leadtask/{task.pk}/change/", {**form, "assigned_to": owner.pk})

    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.note, task.assigned_to) == ("Перезвонить", manager)
    assert LeadTask.objects.count() == 1
