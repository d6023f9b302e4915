"""`GET /api/tasks` and `GET /api/leads/{id}/tasks` on their lean path (tasks.selectors.TaskListPage: the filters read
by the FilterSet's own fields, the rows and the exact total in one statement) answer exactly what the FilterSet path
answers.

The FilterSet path is reached by the same request plus a parameter no filter declares: django-filter ignores it,
and the lean path leaves every request it does not fully understand to the FilterSet.
"""

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.bounds import MAX_BIGINT
from tasks.models import LeadTask, TaskStatus, TaskType
from tasks.selectors import TaskListPage
from tasks.tests.factories import LeadTaskFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the lean path runs on PostgreSQL only"),
]

# 2026-03-10 00:30 in Moscow (the tenant's zone): UTC is still on the 9th, so «today» is not UTC's day.
NOW = datetime(2026, 3, 9, 21, 30, tzinfo=UTC)
# The authenticated user with the tenant, then the page with its total (SPEC §4: a total on every /api list).
LEAN_STATEMENTS = 2


@pytest.fixture
def tasks(tenant, lead, colleague_lead, foreign_lead, manager, other_manager, owner):
    """Tasks in every due bucket and outside them, of each status and type, for three assignees and two tenants."""
    offsets = [
        timedelta(days=-3),
        timedelta(minutes=-45),  # yesterday in UTC, today in Moscow, overdue
        timedelta(minutes=10),
        timedelta(hours=22, minutes=29, seconds=59, microseconds=999999),  # the last instant of Moscow's today
        timedelta(hours=22, minutes=30),  # Moscow's tomorrow
        timedelta(days=6, hours=22, minutes=29),
        timedelta(days=6, hours=22, minutes=30),  # just past the week
        None,
    ]
    made = []
    for offset, (status, task_type), (task_lead, assignee) in product(
        offsets,
        [(TaskStatus.OPEN, TaskType.CALL), (TaskStatus.DONE, TaskType.MEETING), (TaskStatus.CANCELLED, TaskType.NOTE)],
        [(lead, manager), (colleague_lead, other_manager), (colleague_lead, manager), (lead, owner)],
    ):
        made.append(
            LeadTaskFactory(
                lead=task_lead,
                assigned_to=assignee,
                status=status,
                type=task_type,
                due_at=None if offset is None else NOW + offset,
                completed_at=NOW if status == TaskStatus.DONE else None,
                note='Строка 1\nстрока "2"\t\\ 😀' if assignee == owner else "",
                created_by=None if assignee == other_manager else assignee,
            )
        )
    LeadTaskFactory(lead=foreign_lead, due_at=NOW + timedelta(minutes=10))
    return made


def _headers(response) -> dict[str, str]:
    return dict(response.headers.items())


def _both_paths(api_client, user, query: str, path: str = "/api/tasks"):
    with time_machine.travel(NOW, tick=False):  # a token is issued at the travelled time, so it is valid there
        client = api_client(user)
        with CaptureQueriesContext(connection) as lean_queries:
            lean = client.get(f"{path}?{query}")
        with CaptureQueriesContext(connection) as filterset_queries:
            reference = client.get(f"{path}?{query}&not_a_filter=1")
    return lean, reference, len(lean_queries), len(filterset_queries)


@pytest.mark.parametrize("role", ["owner", "manager"])
@pytest.mark.parametrize("due", ["", "today", "overdue", "week"])
@pytest.mark.parametrize("status", ["", "open", "done", "cancelled"])
def test_every_row_and_the_total_match_the_filterset_path(request, api_client, tasks, role, due, status):
    user = request.getfixturevalue(role)

    lean, reference, lean_statements, filterset_statements = _both_paths(api_client, user, f"due={due}&status={status}")

    assert lean.status_code == reference.status_code == 200
    assert lean.content == reference.content  # byte for byte: rows, their order, every value, the total
    # Every header too, but the rate limit's countdown, which the second request has moved on by one.
    assert _headers(lean) == {**_headers(reference), "RateLimit-Remaining": lean.headers["RateLimit-Remaining"]}
    # The FilterSet path counts, then reads the page when there is one: the two paths really differ.
    assert lean_statements == LEAN_STATEMENTS
    assert filterset_statements == LEAN_STATEMENTS + (1 if lean.json()["total"] else 0)


