"""SPEC §15 task visibility: a manager's tasks are the tasks assigned to them; a lead's list is every task of it."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from pipelines.models import LeadHistory
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory

pytestmark = pytest.mark.django_db


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["tasks"]]


def _snapshot(task: LeadTask) -> tuple:
    task.refresh_from_db()
    return task.status, task.due_at, task.note, task.assigned_to_id, task.updated_at


@pytest.fixture
def tasks(lead, colleague_lead, foreign_lead, manager, other_manager, owner):
    """Tasks of every kind around `manager`: theirs and others', on their lead and on a colleague's."""
    return {
        "mine_on_my_lead": LeadTaskFactory(lead=lead, assigned_to=manager),
        "colleagues_on_my_lead": LeadTaskFactory(lead=lead, assigned_to=other_manager),
        "owners_on_my_lead": LeadTaskFactory(lead=lead, assigned_to=owner),
        "mine_on_colleagues_lead": LeadTaskFactory(lead=colleague_lead, assigned_to=manager),
        "colleagues_on_colleagues_lead": LeadTaskFactory(lead=colleague_lead, assigned_to=other_manager),
        "foreign": LeadTaskFactory(lead=foreign_lead),
    }


def test_task_list_of_a_manager_is_the_tasks_assigned_to_them(manager_client, tasks):
    assert _ids(manager_client.get("/api/tasks")) == [tasks["mine_on_my_lead"].pk, tasks["mine_on_colleagues_lead"].pk]
    assert manager_client.get("/api/tasks").json()["total"] == 2


def test_task_list_of_a_supervisor_is_the_whole_tenant(owner_client, tasks):
    foreign = tasks.pop("foreign")

    ids = _ids(owner_client.get("/api/tasks"))

    assert sorted(ids) == sorted(task.pk for task in tasks.values())
    assert foreign.pk not in ids


def test_lead_task_list_shows_every_task_of_a_lead_the_manager_may_see(manager_client, lead, tasks):
    ids = _ids(manager_client.get(f"/api/leads/{lead.pk}/tasks"))

    assert sorted(ids) == sorted(
        tasks[name].pk for name in ("mine_on_my_lead", "colleagues_on_my_lead", "owners_on_my_lead")
    )


def test_lead_task_list_filters_still_apply_to_the_whole_lead(manager_client, lead, tasks, other_manager):
    response = manager_client.get(f"/api/leads/{lead.pk}/tasks?assigned_to_user_id={other_manager.pk}")

    assert _ids(response) == [tasks["colleagues_on_my_lead"].pk]


def test_lead_task_list_of_a_colleagues_lead_is_403_even_with_a_task_of_mine_on_it(
    manager_client, colleague_lead, tasks
):
    response = manager_client.get(f"/api/leads/{colleague_lead.pk}/tasks")

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_lead_task_list_of_another_tenants_lead_is_404(manager_client, foreign_lead, tasks):
    response = manager_client.get(f"/api/leads/{foreign_lead.pk}/tasks")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_manager_opens_and_changes_their_task_on_a_lead_they_may_not_open(manager_client, tasks, colleague_lead):
    task = tasks["mine_on_colleagues_lead"]

    opened = manager_client.get(f"/api/leads/tasks/{task.pk}")
    changed = manager_client.patch(
        f"/api/leads/tasks/{task.pk}",
        {"status": "done", "due_at": "2026-03-02T10:00:00+00:00", "note": "Перезвонил"},
        format="json",
    )

    assert opened.status_code == 200
    assert opened.json()["id"] == task.pk
    assert changed.status_code == 200, changed.json()
    assert changed.json()["status"] == "done"
    task.refresh_from_db()
    assert (task.status, task.due_at, task.note) == ("done", datetime(2026, 3, 2, 10, tzinfo=UTC), "Перезвонил")
    assert task.completed_at is not None
    # The lead itself stays closed to them.
    assert manager_client.get(f"/api/leads/{colleague_lead.pk}").status_code == 403


@pytest.mark.parametrize("name", ["colleagues_on_my_lead", "owners_on_my_lead", "colleagues_on_colleagues_lead"])
def test_someone_elses_task_is_403_to_a_manager_and_unchanged(manager_client, tasks, name):
    task = tasks[name]
    before = _snapshot(task)

    opened = manager_client.get(f"/api/leads/tasks/{task.pk}")
    changed = manager_client.patch(f"/api/leads/tasks/{task.pk}", {"status": "done", "note": "чужая"}, format="json")

    assert (opened.status_code, opened.json()["error"]) == (403, "forbidden")
    assert (changed.status_code, changed.json()["error"]) == (403, "forbidden")
    assert _snapshot(task) == before
    assert not LeadHistory.objects.filter(kind="task").exists()


@pytest.mark.parametrize("client_fixture", ["manager_client", "owner_client"])
def test_another_tenants_task_is_404_and_unchanged(request, tasks, client_fixture):
    client = request.getfixturevalue(client_fixture)
    task = tasks["foreign"]
    before = _snapshot(task)

    opened = client.get(f"/api/leads/tasks/{task.pk}")
    changed = client.patch(f"/api/leads/tasks/{task.pk}", {"status": "done"}, format="json")

    assert (opened.status_code, opened.json()["error"]) == (404, "not_found")
    assert (changed.status_code, changed.json()["error"]) == (404, "not_found")
    assert _snapshot(task) == before


def test_a_task_of_mine_does_not_open_the_lead_for_new_tasks(manager_client, colleague_lead, tasks):
    response = manager_client.post(f"/api/leads/{colleague_lead.pk}/tasks", {"type": "call"}, format="json")

    assert response.status_code == 403
    assert LeadTask.objects.filter(lead=colleague_lead).count() == 2


@pytest.mark.parametrize("rows", [2, 20])
def test_query_counts_do_not_grow_with_the_tasks(
    manager_client, manager, lead, colleague_lead, other_manager, rows, django_assert_num_queries
):
    for _ in range(rows):
        LeadTaskFactory(lead=colleague_lead, assigned_to=manager)
        LeadTaskFactory(lead=lead, assigned_to=other_manager)

    # auth user + tenant, then the page with its total: one statement on PostgreSQL, the count and the page elsewhere
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        assert len(_ids(manager_client.get("/api/tasks"))) == rows
    # auth user + tenant, the lead (visibility), the page with its total (the count and the page off PostgreSQL)
    with django_assert_num_queries(3 if connection.vendor == "postgresql" else 4):
        assert len(_ids(manager_client.get(f"/api/leads/{lead.pk}/tasks"))) == rows
