"""The renewal job (SPEC §13): active policies ending within the tenant's notice days become `renewal_due`, with a
system journal entry and a high-priority task for the deal's sales agent; idempotent, and safe with two workers."""

import datetime
import json
import threading
import zoneinfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django_eventstream.models import Event
from huey.contrib.djhuey import HUEY

from crm.tests.factories import TenantFactory, UserFactory
from deals.jobs import run_policy_renewals
from deals.models import DealTask, JournalEntry, Policy
from deals.services import renewals
from deals.services.renewals import policy_renewals, tenant_policy_renewals
from deals.tests.factories import DealFactory, PolicyFactory
from events.webhooks import services as webhook_services

pytestmark = pytest.mark.django_db

# 2026-03-10 20:00 UTC is already 2026-03-11 06:00 in Vladivostok (UTC+10).
NOW = datetime.datetime(2026, 3, 10, 20, 0, tzinfo=datetime.UTC)
TODAY_UTC = datetime.date(2026, 3, 10)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def policy_ending(deal, ends: datetime.date, status: str = "active") -> Policy:
    return PolicyFactory(deal=deal, effective_from=ends - 365 * DAY, effective_to=ends, status=status)


def set_tenant(tenant, *, zone: str = "UTC", notice_days: int = 30):
    tenant.timezone = zone
    tenant.renewal_notice_days = notice_days
    tenant.save(update_fields=["timezone", "renewal_notice_days"])


def statuses(*policies) -> list[str]:
    return [Policy.objects.get(pk=policy.pk).status for policy in policies]


def test_policies_ending_within_the_notice_days_become_renewal_due(tenant, deal, frozen):
    set_tenant(tenant, notice_days=30)
    today = TODAY_UTC
    due = [policy_ending(deal, day) for day in (today - 3 * DAY, today, today + 30 * DAY)]
    not_yet = policy_ending(deal, today + 31 * DAY)
    others = [policy_ending(deal, today + DAY, status) for status in ("draft", "renewal_due", "closed")]

    moved = tenant_policy_renewals(tenant)

    assert moved == 3
    assert statuses(*due) == ["renewal_due"] * 3
    assert statuses(not_yet, *others) == ["active", "draft", "renewal_due", "closed"]
    assert [Policy.objects.get(pk=policy.pk).version for policy in due] == [2, 2, 2]
    assert DealTask.objects.filter(policy__in=others + [not_yet]).count() == 0


def test_each_move_writes_a_system_journal_entry_and_one_task_for_the_sales_agent(tenant, deal, manager, frozen):
    set_tenant(tenant, notice_days=30)
    deal.executor = UserFactory(tenant=tenant, role="manager", username="executor")
    deal.save(update_fields=["executor"])
    far = policy_ending(deal, TODAY_UTC + 20 * DAY)
    near = policy_ending(deal, TODAY_UTC + 3 * DAY)

    tenant_policy_renewals(tenant)

    tasks = {task.policy_id: task for task in DealTask.objects.all()}
    assert set(tasks) == {far.pk, near.pk}
    for policy, due_date in ((far, TODAY_UTC + 13 * DAY), (near, TODAY_UTC)):
        task = tasks[policy.pk]
        assert task.subject == f"Продление полиса {policy.policy_number}"
        assert (task.deal_id, task.assignee_id, task.due_date) == (deal.pk, manager.uuid, due_date)
        assert (task.priority, task.status, task.version) == ("high", "new", 1)
    entries = JournalEntry.objects.filter(deal=deal).order_by("text")
    assert [entry.kind for entry in entries] == ["system", "system"]
    assert all("renewal_due" in entry.text for entry in entries)
    assert {far.policy_number in entry.text or near.policy_number in entry.text for entry in entries} == {True}


def test_the_task_is_visible_through_the_api(frozen, manager_client, tenant, deal):
    set_tenant(tenant)
    policy = policy_ending(deal, TODAY_UTC + 10 * DAY)
    tenant_policy_renewals(tenant)

    tasks = manager_client.get(f"/api/v1/tasks?deal_id={deal.id}").json()

    assert [(t["subject"], t["policy_id"], t["priority"], t["due_date"]) for t in tasks] == [
        (f"Продление полиса {policy.policy_number}", str(policy.id), "high", "2026-03-13")
    ]
    assert manager_client.get(f"/api/v1/policies/{policy.id}").json()["status"] == "renewal_due"


def test_a_second_run_creates_nothing(tenant, deal, frozen):
    set_tenant(tenant)
    policy = policy_ending(deal, TODAY_UTC + 5 * DAY)
    assert tenant_policy_renewals(tenant) == 1
    counts = (DealTask.objects.count(), JournalEntry.objects.count(), Policy.objects.get(pk=policy.pk).version)

    assert tenant_policy_renewals(tenant) == 0
    assert policy_renewals() == 0

    assert (DealTask.objects.count(), JournalEntry.objects.count(), Policy.objects.get(pk=policy.pk).version) == counts


