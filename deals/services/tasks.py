"""v1 task writes (with the task state machine)."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import Forbidden, ValidationFailed
from crm.service_kit import apply_changes, status_move, validate
from crm.tenancy import check_may_touch, sees_whole_tenant
from crm.versions import ANY, Expected, save_bumped
from deals.models import DEAL_TASK_TRANSITIONS, FINAL_TASK_STATUSES, DealTask, DealTaskStatus
from deals.services.deals import deal_for_acting_user

TASK_EDITABLE_FIELDS = frozenset({"subject", "description", "due_date", "priority"})


def _check_assignee(*, acting_user, assignee) -> None:
    if not sees_whole_tenant(acting_user) and assignee.pk != acting_user.pk:
        raise Forbidden(_("Managers assign tasks only to themselves."))


@transaction.atomic
def deal_task_create(
    *, tenant, acting_user, subject: str, description: str, assignee, deal_id=None, policy=None, payment=None, **fields
) -> DealTask:
    """A task, optionally about a deal, its policy or its payment (the deal is taken from them when omitted)."""
    _check_assignee(acting_user=acting_user, assignee=assignee)
    deal = (
        deal_for_acting_user(tenant=tenant, acting_user=acting_user, deal_id=deal_id) if deal_id is not None else None
    )
    deal_id = deal.pk if deal is not None else None
    for field, obj in (("policy_id", policy), ("payment_id", payment)):
        if obj is None:
            continue
        if deal_id is not None and obj.deal_id != deal_id:
            raise ValidationFailed.for_field(field, _("It belongs to another deal."))
        deal_id = obj.deal_id
    if payment is not None and policy is not None and payment.policy_id != policy.pk:
        raise ValidationFailed.for_field("payment_id", _("The payment belongs to another policy."))
    if deal is None and deal_id is not None:
        deal = (policy or payment).deal
        check_may_touch(acting_user, deal, _("This deal belongs to a colleague."))
    task = DealTask(
        tenant=tenant,
        subject=subject,
        description=description,
        deal=deal,
        policy=policy,
        payment=payment,
        assignee=assignee,
        created_by=acting_user,
        **fields,
    )
    validate(task)
    task.save(force_insert=True)
    return task


def _move_status(task: DealTask, status: str) -> bool:
    """The one enforcer of DEAL_TASK_TRANSITIONS: 409 invalid_status_transition; sets started_at/completed_at.

    False for the current status (a no-op).
    """
    if not status_move(task, DEAL_TASK_TRANSITIONS, status, http_status=409):
        return False
    now = timezone.now()
    if status == DealTaskStatus.IN_PROGRESS and task.started_at is None:
        task.started_at = now
    if status in FINAL_TASK_STATUSES:
        task.completed_at = now
    return True


@transaction.atomic
def deal_task_update(
    *, task: DealTask, acting_user, status: str | None = None, assignee=None, expected: Expected = ANY, **changes
) -> DealTask:
    """Change a task's fields, assignee and status as one new version.

    `expected` is the version the caller read (SPEC §11): checked under the row lock, stale → 412/409.
    """
    task = DealTask.objects.for_tenant(task.tenant_id).select_for_update().get(pk=task.pk)
    expected.check(task.version)
    changed = apply_changes(task, TASK_EDITABLE_FIELDS, changes)
    if assignee is not None and assignee.uuid != task.assignee_id:
        _check_assignee(acting_user=acting_user, assignee=assignee)
        task.assignee = assignee
        changed.append("assignee")
    if status is not None and _move_status(task, status):
        changed += ["status", "started_at", "completed_at"]
    if changed:
        validate(task)
        save_bumped(task, update_fields=[*changed, "updated_at"])
    return task


def deal_task_transition(*, task: DealTask, status: str, acting_user=None, expected: Expected = ANY) -> DealTask:
    """Only a status change (the demo data): `deal_task_update` with just `status`."""
    return deal_task_update(task=task, acting_user=acting_user, status=status, expected=expected)
