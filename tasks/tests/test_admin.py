"""The tasks back-office: tenant-scoped changelist with its filters, writes through the services, lead inline."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
from django.utils import timezone

from crm.tests.factories import TEST_PASSWORD, UserFactory
from pipelines.models import Lead, LeadHistory
from pipelines.services import lead_create
from tasks.admin import LeadTaskInline
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory

CHANGELIST = "/admin/tasks/leadtask/"


@pytest.fixture
def staff_client(client, owner):
    client.login(username="owner", password=TEST_PASSWORD)
    return client


def _listed(response) -> set[int]:
    assert response.status_code == 200
    return {task.pk for task in response.context["cl"].result_list}


def test_owner_sees_only_own_tenant_tasks(staff_client, lead, foreign_lead):
    own = LeadTaskFactory(lead=lead)
    LeadTaskFactory(lead=foreign_lead)

    assert _listed(staff_client.get(CHANGELIST)) == {own.pk}


def test_superuser_sees_every_tenant(client, lead, foreign_lead):
    UserFactory(tenant=None, username="root", is_superuser=True, is_staff=True)
    client.login(username="root", password=TEST_PASSWORD)
    tasks = {LeadTaskFactory(lead=lead).pk, LeadTaskFactory(lead=foreign_lead).pk}

    assert _listed(client.get(CHANGELIST)) == tasks


def test_changelist_filters(staff_client, lead, owner):
    now = timezone.now()
    overdue = LeadTaskFactory(lead=lead, due_at=now - timedelta(days=2))
    in_three_days = LeadTaskFactory(lead=lead, due_at=now + timedelta(days=3), type="meeting")
    bosses = LeadTaskFactory(lead=lead, assigned_to=owner, status="cancelled")

    assert _listed(staff_client.get(CHANGELIST, {"due": "overdue"})) == {overdue.pk}
    assert _listed(staff_client.get(CHANGELIST, {"due": "week"})) == {in_three_days.pk}
    assert _listed(staff_client.get(CHANGELIST, {"type__exact": "meeting"})) == {in_three_days.pk}
    assert _listed(staff_client.get(CHANGELIST, {"status__exact": "cancelled"})) == {bosses.pk}
    assert _listed(staff_client.get(CHANGELIST, {"assigned_to__id__exact": owner.pk})) == {bosses.pk}


def test_adding_a_task_goes_through_the_service(staff_client, lead, owner, manager):
    response = staff_client.post(
        f"{CHANGELIST}add/",
        {
            "lead": lead.pk,
            "type": "call",
            "due_at_0": "2025-01-29",
            "due_at_1": "14:00",
            "note": "Из админки",
            "assigned_to": manager.pk,
        },
    )

    assert response.status_code == 302
    task = LeadTask.objects.get()
    assert (task.assigned_to, task.created_by, task.status, task.tenant_id) == (manager, owner, "open", lead.tenant_id)
    assert LeadHistory.objects.filter(lead=lead, kind="task", user=owner).count() == 1


def test_a_foreign_lead_cannot_be_chosen(staff_client, foreign_lead, manager):
    response = staff_client.post(
        f"{CHANGELIST}add/", {"lead": foreign_lead.pk, "type": "call", "note": "", "assigned_to": manager.pk}
    )

    assert response.status_code == 200  # the form comes back with an error
    assert not LeadTask.objects.exists()


def test_marking_done_in_the_admin_sets_completed_at(staff_client, lead, manager):
    task = LeadTaskFactory(lead=lead, note="Перезвонить")

    response = staff_client.post(
        f"{CHANGELIST}{task.pk}/change/",
        {
            "type": "call",
            "status": "done",
            "due_at_0": "",
            "due_at_1": "",
            "note": "Перезвонить",
            "assigned_to": manager.pk,
        },
    )

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "done"
    assert task.completed_at is not None
    assert LeadHistory.objects.get(lead=lead, kind="task").text == f"Задача #{task.pk}: статус: открыта → выполнена"


def test_the_lead_page_shows_its_tasks_inline(staff_client, lead):
    assert LeadTaskInline in admin.site.get_model_admin(Lead).inlines
    LeadTaskFactory(lead=lead, note="Встреча в офисе")

    response = staff_client.get(f"/admin/pipelines/lead/{lead.pk}/change/")

    assert response.status_code == 200
    assert "Встреча в офисе" in response.content.decode()


def test_the_add_page_shows_no_label_for_a_foreign_lead(staff_client, lead, foreign_lead, owner):
    """`?lead=<id>` prefills the lead field: a foreign id (ids are sequential) must not reveal its lead."""
    foreign_lead.name = "Секретный чужой лид"
    foreign_lead.save()
    before = list(LeadTask.objects.values_list("pk", flat=True))

    foreign = staff_client.get(
        f"{CHANGELIST}add/", {"lead": foreign_lead.pk, "assigned_to": foreign_lead.assigned_to_id}
    )
    own = staff_client.get(f"{CHANGELIST}add/", {"lead": lead.pk})

    assert foreign.status_code == 200
    assert "Секретный чужой лид" not in foreign.content.decode()
    assert foreign_lead.email not in foreign.content.decode()
    # The foreign lead and the foreign assignee are dropped; the assignee is the author, as in the API.
    assert foreign.context["adminform"].form.initial == {"assigned_to": owner.pk}
    assert f'<option value="{lead.pk}" selected>{lead.name}</option>' in own.content.decode()  # the own label
    assert list(LeadTask.objects.values_list("pk", flat=True)) == before


def test_an_unnamed_foreign_lead_shows_no_email_either(staff_client, other_tenant, foreign_owner):
    # A webhook lead without a name is labelled by its phone or email.
    unnamed = lead_create(
        tenant=other_tenant, name="", phone=None, email="secret.person@globex.test", assigned_to=foreign_owner
    )

    page = staff_client.get(f"{CHANGELIST}add/", {"lead": unnamed.pk}).content.decode()

    assert "secret.person@globex.test" not in page


@pytest.mark.parametrize("params", [{"due": "someday"}, {"lead__name__icontains": "Петров"}])
def test_an_unknown_filter_or_bucket_is_a_400(staff_client, lead, params):
    LeadTaskFactory(lead=lead)

    assert staff_client.get(CHANGELIST, params).status_code == 400


def test_the_admin_reads_and_shows_times_in_the_tenant_timezone(staff_client, lead, manager, tenant):
    """SPEC §15: 14:00 typed in a Moscow tenant's admin is 11:00 UTC, and the page shows 14:00 again."""
    assert tenant.timezone == "Europe/Moscow"
    form = {"lead": lead.pk, "type": "call", "due_at_0": "2025-01-29", "due_at_1": "14:00", "note": ""}

    staff_client.post(f"{CHANGELIST}add/", {**form, "assigned_to": manager.pk})

    task = LeadTask.objects.get()
    assert task.due_at == datetime(2025, 1, 29, 11, 0, tzinfo=UTC)
    page = staff_client.get(f"{CHANGELIST}{task.pk}/change/").content.decode()
    assert 'name="due_at_1" value="14:00:00"' in page


