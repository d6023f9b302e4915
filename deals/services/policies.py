"""Calculation and policy writes (with the policy state machine)."""

from django.db import transaction
from django.utils.translation import gettext as _

from crm.errors import ValidationFailed
from crm.service_kit import apply_changes, save_or_conflict, status_move, validate
from crm.versions import ANY, Expected, save_bumped
from deals.errors import PolicyConflict
from deals.models import POLICY_TRANSITIONS, Calculation, Deal, JournalEntry, JournalKind, Policy, PolicyStatus
from deals.services.common import require_active_client
from events.services import webhook_event_emit

POLICY_EDITABLE_FIELDS = frozenset({"effective_to", "documents", "premium_amount", "coverage_sum"})


def _policy_conflict(number: str) -> PolicyConflict:
    return PolicyConflict(
        f"A policy numbered {number} already exists.", details={"policy_number": [f"{number} is taken."]}
    )


@transaction.atomic
def calculation_create(*, deal: Deal, **fields) -> Calculation:
    """An insurer's quote for the deal; `valid_from <= valid_to`."""
    calculation = Calculation(tenant_id=deal.tenant_id, deal=deal, **fields)
    if calculation.valid_from and calculation.valid_to and calculation.valid_from > calculation.valid_to:
        raise ValidationFailed.for_field("validity_period", _("`from` must not be after `to`."))
    validate(calculation)
    calculation.save(force_insert=True)
    return calculation


@transaction.atomic
def policy_create(*, deal: Deal, calculation: Calculation | None = None, **fields) -> Policy:
    """Register a policy of the deal; its number is unique in the tenant (409 policy_conflict).

    An `active` policy needs the deal's client confirmed (412 precondition_failed).
    """
    if calculation is not None and calculation.deal_id != deal.pk:
        raise ValidationFailed.for_field("calculation_id", _("The calculation belongs to another deal."))
    policy = Policy(tenant_id=deal.tenant_id, deal=deal, calculation=calculation, **fields)
    _check_dates(policy)
    if policy.status == PolicyStatus.ACTIVE:
        require_active_client(deal.client)
    validate(policy)
    save_or_conflict(policy, {"deals_policy_number_uniq": _policy_conflict(policy.policy_number)}, force_insert=True)
    webhook_event_emit(event_type="policy_created", tenant_id=policy.tenant_id, object_id=policy.pk)
    if policy.status == PolicyStatus.ACTIVE:
        _close_renewed(policy)
    return policy


def _check_dates(policy: Policy) -> None:
    if policy.effective_from > policy.effective_to:
        raise ValidationFailed.for_field("effective_to", _("Must not be before effective_from."))


def _move_status(policy: Policy, status: str) -> bool:
    """The one enforcer of POLICY_TRANSITIONS (400) and of the confirmed-client rule for `active` (412).

    Sets the new status; False for the current status (a no-op).
    """
    if not status_move(policy, POLICY_TRANSITIONS, status):
        return False
    if status == PolicyStatus.ACTIVE:
        require_active_client(policy.deal.client)
    return True


@transaction.atomic
def policy_update(*, policy: Policy, status: str | None = None, expected: Expected = ANY, **changes) -> Policy:
    """Change a policy's dates, documents, sums and status as one new version.

    `expected` is the version the caller read (SPEC §11): checked under the row lock, stale → 412/409.
    """
    policy = (
        Policy.objects.for_tenant(policy.tenant_id)
        .select_for_update(of=("self",))
        .select_related("deal__client")
        .get(pk=policy.pk)
    )
    expected.check(policy.version)
    changed = apply_changes(policy, POLICY_EDITABLE_FIELDS, changes)
    if status is not None and _move_status(policy, status):
        changed.append("status")
    if changed:
        _check_dates(policy)
        validate(policy)
        save_bumped(policy, update_fields=[*changed, "updated_at"])
        webhook_event_emit(event_type="policy_updated", tenant_id=policy.tenant_id, object_id=policy.pk)
    if "status" in changed and policy.status == PolicyStatus.ACTIVE:
        _close_renewed(policy)
    return policy


def _close_renewed(successor: Policy) -> None:
    """A policy of a renewal deal became active: the policy it renews is closed (SPEC §13), noted on both deals."""
    deal = successor.deal
    if deal.renews_policy_id is None:
        return
    renewed = Policy.objects.for_tenant(successor.tenant_id).select_related("deal").get(pk=deal.renews_policy_id)
    if renewed.status == PolicyStatus.CLOSED:
        return
    policy_update(policy=renewed, status=PolicyStatus.CLOSED)
    _journal(renewed.deal, f"Полис {renewed.policy_number} закрыт: продлён полисом {successor.policy_number}")
    _journal(deal, f"Полис {successor.policy_number} действует: полис {renewed.policy_number} закрыт")


def _journal(deal: Deal, text: str) -> None:
    JournalEntry.objects.create(tenant_id=deal.tenant_id, deal=deal, kind=JournalKind.SYSTEM, text=text)


def policy_transition(*, policy: Policy, status: str, expected: Expected = ANY) -> Policy:
    """Only a status change (the demo data): `policy_update` with just `status`."""
    return policy_update(policy=policy, status=status, expected=expected)
