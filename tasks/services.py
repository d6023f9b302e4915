"""Writes of lead tasks, shared by the API, the admin and the demo data.

Every create or change records one `task` entry in the lead's history and emits `lead_updated` once, both
through `pipelines.services.lead_touch`, in the same transaction as the write.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import Forbidden, ValidationFailed
from crm.i18n import stored
from crm.models import User
from crm.service_kit import apply_changes, validate
from crm.tenancy import check_may_touch, sees_whole_tenant
from crm.versions import ANY, Expected, save_bumped
from pipelines.models import HistoryKind, Lead
from pipelines.services import lead_lock, lead_touch
from tasks.models import LeadTask, TaskStatus, TaskType

TASK_EDITABLE_FIELDS = ("type", "status", "due_at", "note", "assigned_to")
_NOTE_PREVIEW = 200


def _check_assignee(*, lead: Lead, acting_user: User | None, assigned_to: User | None) -> None:
    if assigned_to is None:
        raise ValidationFailed.for_field("assigned_to_user_id", _("A task needs an assignee."))
    if assigned_to.tenant_id != lead.tenant_id or not assigned_to.is_active:
        raise ValidationFailed.for_field("assigned_to_user_id", _("No active user with this id in your tenant."))
    if acting_user is not None and not sees_whole_tenant(acting_user) and assigned_to.pk != acting_user.pk:
        raise Forbidden(_("A manager may only assign a task to themself."))


def _when(value: datetime | None, lead: Lead) -> str:
    return timezone.localtime(value, lead.tenant.tzinfo).strftime("%d.%m.%Y %H:%M") if value else "—"


def _preview(note: str) -> str:
    return note if len(note) <= _NOTE_PREVIEW else note[: _NOTE_PREVIEW - 1] + "…"


@transaction.atomic
def task_create(
    *,
    lead: Lead,
    acting_user: User | None,
    type: str = TaskType.CALL,
    due_at: datetime | None = None,
    note: str | None = "",
    assigned_to: User | None = None,
) -> LeadTask:
    """Create a task on a lead; the assignee defaults to the author, a manager may only name themself."""
    lead = lead_lock(lead)
    check_may_touch(acting_user, lead, _("This lead is assigned to a colleague."))
    assigned_to = assigned_to or acting_user
    _check_assignee(lead=lead, acting_user=acting_user, assigned_to=assigned_to)
    task = LeadTask(
        tenant_id=lead.tenant_id,
        lead=lead,
        type=type,
        due_at=due_at,
        note=note or "",
        assigned_to=assigned_to,
        created_by=acting_user,
    )
    validate(task)
    task.save()
    text = f"Задача #{task.pk} создана: {stored(TaskType(task.type).label).lower()}, срок {_when(task.due_at, lead)}"
    if task.note:
        text += f" — {_preview(task.note)}"
    lead_touch(lead=lead, kind=HistoryKind.TASK, acting_user=acting_user, text=text, payload={"task_id": task.pk})
    return task


def _describe(task: LeadTask, name: str, before) -> str:
    lead = task.lead
    if name == "status":
        return f"статус: {stored(TaskStatus(before).label).lower()} → {stored(TaskStatus(task.status).label).lower()}"
    if name == "type":
        return f"тип: {stored(TaskType(before).label).lower()} → {stored(TaskType(task.type).label).lower()}"
    if name == "due_at":
        return f"срок: {_when(before, lead)} → {_when(task.due_at, lead)}"
    if name == "assigned_to":
        return f"исполнитель: {before.display_name} → {task.assigned_to.display_name}"
    return f"текст: {_preview(task.note) or '—'}"


@transaction.atomic
def task_update(*, task: LeadTask, acting_user: User | None, expected: Expected = ANY, **fields) -> LeadTask:
    """Change type, status, due time, note or assignee; done sets `completed_at`, leaving done clears it.

    `expected` is the version the caller read (SPEC §11): checked under the row lock, stale → 412/409.
    """
    task = (
        LeadTask.objects.for_tenant(task.tenant_id)
        .select_for_update()
        .select_related("lead__tenant", "assigned_to")
        .get(pk=task.pk)
    )
    # The task's own rule (its assignee), not its lead's: a manager changes the tasks assigned to them (SPEC §15).
    check_may_touch(acting_user, task, _("This task is assigned to a colleague."))
    expected.check(task.version)
    if "note" in fields:
        fields["note"] = fields["note"] or ""
    if "assigned_to" in fields and getattr(fields["assigned_to"], "pk", None) != task.assigned_to_id:
        _check_assignee(lead=task.lead, acting_user=acting_user, assigned_to=fields["assigned_to"])
    before = {name: getattr(task, name) for name in fields if name in TASK_EDITABLE_FIELDS}
    changed = apply_changes(task, TASK_EDITABLE_FIELDS, fields)
    if not changed:
        return task
    if "status" in changed:
        task.completed_at = timezone.now() if task.status == TaskStatus.DONE else None
    validate(task)
    save_bumped(task)
    text = f"Задача #{task.pk}: " + "; ".join(_describe(task, name, before[name]) for name in changed)
    lead_touch(
        lead=task.lead,
        kind=HistoryKind.TASK,
        acting_user=acting_user,
        text=text,
        payload={"task_id": task.pk, "changed": sorted(changed)},
    )
    return task
