"""The lead table's `open_tasks_count` and `next_task_due_at` come from the tasks, in the table's one page query."""

from datetime import UTC, datetime

from tasks.tests.factories import LeadTaskFactory, make_lead


def _rows(response) -> dict[int, dict]:
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["rows"]}


def test_open_task_count_and_next_due_come_from_open_tasks(owner_client, lead, colleague_lead, tenant):
    LeadTaskFactory(lead=lead, due_at=datetime(2025, 2, 1, 9, 0, tzinfo=UTC))
    LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, 30, 9, 0, tzinfo=UTC))
    LeadTaskFactory(lead=lead)
    LeadTaskFactory(lead=lead, status="done", due_at=datetime(2025, 1, 1, tzinfo=UTC), completed_at=datetime.now(UTC))
    LeadTaskFactory(lead=lead, status="cancelled", due_at=datetime(2025, 1, 2, tzinfo=UTC))
    LeadTaskFactory(lead=colleague_lead)
    bare = make_lead(tenant=tenant, name="Без задач")

    rows = _rows(owner_client.get("/api/v2/leads/table"))

    assert rows[lead.pk]["open_tasks_count"] == 3
    assert rows[lead.pk]["next_task_due_at"] == "2025-01-30T12:00:00+03:00"
    assert rows[colleague_lead.pk]["open_tasks_count"] == 1
    assert rows[colleague_lead.pk]["next_task_due_at"] is None
    assert rows[bare.pk]["open_tasks_count"] == 0
    assert rows[bare.pk]["next_task_due_at"] is None


def test_the_table_orders_by_the_task_columns(owner_client, lead, colleague_lead):
    LeadTaskFactory(lead=lead, due_at=datetime(2025, 3, 1, tzinfo=UTC))
    LeadTaskFactory(lead=lead, due_at=datetime(2025, 3, 2, tzinfo=UTC))
    LeadTaskFactory(lead=colleague_lead, due_at=datetime(2025, 2, 1, tzinfo=UTC))

    by_count = owner_client.get("/api/v2/leads/table?ordering=-open_tasks_count").json()["rows"]
    by_due = owner_client.get("/api/v2/leads/table?ordering=next_task_due_at").json()["rows"]

    assert [row["id"] for row in by_count] == [lead.pk, colleague_lead.pk]
    assert [row["id"] for row in by_due] == [colleague_lead.pk, lead.pk]


def test_task_columns_add_no_query_per_row(owner_client, tenant, manager, django_assert_num_queries):
    for index in range(12):
        task_lead = make_lead(tenant=tenant, assigned_to=manager, name=f"Лид {index}")
        LeadTaskFactory(lead=task_lead, due_at=datetime(2025, 1, index + 1, tzinfo=UTC))

    # auth user + tenant, then the page with its total (task columns are subqueries of the page query)
    with django_assert_num_queries(2):
        small = owner_client.get("/api/v2/leads/table?limit=2")
    with django_assert_num_queries(2):
        large = owner_client.get("/api/v2/leads/table?limit=12")

    assert len(small.json()["rows"]) == 2
    assert [row["open_tasks_count"] for row in large.json()["rows"]] == [1] * 12
