"""The lead page's tasks are edited in place (issue 17): added, changed and completed through the task services.

Each post is the lead's change form as the browser sends it: the lead's own fields, the history inline's
management form and the tasks inline's rows with their management form.
"""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import LogEntry

from crm.tests.factories import TEST_PASSWORD, UserFactory
from pipelines.models import Lead, LeadHistory
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory

pytestmark = pytest.mark.django_db


def _page(lead) -> str:
    return f"/admin/pipelines/lead/{lead.pk}/change/"


def _lead_post(lead, tasks=(), new=()) -> dict:
    """The lead form unchanged, with `tasks` (existing rows: task and its posted values) and `new` rows."""
    lead.refresh_from_db()
    form = {
        "name": lead.name,
        "phone": lead.phone or "",
        "email": lead.email or "",
        "stage": lead.stage_id,
        "assigned_to": lead.assigned_to_id or "",
        "price": "",
        "comment": lead.comment,
        "version": lead.version,
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "tasks-TOTAL_FORMS": str(len(tasks) + len(new)),
        "tasks-INITIAL_FORMS": str(len(tasks)),
    }
    for index, (task, values) in enumerate(tasks):
        form |= {f"tasks-{index}-id": task.pk, f"tasks-{index}-lead": lead.pk, f"tasks-{index}-version": task.version}
        form |= {f"tasks-{index}-{name}": value for name, value in values.items()}
    for index, values in enumerate(new, start=len(tasks)):
        form |= {f"tasks-{index}-lead": lead.pk, **{f"tasks-{index}-{name}": value for name, value in values.items()}}
    return form


def _row(task, **changes) -> dict:
    """An existing task's row as shown (due time in the tenant's zone), with `changes` typed into it."""
    row = {"type": task.type, "status": task.status, "due_at_0": "", "due_at_1": "", "note": task.note}
    if task.assigned_to_id:
        row["assigned_to"] = task.assigned_to_id
    return {**row, **changes}


def _inline(response):
    return next(f for f in response.context["inline_admin_formsets"] if f.formset.model is LeadTask).formset


def test_owner_adds_a_task_on_the_lead_page_in_the_tenant_timezone(client, owner, lead, manager, tenant):
    assert tenant.timezone == "Europe/Moscow"
    client.force_login(owner)
    new = {"type": "meeting", "status": "open", "due_at_0": "2025-01-29", "due_at_1": "14:00"}
    new |= {"note": "Встреча в офисе", "assigned_to": manager.pk}

    response = client.post(_page(lead), _lead_post(lead, new=[new]))

    assert response.status_code == 302
    task = LeadTask.objects.get()
    assert (task.lead, task.type, task.status, task.note) == (lead, "meeting", "open", "Встреча в офисе")
    assert (task.assigned_to, task.created_by, task.tenant_id) == (manager, owner, tenant.pk)
    assert task.due_at == datetime(2025, 1, 29, 11, 0, tzinfo=UTC)  # 14:00 in Moscow
    history = LeadHistory.objects.get(lead=lead, kind="task")
    assert history.user == owner
    assert history.text == f"Задача #{task.pk} создана: встреча, срок 29.01.2025 14:00 — Встреча в офисе"


def test_rop_completes_and_reassigns_a_task_on_the_lead_page(client, rop, lead, manager, other_manager, events):
    task = LeadTaskFactory(lead=lead, assigned_to=manager, note="Перезвонить")
    client.force_login(rop)

    with events.capture():
        response = client.post(
            _page(lead), _lead_post(lead, tasks=[(task, _row(task, status="done", assigned_to=other_manager.pk))])
        )

    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.assigned_to) == ("done", other_manager)
    assert task.completed_at is not None
    assert LeadHistory.objects.get(lead=lead, kind="task").text == (
        f"Задача #{task.pk}: статус: открыта → выполнена; исполнитель: {manager.display_name} → "
        f"{other_manager.display_name}"
    )
    assert [event.event_type for event in events.sent] == ["lead_updated"]


def test_an_unchanged_row_writes_nothing(client, owner, lead):
    task = LeadTaskFactory(lead=lead, note="Перезвонить")
    client.force_login(owner)

    response = client.post(_page(lead), _lead_post(lead, tasks=[(task, _row(task))]))

    assert response.status_code == 302
    assert not LeadHistory.objects.filter(lead=lead, kind="task").exists()
    assert LeadTask.objects.get().version == task.version


def test_another_tenants_user_cannot_be_the_assignee(client, owner, lead, foreign_owner):
    task = LeadTaskFactory(lead=lead, note="Перезвонить")
    client.force_login(owner)
    new = {"type": "call", "status": "open", "note": "Чужому", "assigned_to": foreign_owner.pk}

    response = client.post(
        _page(lead), _lead_post(lead, tasks=[(task, _row(task, assigned_to=foreign_owner.pk))], new=[new])
    )

    assert response.status_code == 200
    rows = _inline(response).forms
    not_offered = ["Выберите корректный вариант. Вашего варианта нет среди допустимых значений."]
    assert rows[0].errors == {"assigned_to": not_offered}
    assert rows[1].errors == {"assigned_to": not_offered}
    assert str(foreign_owner.pk) not in {str(value) for value, _ in rows[0].fields["assigned_to"].choices if value}
    assert LeadTask.objects.get().assigned_to == lead.assigned_to
    assert not LeadHistory.objects.filter(lead=lead, kind="task").exists()


