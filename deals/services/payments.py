"""Payment writes (with the payment state machine)."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import ValidationFailed
from crm.service_kit import apply_changes, status_move, validate
from crm.versions import ANY, Expected, save_bumped
from deals.errors import PolicyNotFound
from deals.models import PAYMENT_TRANSITIONS, Payment, PaymentStatus, Policy
from deals.services.deals import deal_for_acting_user
from events.services import webhook_event_emit

PAYMENT_EDITABLE_FIELDS = frozenset({"external_ref", "planned_date", "notes", "received_at", "paid_out_at"})
# The date a transition stamps with today (tenant's timezone) unless the same change gives it (SPEC §13).
PAYMENT_STATUS_DATES: dict[str, str] = {PaymentStatus.RECEIVED: "received_at", PaymentStatus.PAID_OUT: "paid_out_at"}


@transaction.atomic
def payment_create(
    *,
    tenant,
    acting_user,
    deal_id,
    policy_id,
    payment_type: str,
    amount,
    planned_date=None,
    notes: str = "",
    received_at=None,
    paid_out_at=None,
) -> Payment:
    """Plan a payment of a deal's policy: status `planned`, RUB, no external_ref yet."""
    deal = deal_for_acting_user(tenant=tenant, acting_user=acting_user, deal_id=deal_id)
    policy = Policy.objects.for_tenant(tenant).filter(pk=policy_id).first()
    if policy is None:
        raise PolicyNotFound(f"Policy {policy_id} not found.")
    if policy.deal_id != deal.pk:
        raise ValidationFailed.for_field("policy_id", _("The policy belongs to another deal."))
    payment = Payment(
        tenant=tenant,
        deal=deal,
        policy=policy,
        payment_type=payment_type,
        amount=amount,
        planned_date=planned_date,
        notes=notes,
        received_at=received_at,
        paid_out_at=paid_out_at,
        status=PaymentStatus.PLANNED,
    )
    validate(payment)
    payment.save(force_insert=True)
    webhook_event_emit(event_type="payment_created", tenant_id=payment.tenant_id, object_id=payment.pk)
    return payment


@transaction.atomic
def payment_update(*, payment: Payment, status: str | None = None, expected: Expected = ANY, **changes) -> Payment:
    """Change a payment's reference, dates, notes and status as one new version.

    The move to `received` (`paid_out`) sets `received_at` (`paid_out_at`) to today in the tenant's timezone,
    unless this same change gives that date (SPEC §13).

    `expected` is the version the caller read (SPEC §11): checked under the row lock, stale → 412/409.
    """
    payment = Payment.objects.for_tenant(payment.tenant_id).select_for_update().get(pk=payment.pk)
    expected.check(payment.version)
    changed = apply_changes(payment, PAYMENT_EDITABLE_FIELDS, changes)
    # The one enforcer of PAYMENT_TRANSITIONS: 400 invalid_status_transition, a no-op for the current status.
    if status is not None and status_move(payment, PAYMENT_TRANSITIONS, status):
        changed.append("status")
        stamped = PAYMENT_STATUS_DATES.get(status)
        if stamped is not None and stamped not in changes:
            today = timezone.localdate(timezone=payment.tenant.tzinfo)
            if getattr(payment, stamped) != today:
                setattr(payment, stamped, today)
                changed.append(stamped)
    if changed:
        validate(payment)
        save_bumped(payment, update_fields=[*changed, "updated_at"])
        webhook_event_emit(event_type="payment_updated", tenant_id=payment.tenant_id, object_id=payment.pk)
    return payment


def payment_transition(*, payment: Payment, status: str, expected: Expected = ANY) -> Payment:
    """Only a status change: `payment_update` with just `status`."""
    return payment_update(payment=payment, status=status, expected=expected)