@pytest.mark.parametrize(
    "query",
    [
        "type=meeting&due=week",
        "assigned_to_user_id={manager}&status=open",
        "lead_id={lead}&due=overdue",
        "lead_id={lead}&assigned_to_user_id={owner}&type=note",
        f"lead_id={MAX_BIGINT}",
        "limit=5&offset=3",
        "limit=200",
        "offset=95",  # the last page, part full
        "offset=96&status=open",  # past the end: no rows, the total still exact
    ],
)
def test_the_other_filters_and_paging_match_the_filterset_path(api_client, tasks, lead, manager, owner, query):
    query = query.format(lead=lead.pk, manager=manager.pk, owner=owner.pk)

    lean, reference, lean_statements, _ = _both_paths(api_client, owner, query)

    assert lean.status_code == 200
    assert lean.content == reference.content
    assert lean_statements == LEAN_STATEMENTS


@pytest.mark.parametrize("role", ["owner", "manager"])
@pytest.mark.parametrize(
    "query", ["", "due=today", "status=open&due=overdue", "type=call&assigned_to_user_id={manager}", "limit=3&offset=2"]
)
def test_a_leads_task_list_matches_the_filterset_path(request, api_client, tasks, lead, manager, role, query):
    user = request.getfixturevalue(role)
    path = f"/api/leads/{lead.pk}/tasks"

    lean, reference, lean_statements, _ = _both_paths(api_client, user, query.format(manager=manager.pk), path)

    assert lean.status_code == reference.status_code == 200
    assert lean.content == reference.content
    assert lean_statements == LEAN_STATEMENTS + 1  # and the lead, whose visibility decides a 404


def test_a_manager_never_sees_a_colleagues_task_on_their_own_lead(api_client, manager, lead, other_manager):
    mine = LeadTaskFactory(lead=lead, assigned_to=manager, due_at=NOW)
    LeadTaskFactory(lead=lead, assigned_to=other_manager, due_at=NOW)

    with time_machine.travel(NOW, tick=False):
        body = api_client(manager).get("/api/tasks?status=open&due=today").json()

    assert ([task["id"] for task in body["tasks"]], body["total"]) == ([mine.pk], 1)


@pytest.mark.parametrize("limit", [1, 200])
def test_the_statement_count_does_not_grow_with_the_page(api_client, owner, lead, limit):
    for minutes in range(60):
        LeadTaskFactory(lead=lead, due_at=NOW + timedelta(minutes=minutes))

    with time_machine.travel(NOW, tick=False):
        client = api_client(owner)
        with CaptureQueriesContext(connection) as queries:
            body = client.get(f"/api/tasks?status=open&due=today&limit={limit}").json()

    assert (len(body["tasks"]), body["total"]) == (min(limit, 60), 60)
    assert len(queries) == LEAN_STATEMENTS


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=open&status=closed", "status"),  # the last value counts, as in the FilterSet
        ("due=Today", "due"),
        ("lead_id=0", "lead_id"),
        (f"lead_id={MAX_BIGINT + 1}", "lead_id"),
        ("assigned_to_user_id=-3", "assigned_to_user_id"),
        ("status=open&limit=0", "limit"),
        ("due=today&offset=-1", "offset"),
    ],
)
def test_a_bad_filter_is_the_400_envelope(owner_client, tasks, query, field):
    response = owner_client.get(f"/api/tasks?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert list(body["details"]) == [field]


@pytest.mark.parametrize("raw", ["7.0", " 7", "07", "+7", "\u0667"])  # the last: an Arabic-Indic 7
def test_ids_in_other_spellings_mean_what_the_filterset_says(api_client, owner, tasks, lead, raw):
    """Django's IntegerField reads these as an id, and the lean path reads them with the same field."""
    written = raw.replace("7", str(lead.pk)).replace("\u0667", "".join(chr(0x660 + int(d)) for d in str(lead.pk)))

    lean, reference, _, _ = _both_paths(api_client, owner, f"lead_id={written}")

    assert lean.status_code == reference.status_code
    assert lean.content == reference.content


def test_a_scope_that_matches_nothing_is_an_empty_page_without_a_statement(django_assert_num_queries):
    page = TaskListPage(LeadTask.objects.none(), limit=50, offset=0)

    with django_assert_num_queries(0):
        assert (page.count(), page[0:50]) == (0, [])


def test_a_method_filter_without_its_condition_leaves_the_request_to_the_filterset():
    """A method filter the lean path has no condition for must not be dropped silently (a list unfiltered)."""
    from django_filters import rest_framework as filters

    from tasks.filtersets import LeadTaskFilterSet

    class WithAnotherMethodFilter(LeadTaskFilterSet):
        overdue_by = filters.NumberFilter(method="filter_overdue_by")

    assert WithAnotherMethodFilter.conditions({"status": "open"}, tz=UTC) is not None
    assert WithAnotherMethodFilter.conditions({"overdue_by": "3"}, tz=UTC) is None
    assert len(WithAnotherMethodFilter.conditions({"due": "today"}, tz=UTC)) == 1