def test_a_new_task_starts_open(client, owner, lead):
    client.force_login(owner)
    new = {"type": "call", "status": "done", "note": "Уже сделано", "assigned_to": owner.pk}

    response = client.post(_page(lead), _lead_post(lead, new=[new]))

    assert response.status_code == 200
    assert _inline(response).forms[0].errors == {"status": ["Новая задача создаётся открытой."]}
    assert not LeadTask.objects.exists()


def test_a_manager_adds_their_own_task_on_their_lead(client, manager, lead):
    assert lead.assigned_to == manager
    client.force_login(manager)
    new = {"type": "call", "status": "open", "due_at_0": "", "due_at_1": "", "note": "Перезвонить завтра"}

    response = client.post(_page(lead), _lead_post(lead, new=[new]))

    assert response.status_code == 302
    task = LeadTask.objects.get()
    assert (task.assigned_to, task.created_by, task.note) == (manager, manager, "Перезвонить завтра")


def test_a_manager_cannot_name_someone_else_as_assignee(client, manager, owner, lead):
    client.force_login(manager)
    new = {"type": "call", "status": "open", "note": "Для владельца", "assigned_to": owner.pk}

    client.post(_page(lead), _lead_post(lead, new=[new]))

    # The assignee is not a field for a manager: the posted value is ignored and the task is their own.
    assert LeadTask.objects.get().assigned_to == manager


def test_a_manager_completes_their_task_on_their_lead(client, manager, lead):
    task = LeadTaskFactory(lead=lead, assigned_to=manager, note="Перезвонить")
    client.force_login(manager)
    row = {"type": "call", "status": "done", "due_at_0": "", "due_at_1": "", "note": "Перезвонил"}

    response = client.post(_page(lead), _lead_post(lead, tasks=[(task, row)]))

    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.note) == ("done", "Перезвонил")


def test_a_refused_row_is_an_error_on_that_row_and_nothing_is_saved(client, manager, owner, lead):
    """A manager may not change a colleague's task on their lead (the service refuses): the page comes back with
    the refusal on that row, the other row's new task and the lead's change are not stored either."""
    mine = LeadTaskFactory(lead=lead, assigned_to=manager, note="Моя")
    owners = LeadTaskFactory(lead=lead, assigned_to=owner, note="Владельца")
    client.force_login(manager)
    rows = [(mine, _row(mine, status="done")), (owners, _row(owners, status="done"))]
    new = {"type": "note", "status": "open", "due_at_0": "", "due_at_1": "", "note": "Новая"}
    form = _lead_post(lead, tasks=rows, new=[new])
    form = {key: value for key, value in form.items() if not key.endswith("-assigned_to")} | {"comment": "Изменён"}

    response = client.post(_page(lead), form)

    assert response.status_code == 200
    inline = _inline(response)
    by_task = {row.instance.pk: row for row in inline.initial_forms}
    assert by_task[owners.pk].non_field_errors() == ["Эта задача закреплена за коллегой."]
    assert by_task[mine.pk].errors == {}
    assert response.context["adminform"].form.errors == {}
    assert "успешно" not in response.content.decode()
    assert set(LeadTask.objects.values_list("pk", "status")) == {(mine.pk, "open"), (owners.pk, "open")}
    assert Lead.objects.get(pk=lead.pk).comment == lead.comment
    assert not LeadHistory.objects.filter(lead=lead, kind="task").exists()
    assert not LogEntry.objects.exists()


def test_a_stale_row_is_refused(client, owner, lead):
    task = LeadTaskFactory(lead=lead, note="Перезвонить")
    opened = _lead_post(lead, tasks=[(task, _row(task, status="done"))])
    LeadTask.objects.filter(pk=task.pk).update(note="Изменено в API", version=task.version + 1)
    client.force_login(owner)

    response = client.post(_page(lead), opened)

    assert response.status_code == 200
    assert _inline(response).forms[0].non_field_errors()
    assert LeadTask.objects.get().status == "open"


def test_a_manager_on_a_colleagues_lead_cannot_add_tasks(client, manager, colleague_lead):
    client.force_login(manager)
    new = {"type": "call", "status": "open", "note": "Чужой лид"}

    response = client.post(_page(colleague_lead), _lead_post(colleague_lead, new=[new]))

    assert response.status_code == 302  # the admin's "not found" redirect: the manager does not see the lead
    assert not LeadTask.objects.exists()


def test_a_deactivated_user_is_not_offered(client, owner, lead, tenant):
    gone = UserFactory(tenant=tenant, role="manager", username="gone", is_active=False)
    client.force_login(owner)

    response = client.get(_page(lead))

    choices = {str(value) for value, _ in _inline(response).empty_form.fields["assigned_to"].choices if value}
    assert str(gone.pk) not in choices
    assert str(owner.pk) in choices


def test_a_superuser_choosing_another_tenants_user_gets_the_services_refusal_on_the_field(client, lead, foreign_owner):
    """A platform superuser is offered every user; the service refuses a user of another tenant, on the row's field."""
    UserFactory(tenant=None, username="root", is_superuser=True, is_staff=True)
    client.login(username="root", password=TEST_PASSWORD)
    new = {"type": "call", "status": "open", "due_at_0": "", "due_at_1": "", "note": "Чужому"}

    response = client.post(_page(lead), _lead_post(lead, new=[new | {"assigned_to": foreign_owner.pk}]))

    assert response.status_code == 200
    assert _inline(response).forms[0].errors == {
        "assigned_to": ["В вашей организации нет активного пользователя с таким id."]
    }
    assert response.context["adminform"].form.errors == {}
    assert not LeadTask.objects.exists()
