"""v1 tasks: work items about a deal (or its policy or payment), or standalone."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from crm.versions import version_field
from deals.models.base import Transitions, UUIDTenantModel
from deals.models.deals import Deal


class DealTaskStatus(models.TextChoices):
    NEW = "new", "Новая"
    IN_PROGRESS = "in_progress", "В работе"
    WAITING = "waiting", "В ожидании"
    DONE = "done", "Выполнена"
    CANCELLED = "cancelled", "Отменена"


class DealTaskPriority(models.TextChoices):
    LOW = "low", "Низкий"
    NORMAL = "normal", "Обычный"
    HIGH = "high", "Высокий"


# The task state machine (SPEC §9); `deal_task_update` is the only code that changes a task's status.
DEAL_TASK_TRANSITIONS: Transitions = {
    DealTaskStatus.NEW: frozenset(
        {DealTaskStatus.IN_PROGRESS, DealTaskStatus.WAITING, DealTaskStatus.DONE, DealTaskStatus.CANCELLED}
    ),
    DealTaskStatus.IN_PROGRESS: frozenset({DealTaskStatus.WAITING, DealTaskStatus.DONE, DealTaskStatus.CANCELLED}),
    DealTaskStatus.WAITING: frozenset({DealTaskStatus.IN_PROGRESS, DealTaskStatus.DONE, DealTaskStatus.CANCELLED}),
    DealTaskStatus.DONE: frozenset(),
    DealTaskStatus.CANCELLED: frozenset(),
}
FINAL_TASK_STATUSES = frozenset({DealTaskStatus.DONE, DealTaskStatus.CANCELLED})


class DealTask(UUIDTenantModel):
    """A v1 task with its own status machine; `started_at`/`completed_at` are set by transitions."""

    subject = models.CharField(max_length=255)
    description = models.TextField(max_length=10_000)
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="tasks", null=True, blank=True)
    policy = models.ForeignKey("deals.Policy", on_delete=models.CASCADE, related_name="tasks", null=True, blank=True)
    payment = models.ForeignKey("deals.Payment", on_delete=models.CASCADE, related_name="tasks", null=True, blank=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, to_field="uuid", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, to_field="uuid", on_delete=models.PROTECT, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    priority = models.CharField(max_length=8, choices=DealTaskPriority.choices, default=DealTaskPriority.NORMAL)
    status = models.CharField(max_length=16, choices=DealTaskStatus.choices, default=DealTaskStatus.NEW)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    version = version_field()

    class Meta:
        ordering = [F("due_date").asc(nulls_last=True), "id"]
        # A PostgreSQL btree's ascending order already puts NULLs last (and SQLite rejects NULLS LAST in an index).
        indexes = [models.Index(fields=["tenant", "due_date", "id"], name="deals_task_list_idx")]

    def __str__(self) -> str:
        return self.subject

    @classmethod
    def visibility_q(cls, user) -> Q:
        """Managers see tasks assigned to them, authored by them, or about a deal they see (SPEC §9)."""
        return Q(assignee=user) | Q(created_by=user) | Deal.via_deal_q(user)
