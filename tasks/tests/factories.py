import factory

from pipelines.services import lead_create
from tasks.models import LeadTask, TaskStatus, TaskType


def make_lead(*, tenant, assigned_to=None, name="Иван Петров"):
    """A lead through the pipelines service (default pipeline, first stage), like the API makes one."""
    return lead_create(tenant=tenant, name=name, phone=None, email="lead@example.com", assigned_to=assigned_to)


class LeadTaskFactory(factory.django.DjangoModelFactory):
    """A task row written directly (no history, no event): for read tests and fixtures."""

    class Meta:
        model = LeadTask

    lead = None
    tenant = factory.LazyAttribute(lambda task: task.lead.tenant)
    assigned_to = factory.LazyAttribute(lambda task: task.lead.assigned_to)
    created_by = factory.LazyAttribute(lambda task: task.assigned_to)
    type = TaskType.CALL
    status = TaskStatus.OPEN
    note = factory.Sequence(lambda n: f"Перезвонить #{n}")
