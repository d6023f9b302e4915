"""Follow-up tasks on leads: calls, meetings and notes with a due time, an assignee and an author."""

from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.tenancy import TenantModel
from crm.versions import version_field

MAX_NOTE_LENGTH = 10_000
DUE_AT_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC))


def validate_due_at(value: datetime) -> None:
    # A mistyped year (0233, 20255) is refused rather than stored: before the 1920s a tenant's zone had a local mean
    # time offset with seconds (+02:30:17), which no ISO-8601 client reads back.
    if not DUE_AT_RANGE[0] <= value < DUE_AT_RANGE[1]:
        raise ValidationError(_("A due time between 1970 and 2999 is expected."), code="out_of_range")


class TaskType(models.TextChoices):
    CALL = "call", _("Звонок")
    MEETING = "meeting", _("Встреча")
    NOTE = "note", _("Заметка")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Открыта")
    DONE = "done", _("Выполнена")
    CANCELLED = "cancelled", _("Отменена")


class DueBucket(models.TextChoices):
    TODAY = "today", _("Сегодня")
    OVERDUE = "overdue", _("Просрочены")
    WEEK = "week", _("Ближайшие 7 дней")


class LeadTask(TenantModel):
    """A follow-up on a lead (call, meeting, note) due at a time, for one user of the tenant."""

    # The composite indexes below start with `lead`, so Django's own single-column index is not needed.
    lead = models.ForeignKey(
        "pipelines.Lead", on_delete=models.CASCADE, related_name="tasks", db_index=False, verbose_name=_("лид")
    )
    type = models.CharField(max_length=16, choices=TaskType.choices, default=TaskType.CALL, verbose_name=_("тип"))
    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN, verbose_name=_("статус")
    )
    due_at = models.DateTimeField(null=True, blank=True, validators=[validate_due_at], verbose_name=_("срок"))
    note = models.TextField(
        blank=True, default="", validators=[MaxLengthValidator(MAX_NOTE_LENGTH)], verbose_name=_("заметка")
    )
    # Users are deactivated, never deleted: RESTRICT keeps a task's assignee, yet lets a whole tenant go.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.RESTRICT, related_name="lead_tasks", verbose_name=_("ответственный")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("автор"),
    )
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("выполнена"))
    version = version_field()
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("изменено"))

    class Meta:
        verbose_name = _("задача по лиду")
        verbose_name_plural = _("задачи по лидам")
        # Due first, undated last (PostgreSQL's ascending order puts NULLs last, so the indexes match it).
        ordering = [models.F("due_at").asc(nulls_last=True), "id"]
        indexes = [
            # `/api/tasks` in its order, unfiltered and by each filter; `status` + a due range is the hot path.
            models.Index(fields=["tenant", "due_at", "id"], name="tasks_task_due"),
            models.Index(fields=["tenant", "status", "due_at", "id"], name="tasks_task_status_due"),
            models.Index(fields=["tenant", "assigned_to", "status", "due_at", "id"], name="tasks_task_assignee_due"),
            models.Index(fields=["tenant", "type", "status", "due_at", "id"], name="tasks_task_type_due"),
            # A lead's tasks, and the lead table's open-task count and next due time.
            models.Index(fields=["lead", "status", "due_at"], name="tasks_task_lead_status_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=TaskStatus.DONE, completed_at__isnull=False)
                | (~Q(status=TaskStatus.DONE) & Q(completed_at__isnull=True)),
                name="tasks_task_completed_at_iff_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} #{self.pk}"

    @classmethod
    def visibility_q(cls, user) -> Q:
        """Managers see and change the tasks assigned to them, whoever holds the lead (SPEC §15).

        A lead's own task list is wider: every task of a lead the manager may see (`visible_through("lead")`).
        """
        return Q(assigned_to=user)
