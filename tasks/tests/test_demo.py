"""The demo hook puts tasks on the demo leads: overdue, due today, later this week, and done."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings

from crm.demo import DemoTenant
from tasks.demo import demo_tasks_create
from tasks.models import LeadTask
from tasks.selectors import due_bucket_q
from tasks.tests.factories import make_lead


@pytest.mark.parametrize("now", [datetime(2025, 3, 10, 9, 0, tzinfo=UTC), datetime(2025, 3, 10, 20, 59, tzinfo=UTC)])
def test_demo_tasks_cover_every_bucket(tenant, owner, rop, manager, other_manager, now):
    leads = [make_lead(tenant=tenant, assigned_to=user, name=f"Демо {user.pk}") for user in (manager, other_manager)]
    demo = DemoTenant(tenant=tenant, owner=owner, rop=rop, managers=[manager, other_manager])

    with time_machine.travel(now, tick=False):
        demo_tasks_create(demo=demo)
        tasks = LeadTask.objects.filter(tenant=tenant)
        buckets = {name: tasks.filter(due_bucket_q(name, tz=tenant.tzinfo)) for name in ("today", "overdue", "week")}
        open_today_not_overdue = buckets["today"].filter(status="open").exclude(pk__in=buckets["overdue"])

        assert buckets["overdue"].exists()
        assert open_today_not_overdue.exists()
        assert buckets["week"].filter(due_at__gte=now).exclude(pk__in=buckets["today"]).exists()
    assert tasks.filter(status="done", completed_at__isnull=False).exists()
    assert {task.lead_id for task in tasks} == {lead.pk for lead in leads}
    assert all(task.assigned_to_id == task.lead.assigned_to_id for task in tasks.select_related("lead"))


def test_the_tasks_hook_runs_after_the_leads_hook():
    hooks = settings.DEMO_DATA_HOOKS

    assert hooks.index("tasks.demo.demo_tasks_create") > hooks.index("pipelines.demo.demo_leads_create")