def test_the_lead_page_links_a_new_task_with_the_lead_chosen(staff_client, lead):
    page = staff_client.get(f"/admin/pipelines/lead/{lead.pk}/change/").content.decode()
    assert f'href="/admin/tasks/leadtask/add/?lead={lead.pk}">Добавить задачу по этому лиду</a>' in page

    add = staff_client.get("/admin/tasks/leadtask/add/", {"lead": lead.pk})

    # An autocomplete select (no raw id box) with the lead already chosen, by its name.
    widget = str(add.context["adminform"].form["lead"])
    assert 'data-ajax--url="/admin/autocomplete/"' in widget
    assert f'<option value="{lead.pk}" selected>{lead.name}</option>' in widget


def test_a_manager_sees_every_task_of_their_lead_on_its_page(client, lead, manager, owner):
    Lead.objects.filter(pk=lead.pk).update(assigned_to=manager)
    mine = LeadTaskFactory(lead=lead, assigned_to=manager, note="Моя")
    owners = LeadTaskFactory(lead=lead, assigned_to=owner, note="Владельца")
    client.force_login(manager)

    page = client.get(f"/admin/pipelines/lead/{lead.pk}/change/")

    inline = next(f for f in page.context["inline_admin_formsets"] if f.formset.model is LeadTask)
    assert {form.instance.pk for form in inline.formset.forms} == {mine.pk, owners.pk}