@pytest.mark.parametrize(
    ("zone", "moved", "task_due"),
    [
        # Vladivostok's today is 03-11, so a policy ending 03-12 ends "tomorrow": due with one notice day.
        ("Asia/Vladivostok", 1, datetime.date(2026, 3, 11)),
        # In UTC it is still 03-10, and 03-12 is two days away.
        ("UTC", 0, None),
    ],
)
def test_today_is_the_tenants_across_a_timezone_boundary(tenant, deal, frozen, zone, moved, task_due):
    set_tenant(tenant, zone=zone, notice_days=1)
    assert datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date() == TODAY_UTC + (DAY if moved else 0 * DAY)
    policy = policy_ending(deal, datetime.date(2026, 3, 12))

    assert tenant_policy_renewals(tenant) == moved

    assert statuses(policy) == ["renewal_due" if moved else "active"]
    assert list(DealTask.objects.values_list("due_date", flat=True)) == ([task_due] if moved else [])


def test_each_tenant_has_its_own_notice_days(tenant, other_tenant, deal, foreign_deal, frozen):
    set_tenant(tenant, notice_days=60)
    set_tenant(other_tenant, notice_days=7)
    ours = policy_ending(deal, TODAY_UTC + 40 * DAY)
    theirs = policy_ending(foreign_deal, TODAY_UTC + 40 * DAY)
    theirs_soon = policy_ending(foreign_deal, TODAY_UTC + 7 * DAY)

    assert policy_renewals() == 2

    assert statuses(ours, theirs, theirs_soon) == ["renewal_due", "active", "renewal_due"]
    assert DealTask.objects.get(policy=theirs_soon).tenant_id == other_tenant.pk


def test_the_command_runs_one_tenant_or_all(tenant, other_tenant, deal, foreign_deal, frozen, capsys):
    set_tenant(tenant)
    set_tenant(other_tenant)
    ours = policy_ending(deal, TODAY_UTC + DAY)
    theirs = policy_ending(foreign_deal, TODAY_UTC + DAY)

    call_command("policy_renewals", "--tenant", str(tenant.pk))

    assert capsys.readouterr().out.strip() == "Policies due for renewal: 1."
    assert statuses(ours, theirs) == ["renewal_due", "active"]
    call_command("policy_renewals")
    assert capsys.readouterr().out.strip() == "Policies due for renewal: 1."
    assert statuses(theirs) == ["renewal_due"]


@pytest.mark.parametrize("value", ["999999", "abc", "-1"])
def test_the_command_refuses_an_unknown_or_malformed_tenant(tenant, deal, frozen, value):
    set_tenant(tenant)
    policy = policy_ending(deal, TODAY_UTC + DAY)

    with pytest.raises(CommandError):
        call_command("policy_renewals", "--tenant", value)

    assert statuses(policy) == ["active"]


def test_the_job_runs_hourly_on_the_worker(tenant, deal, frozen):
    set_tenant(tenant)
    policy = policy_ending(deal, TODAY_UTC + DAY)
    task_class = run_policy_renewals.task_class

    assert task_class in HUEY._registry._periodic_tasks
    assert all(task_class().validate_datetime(datetime.datetime(2026, 1, 1, hour, 5)) for hour in range(24))
    assert not task_class().validate_datetime(datetime.datetime(2026, 1, 1, 3, 6))
    assert run_policy_renewals.call_local() == 1
    assert statuses(policy) == ["renewal_due"]


def test_many_policies_are_moved_in_batches(tenant, deal, frozen, monkeypatch):
    monkeypatch.setattr(renewals, "BATCH_SIZE", 4)
    set_tenant(tenant)
    policies = [policy_ending(deal, TODAY_UTC + (n % 9) * DAY) for n in range(10)]

    assert tenant_policy_renewals(tenant) == 10

    assert statuses(*policies) == ["renewal_due"] * 10
    assert DealTask.objects.count() == 10


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL")
def test_two_workers_at_once_move_each_policy_once(monkeypatch):
    monkeypatch.setattr(renewals, "BATCH_SIZE", 5)
    tenant = TenantFactory(timezone="UTC", renewal_notice_days=30)
    deal = DealFactory(tenant=tenant)
    today = datetime.datetime.now(datetime.UTC).date()
    policies = [policy_ending(deal, today + (n % 20) * DAY) for n in range(60)]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            results.append(policy_renewals(tenant_id=tenant.pk))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sum(results) == 60
    assert statuses(*policies) == ["renewal_due"] * 60
    assert sorted(DealTask.objects.values_list("policy_id", flat=True)) == sorted(p.pk for p in policies)
    assert JournalEntry.objects.filter(deal=deal, kind="system").count() == 60
    assert set(Policy.objects.values_list("version", flat=True)) == {2}


def test_each_move_is_logged_as_policy_updated(tenant, deal, frozen, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    webhook_services.subscription_create(tenant=tenant, url="http://127.0.0.1:9/hooks", events=["policy_updated"])
    set_tenant(tenant)
    moved = [policy_ending(deal, TODAY_UTC + n * DAY) for n in (1, 2)]
    policy_ending(deal, TODAY_UTC + 40 * DAY)

    tenant_policy_renewals(tenant)
    tenant_policy_renewals(tenant)

    rows = Event.objects.filter(channel=f"webhooks-{tenant.pk}", type="policy_updated").order_by("pk")
    logged = [(json.loads(row.data)["id"], json.loads(row.data)["status"]) for row in rows]
    assert sorted(logged) == sorted((str(policy.id), "renewal_due") for policy in moved)
