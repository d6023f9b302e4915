"""The task lists shape rows by hand (`LeadTaskSerializer.present`): exactly what the declared fields write."""

import datetime as dt

from django.utils import timezone

from tasks.api.serializers import LeadTaskSerializer
from tasks.models import LeadTask, TaskStatus, TaskType
from tasks.tests.factories import LeadTaskFactory


def test_present_writes_what_the_declared_fields_write(lead, manager, tenant):
    moscow_noon = dt.datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)
    LeadTaskFactory(lead=lead, due_at=moscow_noon, type=TaskType.MEETING, note="Встреча «в офисе»\nвторая строка")
    LeadTaskFactory(lead=lead, due_at=None, created_by=None, note="")
    LeadTaskFactory(lead=lead, status=TaskStatus.DONE, due_at=moscow_noon, completed_at=moscow_noon)
    tasks = list(LeadTask.objects.order_by("pk"))

    for zone in (tenant.tzinfo, dt.UTC):
        with timezone.override(zone):
            written = LeadTaskSerializer(tasks, many=True).data
            assert [LeadTaskSerializer.present(task) for task in tasks] == written
            assert [LeadTaskSerializer.present(task, zone) for task in tasks] == written


def test_the_lists_answer_due_at_in_the_tenants_timezone(lead, manager, api_client):
    LeadTaskFactory(lead=lead, due_at=dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))

    for path in ("/api/tasks", f"/api/leads/{lead.pk}/tasks"):
        body = api_client(manager).get(path).json()
        assert [task["due_at"] for task in body["tasks"]] == ["2026-03-01T12:00:00+03:00"], path
