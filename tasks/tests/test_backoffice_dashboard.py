"""Dashboard selector of the tasks app: overdue and today's open tasks per assignee."""

import datetime

import time_machine

from tasks.dashboard import open_tasks_per_assignee
from tasks.tests.factories import LeadTaskFactory, make_lead

NOW = datetime.datetime(2025, 7, 16, 9, 0, tzinfo=datetime.UTC)  # 12:00 in Moscow


@time_machine.travel(NOW, tick=False)
def test_overdue_and_today_per_assignee(tenant, manager, other_manager, foreign_lead, django_assert_num_queries):
    lead = make_lead(tenant=tenant, assigned_to=manager)
    colleague = make_lead(tenant=tenant, assigned_to=other_manager, name="Другой")
    hours = datetime.timedelta(hours=1)
    LeadTaskFactory(lead=lead, due_at=NOW - 30 * hours)  # overdue, yesterday
    LeadTaskFactory(lead=lead, due_at=NOW - 2 * hours)  # overdue and today
    LeadTaskFactory(lead=lead, due_at=NOW + 5 * hours)  # today
    LeadTaskFactory(lead=lead, due_at=NOW - 2 * hours, status="done", completed_at=NOW)
    LeadTaskFactory(lead=colleague, due_at=NOW + 48 * hours)
    LeadTaskFactory(lead=foreign_lead, due_at=NOW - hours)
    with django_assert_num_queries(1):
        loads = open_tasks_per_assignee(tenant=tenant)
    assert [(load.user_id, load.overdue, load.today, load.open) for load in loads] == [
        (manager.pk, 2, 2, 3),
        (other_manager.pk, 0, 0, 1),
    ]
