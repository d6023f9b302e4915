"""`GET/POST /api/leads/{lead_id}/tasks` and `GET/PATCH /api/leads/tasks/{task_id}`."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection

from crm.tests.factories import UserFactory
from pipelines.models import LeadHistory
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory

FIELDS = {
    "id",
    "lead_id",
    "type",
    "status",
    "due_at",
    "note",
    "assigned_to_user_id",
    "created_by_user_id",
    "completed_at",
    "created_at",
    "updated_at",
    "version",
}


def _stored():
    return LeadTask.objects.count(), LeadHistory.objects.filter(kind="task").count()


# ---------------------------------------------------------------- create


def test_manager_creates_a_task_on_their_lead_assigned_to_themself(manager, manager_client, lead, events):
    with events.capture():
        response = manager_client.post(
            f"/api/leads/{lead.pk}/tasks",
            {"type": "call", "due_at": "2025-01-29T14:00:00", "note": "Перезвонить"},
        )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert body["lead_id"] == lead.pk
    assert body["type"] == "call"
    assert body["status"] == "open"
    assert body["due_at"] == "2025-01-29T14:00:00+03:00"  # naive input read in the tenant's Europe/Moscow
    assert body["note"] == "Перезвонить"
    assert body["assigned_to_user_id"] == manager.pk
    assert body["created_by_user_id"] == manager.pk
    assert body["completed_at"] is None
    task = LeadTask.objects.get(pk=body["id"])
    assert task.tenant_id == lead.tenant_id
    assert task.due_at == datetime(2025, 1, 29, 11, 0, tzinfo=UTC)
    history = LeadHistory.objects.get(lead=lead, kind="task")
    assert history.user == manager
    assert history.payload == {"task_id": task.pk}
    assert "звонок" in history.text
    assert "29.01.2025 14:00" in history.text
    assert [(e.event_type, e.lead_id, e.tenant_id) for e in events.sent] == [("lead_updated", lead.pk, lead.tenant_id)]
    assert manager.pk in events.sent[0].assignee_ids


def test_seed_example_body_without_assignee_assigns_the_caller(owner, owner_client, lead):
    response = owner_client.post(
        f"/api/leads/{lead.pk}/tasks", {"type": "call", "due_at": "2025-01-29T15:00:00", "note": "Перезвон"}
    )

    assert response.status_code == 201
    assert response.json()["assigned_to_user_id"] == owner.pk
    assert response.json()["created_by_user_id"] == owner.pk


def test_supervisor_assigns_a_task_to_a_manager(rop, api_client, lead, manager):
    response = api_client(rop).post(
        f"/api/leads/{lead.pk}/tasks", {"type": "meeting", "assigned_to_user_id": manager.pk}
    )

    assert response.status_code == 201
    assert response.json()["assigned_to_user_id"] == manager.pk
    assert response.json()["created_by_user_id"] == rop.pk
    assert response.json()["due_at"] is None


def test_minimal_body_defaults(manager_client, lead):
    response = manager_client.post(f"/api/leads/{lead.pk}/tasks", {}, format="json")

    assert response.status_code == 201
    assert response.json()["type"] == "call"
    assert response.json()["note"] == ""


def test_manager_names_themself_explicitly(manager, manager_client, lead):
    response = manager_client.post(f"/api/leads/{lead.pk}/tasks", {"type": "note", "assigned_to_user_id": manager.pk})

    assert response.status_code == 201


def test_due_at_with_an_offset_is_kept_and_rendered_in_the_tenant_timezone(manager_client, lead):
    response = manager_client.post(f"/api/leads/{lead.pk}/tasks", {"due_at": "2025-01-29T14:00:00Z"})

    assert response.status_code == 201
    assert response.json()["due_at"] == "2025-01-29T17:00:00+03:00"


def test_manager_may_not_create_on_a_colleagues_lead(manager_client, colleague_lead):
    before = _stored()

    response = manager_client.post(f"/api/leads/{colleague_lead.pk}/tasks", {"type": "call"})

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert _stored() == before


def test_manager_may_not_assign_a_colleague(manager_client, lead, other_manager):
    before = _stored()

    response = manager_client.post(f"/api/leads/{lead.pk}/tasks", {"assigned_to_user_id": other_manager.pk})

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert _stored() == before


@pytest.mark.parametrize("lead_ref", ["foreign", "unknown"])
def test_lead_of_another_tenant_or_unknown_is_404(owner_client, foreign_lead, lead_ref):
    lead_id = foreign_lead.pk if lead_ref == "foreign" else foreign_lead.pk + 1000
    before = _stored()

    post = owner_client.post(f"/api/leads/{lead_id}/tasks", {"type": "call"})
    get = owner_client.get(f"/api/leads/{lead_id}/tasks")

    assert post.status_code == get.status_code == 404
    assert post.json()["error"] == get.json()["error"] == "not_found"
    assert _stored() == before


def test_anonymous_is_401(api_client, lead):
    client = api_client(None)
    task = LeadTaskFactory(lead=lead)

    responses = [
        client.get(f"/api/leads/{lead.pk}/tasks"),
        client.post(f"/api/leads/{lead.pk}/tasks", {"type": "call"}),
        client.patch(f"/api/leads/tasks/{task.pk}", {"status": "done"}),
        client.get(f"/api/leads/tasks/{task.pk}"),
        client.get("/api/tasks"),
    ]

    assert [r.status_code for r in responses] == [401] * 5
    assert {r.json()["error"] for r in responses} == {"unauthorized"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "sms"}, "type"),
        ({"type": None}, "type"),
        ({"due_at": "tomorrow"}, "due_at"),
        ({"due_at": "29.01.2025 14:00"}, "due_at"),
        ({"due_at": "2025-02-30T10:00:00"}, "due_at"),
        ({"due_at": 1738152000}, "due_at"),
        # found by the long fuzz run: year 233 came back with Moscow's 1880s offset +02:30:17, not valid ISO-8601
        ({"due_at": "0233-06-28T05:56:08Z"}, "due_at"),
        ({"due_at": "3000-01-01T00:00:00Z"}, "due_at"),
        ({"note": "x" * 10_001}, "note"),
        ({"note": ["a"]}, "note"),
        ({"assigned_to_user_id": "abc"}, "assigned_to_user_id"),
        ({"assigned_to_user_id": 10**30}, "assigned_to_user_id"),
        ({"assigned_to_user_id": True}, "assigned_to_user_id"),
    ],
)
def test_bad_input_is_400_and_stores_nothing(owner_client, lead, body, field):
    before = _stored()

    response = owner_client.post(f"/api/leads/{lead.pk}/tasks", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]
    assert _stored() == before


@pytest.mark.parametrize("who", ["foreign", "deactivated", "unknown"])
def test_assignee_must_be_an_active_user_of_the_tenant(owner_client, lead, tenant, foreign_owner, who):
    assignee_id = {
        "foreign": foreign_owner.pk,
        "deactivated": UserFactory(tenant=tenant, is_active=False).pk,
        "unknown": 987654,
    }[who]
    before = _stored()

    response = owner_client.post(f"/api/leads/{lead.pk}/tasks", {"assigned_to_user_id": assignee_id})

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert list(response.json()["details"]) == ["assigned_to_user_id"]
    assert _stored() == before


def test_a_body_that_is_not_json_is_rejected(owner_client, lead):
    before = _stored()

    response = owner_client.generic("POST", f"/api/leads/{lead.pk}/tasks", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert _stored() == before


# ---------------------------------------------------------------- lead's list


def test_lead_task_list_in_due_order_with_undated_last(manager_client, lead, colleague_lead):
    undated = LeadTaskFactory(lead=lead)
    late = LeadTaskFactory(lead=lead, due_at=datetime(2025, 2, 1, 9, 0, tzinfo=UTC))
    early = LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, 30, 9, 0, tzinfo=UTC))
    LeadTaskFactory(lead=colleague_lead, due_at=datetime(2025, 1, 1, tzinfo=UTC))

    response = manager_client.get(f"/api/leads/{lead.pk}/tasks")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert [row["id"] for row in body["tasks"]] == [early.pk, late.pk, undated.pk]
    assert set(body["tasks"][0]) == FIELDS
    assert body["tasks"][0]["due_at"] == "2025-01-30T12:00:00+03:00"


def test_lead_task_list_pages_and_filters(owner_client, lead):
    tasks = [LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, day, tzinfo=UTC)) for day in range(1, 6)]
    LeadTaskFactory(lead=lead, status="cancelled", due_at=datetime(2025, 1, 9, tzinfo=UTC))

    page = owner_client.get(f"/api/leads/{lead.pk}/tasks?limit=2&offset=2&status=open").json()

    assert page["total"] == 5
    assert [row["id"] for row in page["tasks"]] == [tasks[2].pk, tasks[3].pk]


def test_manager_may_not_list_a_colleagues_lead(manager_client, colleague_lead):
    LeadTaskFactory(lead=colleague_lead)

    response = manager_client.get(f"/api/leads/{colleague_lead.pk}/tasks")

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "offset=-1", "limit=abc", "status=closed", "due=soon"])
def test_lead_task_list_rejects_bad_query(owner_client, lead, query):
    response = owner_client.get(f"/api/leads/{lead.pk}/tasks?{query}")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_lead_task_list_query_count_does_not_grow_with_the_page(owner_client, lead, django_assert_num_queries):
    for day in range(1, 26):
        LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, day, tzinfo=UTC))

    # auth user + tenant, the lead, then the page with its total: one statement on PostgreSQL, the count and the page
    # elsewhere
    statements = 3 if connection.vendor == "postgresql" else 4
    with django_assert_num_queries(statements):
        small = owner_client.get(f"/api/leads/{lead.pk}/tasks?limit=2")
    with django_assert_num_queries(statements):
        large = owner_client.get(f"/api/leads/{lead.pk}/tasks?limit=25")

    assert len(small.json()["tasks"]) == 2
    assert len(large.json()["tasks"]) == 25


# ---------------------------------------------------------------- update


def test_mark_done_sets_completed_at_and_reopen_clears_it(manager, api_client, manager_client, lead, events):
    task = LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, 29, 11, 0, tzinfo=UTC))

    # Tokens carry their issue time, so the client is made on the frozen clock.
    with time_machine.travel(datetime(2025, 1, 29, 12, 30, tzinfo=UTC), tick=False), events.capture():
        done = api_client(manager).patch(f"/api/leads/tasks/{task.pk}", {"status": "done"})

    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["completed_at"] == "2025-01-29T15:30:00+03:00"
    task.refresh_from_db()
    assert task.completed_at == datetime(2025, 1, 29, 12, 30, tzinfo=UTC)

    with events.capture():
        reopened = manager_client.patch(f"/api/leads/tasks/{task.pk}", {"status": "open"})

    assert reopened.status_code == 200
    assert reopened.json()["status"] == "open"
    assert reopened.json()["completed_at"] is None
    task.refresh_from_db()
    assert task.completed_at is None
    texts = list(LeadHistory.objects.filter(lead=lead, kind="task").order_by("id").values_list("text", flat=True))
    assert texts == [
        f"Задача #{task.pk}: статус: открыта → выполнена",
        f"Задача #{task.pk}: статус: выполнена → открыта",
    ]
    assert [(e.event_type, e.lead_id) for e in events.sent] == [("lead_updated", lead.pk)] * 2


def test_cancelling_a_done_task_clears_completed_at(owner_client, lead):
    task = LeadTaskFactory(lead=lead)
    owner_client.patch(f"/api/leads/tasks/{task.pk}", {"status": "done"})

    response = owner_client.patch(f"/api/leads/tasks/{task.pk}", {"status": "cancelled"})

    assert response.json()["status"] == "cancelled"
    assert response.json()["completed_at"] is None


def test_seed_example_patch_changes_status_due_and_note_in_one_entry(manager_client, lead, events):
    task = LeadTaskFactory(lead=lead, note="Перезвонить", due_at=datetime(2025, 1, 29, 11, 0, tzinfo=UTC))

    with events.capture():
        response = manager_client.patch(
            f"/api/leads/tasks/{task.pk}",
            {"status": "done", "due_at": "2025-01-30T10:00:00", "note": "Обновлённый текст"},
        )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["due_at"], body["note"]) == ("done", "2025-01-30T10:00:00+03:00", "Обновлённый текст")
    entry = LeadHistory.objects.get(lead=lead, kind="task")
    assert entry.text == (
        f"Задача #{task.pk}: статус: открыта → выполнена; срок: 29.01.2025 14:00 → 30.01.2025 10:00; "
        "текст: Обновлённый текст"
    )
    assert entry.payload == {"task_id": task.pk, "changed": ["due_at", "note", "status"]}
    assert len(events.sent) == 1


def test_a_patch_that_changes_nothing_records_nothing(manager_client, lead, events):
    task = LeadTaskFactory(lead=lead, note="Перезвонить")

    with events.capture():
        response = manager_client.patch(f"/api/leads/tasks/{task.pk}", {"status": "open", "note": "Перезвонить"})

    assert response.status_code == 200
    assert not LeadHistory.objects.filter(kind="task").exists()
    assert events.sent == []


def test_due_at_may_be_cleared(owner_client, lead):
    task = LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, 29, tzinfo=UTC))

    response = owner_client.patch(f"/api/leads/tasks/{task.pk}", {"due_at": None}, format="json")

    assert response.status_code == 200
    assert response.json()["due_at"] is None


def test_manager_may_not_take_someone_elses_task_even_on_their_lead(manager, manager_client, lead, owner):
    task = LeadTaskFactory(lead=lead, assigned_to=owner)

    # SPEC §15: a manager changes the tasks assigned to them; the supervisor's task on their lead is not theirs.
    response = manager_client.patch(f"/api/leads/tasks/{task.pk}", {"assigned_to_user_id": manager.pk})

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    task.refresh_from_db()
    assert task.assigned_to == owner
    assert not LeadHistory.objects.filter(lead=lead, kind="task").exists()


def test_manager_may_not_hand_their_task_to_a_colleague(manager_client, lead, other_manager, manager):
    task = LeadTaskFactory(lead=lead)

    response = manager_client.patch(f"/api/leads/tasks/{task.pk}", {"assigned_to_user_id": other_manager.pk})

    assert response.status_code == 403
    task.refresh_from_db()
    assert task.assigned_to == manager


def test_manager_may_not_change_a_task_on_a_colleagues_lead(manager_client, colleague_lead):
    task = LeadTaskFactory(lead=colleague_lead)

    response = manager_client.patch(f"/api/leads/tasks/{task.pk}", {"status": "done"})

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    task.refresh_from_db()
    assert task.status == "open"


@pytest.mark.parametrize("task_ref", ["foreign", "unknown"])
def test_task_of_another_tenant_or_unknown_is_404(owner_client, foreign_lead, task_ref):
    task = LeadTaskFactory(lead=foreign_lead)
    task_id = task.pk if task_ref == "foreign" else task.pk + 1000

    patch = owner_client.patch(f"/api/leads/tasks/{task_id}", {"status": "done"})
    get = owner_client.get(f"/api/leads/tasks/{task_id}")

    assert patch.status_code == get.status_code == 404
    assert patch.json()["error"] == "not_found"
    task.refresh_from_db()
    assert task.status == "open"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"status": "DONE"}, "status"),
        ({"type": "sms"}, "type"),
        ({"due_at": "not a date"}, "due_at"),
        ({"due_at": "1969-12-31T23:59:59Z"}, "due_at"),
        ({"note": "x" * 10_001}, "note"),
        ({"assigned_to_user_id": None}, "assigned_to_user_id"),
        ({"assigned_to_user_id": "x"}, "assigned_to_user_id"),
    ],
)
def test_bad_update_is_400_and_changes_nothing(owner_client, lead, body, field):
    task = LeadTaskFactory(lead=lead, note="Перезвонить")

    response = owner_client.patch(f"/api/leads/tasks/{task.pk}", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]
    task.refresh_from_db()
    assert (task.status, task.type, task.note, task.due_at) == ("open", "call", "Перезвонить", None)
    assert not LeadHistory.objects.filter(kind="task").exists()


@pytest.mark.parametrize("who", ["foreign", "deactivated"])
def test_reassigning_to_a_foreign_or_deactivated_user_is_400(owner_client, lead, tenant, foreign_owner, who):
    task = LeadTaskFactory(lead=lead)
    assignee = foreign_owner if who == "foreign" else UserFactory(tenant=tenant, is_active=False)

    response = owner_client.patch(f"/api/leads/tasks/{task.pk}", {"assigned_to_user_id": assignee.pk})

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["assigned_to_user_id"]
    task.refresh_from_db()
    assert task.assigned_to_id == lead.assigned_to_id


def test_retrieve_one_task(manager_client, lead, colleague_lead):
    task = LeadTaskFactory(lead=lead)
    colleagues = LeadTaskFactory(lead=colleague_lead)

    mine = manager_client.get(f"/api/leads/tasks/{task.pk}")
    theirs = manager_client.get(f"/api/leads/tasks/{colleagues.pk}")

    assert mine.status_code == 200
    assert mine.json()["id"] == task.pk
    assert theirs.status_code == 403


def test_the_task_route_is_not_taken_by_the_lead_detail_route(owner_client, lead):
    task = LeadTaskFactory(lead=lead)

    response = owner_client.patch(f"/api/leads/tasks/{task.pk}", {"note": "Через роутер задач"})

    assert response.status_code == 200
    assert response.json()["note"] == "Через роутер задач"


def test_tasks_are_not_deleted_through_the_api(owner_client, lead):
    task = LeadTaskFactory(lead=lead)

    response = owner_client.delete(f"/api/leads/tasks/{task.pk}")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert LeadTask.objects.filter(pk=task.pk).exists()
