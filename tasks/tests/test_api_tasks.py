"""`GET /api/tasks`: role scope, filters, due buckets in the tenant's timezone, paging and query counts."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from crm.tests.factories import TenantFactory, UserFactory
from tasks.tests.factories import LeadTaskFactory, make_lead

pytestmark = pytest.mark.django_db

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")  # UTC+10
KALININGRAD = ZoneInfo("Europe/Kaliningrad")  # UTC+2


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["tasks"]]


def test_supervisor_sees_every_task_of_the_tenant_and_nothing_else(owner_client, lead, colleague_lead, foreign_lead):
    mine = LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, 2, tzinfo=UTC))
    colleagues = LeadTaskFactory(lead=colleague_lead, due_at=datetime(2025, 1, 1, tzinfo=UTC))
    LeadTaskFactory(lead=foreign_lead, due_at=datetime(2025, 1, 1, tzinfo=UTC))

    response = owner_client.get("/api/tasks")

    assert _ids(response) == [colleagues.pk, mine.pk]
    assert response.json()["total"] == 2


def test_manager_sees_only_the_tasks_assigned_to_them(manager_client, manager, lead, colleague_lead, owner):
    own = LeadTaskFactory(lead=lead)
    LeadTaskFactory(lead=lead, assigned_to=owner)
    mine_on_a_colleagues_lead = LeadTaskFactory(lead=colleague_lead, assigned_to=manager)
    LeadTaskFactory(lead=colleague_lead)

    # SPEC §15: the tasks assigned to the manager, whatever the lead's assignee; never a colleague's.
    assert _ids(manager_client.get("/api/tasks")) == [own.pk, mine_on_a_colleagues_lead.pk]


def test_order_is_due_first_undated_last_then_id(owner_client, lead):
    undated_a = LeadTaskFactory(lead=lead)
    later = LeadTaskFactory(lead=lead, due_at=datetime(2025, 3, 1, tzinfo=UTC))
    undated_b = LeadTaskFactory(lead=lead)
    sooner = LeadTaskFactory(lead=lead, due_at=datetime(2025, 2, 1, tzinfo=UTC))
    same_time = LeadTaskFactory(lead=lead, due_at=datetime(2025, 2, 1, tzinfo=UTC))

    assert _ids(owner_client.get("/api/tasks")) == [sooner.pk, same_time.pk, later.pk, undated_a.pk, undated_b.pk]


def test_filters_by_status_type_assignee_and_lead(owner_client, owner, lead, colleague_lead, manager):
    call = LeadTaskFactory(lead=lead)
    meeting = LeadTaskFactory(lead=lead, type="meeting")
    done = LeadTaskFactory(lead=lead, status="done", completed_at=datetime(2025, 1, 1, tzinfo=UTC))
    bosses = LeadTaskFactory(lead=colleague_lead, assigned_to=owner)

    assert _ids(owner_client.get("/api/tasks?status=done")) == [done.pk]
    assert _ids(owner_client.get("/api/tasks?type=meeting")) == [meeting.pk]
    assert _ids(owner_client.get(f"/api/tasks?assigned_to_user_id={owner.pk}")) == [bosses.pk]
    assert _ids(owner_client.get(f"/api/tasks?lead_id={lead.pk}&status=open")) == [call.pk, meeting.pk]
    assert _ids(owner_client.get(f"/api/tasks?assigned_to_user_id={manager.pk}&type=call&status=open")) == [call.pk]
    assert _ids(owner_client.get("/api/tasks?lead_id=999999")) == []


def test_a_foreign_lead_id_filter_finds_nothing(owner_client, foreign_lead):
    LeadTaskFactory(lead=foreign_lead)

    assert _ids(owner_client.get(f"/api/tasks?lead_id={foreign_lead.pk}")) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("due=tomorrow", "due"),
        ("due=TODAY", "due"),
        ("status=closed", "status"),
        ("type=sms", "type"),
        ("assigned_to_user_id=abc", "assigned_to_user_id"),
        ("assigned_to_user_id=0", "assigned_to_user_id"),
        ("lead_id=99999999999999999999", "lead_id"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
    ],
)
def test_bad_query_is_400(owner_client, query, field):
    response = owner_client.get(f"/api/tasks?{query}")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]


def test_paging_with_limit_and_offset(owner_client, lead):
    tasks = [LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, day, tzinfo=UTC)) for day in range(1, 8)]

    page = owner_client.get("/api/tasks?limit=3&offset=3").json()
    past_the_end = owner_client.get("/api/tasks?offset=50").json()

    assert page["total"] == 7
    assert [row["id"] for row in page["tasks"]] == [task.pk for task in tasks[3:6]]
    assert past_the_end == {"tasks": [], "total": 7}


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_query_count_does_not_grow_with_the_page(request, api_client, lead, role, django_assert_num_queries):
    soon = timezone.now() + timedelta(hours=1)
    for minutes in range(30):
        LeadTaskFactory(lead=lead, due_at=soon + timedelta(minutes=minutes))
    client = api_client(request.getfixturevalue(role))

    # auth user + tenant, then the page with its total: one statement on PostgreSQL (the lean path), the count and
    # the page elsewhere
    statements = 2 if connection.vendor == "postgresql" else 3
    with django_assert_num_queries(statements):
        small = client.get("/api/tasks?status=open&due=week&limit=2")
    with django_assert_num_queries(statements):
        large = client.get("/api/tasks?status=open&due=week&limit=30")

    assert len(small.json()["tasks"]) == 2
    assert len(large.json()["tasks"]) == 30


# ---------------------------------------------------------------- due buckets on the tenant's wall clock


def _tenant_with_tasks(tz: ZoneInfo, slug: str, local_due_times: dict[str, datetime]):
    tenant = TenantFactory(slug=slug, timezone=str(tz))
    owner = UserFactory(tenant=tenant, role="owner", username=f"{slug}-owner")
    lead = make_lead(tenant=tenant, assigned_to=owner)
    tasks = {
        name: LeadTaskFactory(lead=lead, due_at=local.replace(tzinfo=tz)) for name, local in local_due_times.items()
    }
    return owner, tasks


def _bucket(api_client, owner, due: str, *, at: datetime, status: str = "") -> list[int]:
    with time_machine.travel(at, tick=False):
        return _ids(api_client(owner).get(f"/api/tasks?due={due}&status={status}"))


def test_vladivostok_today_just_after_its_midnight_while_utc_is_still_yesterday(api_client):
    owner, tasks = _tenant_with_tasks(
        VLADIVOSTOK,
        "vvo",
        {
            "yesterday_late": datetime(2025, 3, 10, 23, 0),
            "today_start": datetime(2025, 3, 11, 0, 0),
            "today_morning": datetime(2025, 3, 11, 9, 0),
            "today_last_minute": datetime(2025, 3, 11, 23, 59),
            "tomorrow_start": datetime(2025, 3, 12, 0, 0),
        },
    )
    # 00:30 on 11 March in Vladivostok is 14:30 on 10 March in UTC.
    now = datetime(2025, 3, 11, 0, 30, tzinfo=VLADIVOSTOK)
    assert now.astimezone(UTC).date().day == 10

    today = _bucket(api_client, owner, "today", at=now, status="open")
    overdue = _bucket(api_client, owner, "overdue", at=now)

    assert today == [tasks[name].pk for name in ("today_start", "today_morning", "today_last_minute")]
    assert overdue == [tasks["yesterday_late"].pk, tasks["today_start"].pk]


def test_vladivostok_today_moves_at_its_own_midnight(api_client):
    owner, tasks = _tenant_with_tasks(
        VLADIVOSTOK, "vvo", {"late_10th": datetime(2025, 3, 10, 23, 59), "early_11th": datetime(2025, 3, 11, 0, 1)}
    )
    before_midnight = datetime(2025, 3, 10, 23, 59, 59, tzinfo=VLADIVOSTOK)

    assert _bucket(api_client, owner, "today", at=before_midnight) == [tasks["late_10th"].pk]
    assert _bucket(api_client, owner, "today", at=before_midnight + timedelta(seconds=1)) == [tasks["early_11th"].pk]


def test_kaliningrad_today_late_evening_while_moscow_is_already_tomorrow(api_client):
    owner, tasks = _tenant_with_tasks(
        KALININGRAD,
        "kgd",
        {
            "this_morning": datetime(2025, 3, 10, 8, 0),
            "tonight": datetime(2025, 3, 10, 23, 45),
            "after_midnight": datetime(2025, 3, 11, 0, 15),
        },
    )
    # 23:30 on 10 March in Kaliningrad is already 00:30 on 11 March in Moscow (the default timezone).
    now = datetime(2025, 3, 10, 23, 30, tzinfo=KALININGRAD)

    today = _bucket(api_client, owner, "today", at=now)
    overdue = _bucket(api_client, owner, "overdue", at=now)

    assert today == [tasks["this_morning"].pk, tasks["tonight"].pk]
    assert overdue == [tasks["this_morning"].pk]
    assert _bucket(api_client, owner, "today", at=now + timedelta(hours=1)) == [tasks["after_midnight"].pk]


def test_two_tenants_see_their_own_today_at_the_same_instant(api_client):
    # One instant: 13:30 UTC = 23:30 in Vladivostok (10 March) = 15:30 in Kaliningrad (10 March).
    vvo_owner, vvo_tasks = _tenant_with_tasks(VLADIVOSTOK, "vvo", {"t": datetime(2025, 3, 10, 23, 50)})
    kgd_owner, kgd_tasks = _tenant_with_tasks(KALININGRAD, "kgd", {"t": datetime(2025, 3, 10, 23, 50)})
    now = datetime(2025, 3, 10, 13, 30, tzinfo=UTC)

    assert _bucket(api_client, vvo_owner, "today", at=now) == [vvo_tasks["t"].pk]
    assert _bucket(api_client, kgd_owner, "today", at=now) == [kgd_tasks["t"].pk]
    assert _bucket(api_client, vvo_owner, "today", at=now + timedelta(minutes=30)) == []
    assert _bucket(api_client, kgd_owner, "today", at=now + timedelta(minutes=30)) == [kgd_tasks["t"].pk]


def test_week_is_start_of_today_to_start_of_today_plus_seven_days(api_client):
    owner, tasks = _tenant_with_tasks(
        KALININGRAD,
        "kgd",
        {
            "yesterday": datetime(2025, 3, 9, 23, 59),
            "today_start": datetime(2025, 3, 10, 0, 0),
            "sunday_last_minute": datetime(2025, 3, 16, 23, 59),
            "eighth_day": datetime(2025, 3, 17, 0, 0),
        },
    )

    week = _bucket(api_client, owner, "week", at=datetime(2025, 3, 10, 10, 0, tzinfo=KALININGRAD))

    assert week == [tasks["today_start"].pk, tasks["sunday_last_minute"].pk]


def test_overdue_is_open_and_due_before_now(api_client):
    owner, tasks = _tenant_with_tasks(
        VLADIVOSTOK,
        "vvo",
        {
            "past": datetime(2025, 3, 10, 9, 0),
            "past_done": datetime(2025, 3, 10, 9, 0),
            "soon": datetime(2025, 3, 10, 11, 0),
        },
    )
    done = tasks["past_done"]
    done.status, done.completed_at = "done", done.due_at
    done.save()

    overdue = _bucket(api_client, owner, "overdue", at=datetime(2025, 3, 10, 10, 0, tzinfo=VLADIVOSTOK))

    assert overdue == [tasks["past"].pk]


def test_naive_due_at_is_read_in_the_tenants_timezone(api_client):
    tenant = TenantFactory(slug="vvo", timezone="Asia/Vladivostok")
    owner = UserFactory(tenant=tenant, role="owner", username="vvo-owner")
    lead = make_lead(tenant=tenant, assigned_to=owner)

    response = api_client(owner).post(f"/api/leads/{lead.pk}/tasks", {"due_at": "2025-01-29T14:00:00"})

    assert response.status_code == 201
    assert response.json()["due_at"] == "2025-01-29T14:00:00+10:00"
    assert lead.tasks.get().due_at == datetime(2025, 1, 29, 4, 0, tzinfo=UTC)


def test_seed_post_deploy_check_create_then_list_then_today(api_client, manager, lead):
    now = datetime(2025, 1, 29, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
    with time_machine.travel(now, tick=False):
        client = api_client(manager)
        created = client.post(
            f"/api/leads/{lead.pk}/tasks", {"type": "call", "due_at": "2025-01-29T15:00:00", "note": "Перезвон"}
        )
        lead_tasks = client.get(f"/api/leads/{lead.pk}/tasks")
        today = client.get("/api/tasks?status=open&due=today")

    assert created.status_code == 201
    assert [row["id"] for row in lead_tasks.json()["tasks"]] == [created.json()["id"]]
    assert today.json() == {"tasks": [created.json()], "total": 1}
