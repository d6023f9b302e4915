"""v1 tasks: work items about a deal (or its policy or payment), or standalone."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.versions import version_field
from deals.models.base import Transitions, UUIDTenantModel
from deals.models.deals import Deal


class DealTaskStatus(models.TextChoices):
    NEW = "new", _("Новая")
    IN_PROGRESS = "in_progress", _("В работе")
    WAITING = "waiting", _("В ожидании")
    DONE = "done", _("Выполнена")
    CANCELLED = "cancelled", _("Отменена")


class DealTaskPriority(models.TextChoices):
    LOW = "low", _("Низкий")
    NORMAL = "normal", _("Обычный")
    HIGH = "high", _("Высокий")


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

    subject = models.CharField(max_length=255, verbose_name=_("тема"))
    description = models.TextField(max_length=10_000, verbose_name=_("описание"))
    deal = models.ForeignKey(
        Deal, on_delete=models.CASCADE, related_name="tasks", null=True, blank=True, verbose_name=_("сделка")
    )
    policy = models.ForeignKey(
        "deals.Policy", on_delete=models.CASCADE, related_name="tasks", null=True, blank=True, verbose_name=_("полис")
    )
    payment = models.ForeignKey(
        "deals.Payment", on_delete=models.CASCADE, related_name="tasks", null=True, blank=True, verbose_name=_("платёж")
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        to_field="uuid",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("исполнитель задачи"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, to_field="uuid", on_delete=models.PROTECT, related_name="+", verbose_name=_("автор")
    )
    due_date = models.DateField(null=True, blank=True, verbose_name=_("срок выполнения"))
    priority = models.CharField(
        max_length=8, choices=DealTaskPriority.choices, default=DealTaskPriority.NORMAL, verbose_name=_("приоритет")
    )
    status = models.CharField(
        max_length=16, choices=DealTaskStatus.choices, default=DealTaskStatus.NEW, verbose_name=_("статус")
    )
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("начата"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("завершена"))
    version = version_field()

    class Meta:
        verbose_name = _("задача по сделке")
        verbose_name_plural = _("задачи по сделкам")
        ordering = [F("due_date").asc(nulls_last=True), "id"]
        # A PostgreSQL btree's ascending order already puts NULLs last (and SQLite rejects NULLS LAST in an index).
        indexes = [models.Index(fields=["tenant", "due_date", "id"], name="deals_task_list_idx")]

    def __str__(self) -> str:
        return self.subject

    @classmethod
    def visibility_q(cls, user) -> Q:
        """Managers see tasks assigned to them, authored by them, or about a deal they see (SPEC §9)."""
        return Q(assignee=user) | Q(created_by=user) | Deal.via_deal_q(user)
