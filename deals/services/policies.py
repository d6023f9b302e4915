"""Calculation and policy writes (with the policy state machine)."""

from django.db import transaction

from crm.errors import ValidationFailed
from deals.errors import PolicyConflict
from deals.models import POLICY_TRANSITIONS, Calculation, Deal, Policy
from deals.services.common import assign_changes, clean_fields, save_or_conflict, transition_allowed

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
        raise ValidationFailed.for_field("validity_period", "`from` must not be after `to`.")
    clean_fields(calculation)
    calculation.save(force_insert=True)
    return calculation


@transaction.atomic
def policy_create(*, deal: Deal, calculation: Calculation | None = None, **fields) -> Policy:
    """Register a policy of the deal; its number is unique in the tenant (409 policy_conflict)."""
    if calculation is not None and calculation.deal_id != deal.pk:
        raise ValidationFailed.for_field("calculation_id", "The calculation belongs to another deal.")
    policy = Policy(tenant_id=deal.tenant_id, deal=deal, calculation=calculation, **fields)
    _check_dates(policy)
    clean_fields(policy)
    save_or_conflict(policy, {"deals_policy_number_uniq": _policy_conflict(policy.policy_number)}, force_insert=True)
    return policy


def _check_dates(policy: Policy) -> None:
    if policy.effective_from > policy.effective_to:
        raise ValidationFailed.for_field("effective_to", "Must not be before effective_from.")


@transaction.atomic
def policy_update(*, policy: Policy, status: str | None = None, **changes) -> Policy:
    """Change a policy's dates, documents and sums, then its status through `policy_transition`."""
    policy = Policy.objects.for_tenant(policy.tenant_id).select_for_update().get(pk=policy.pk)
    changed = assign_changes(policy, POLICY_EDITABLE_FIELDS, changes)
    if changed:
        _check_dates(policy)
        clean_fields(policy)
        policy.save(update_fields=[*changed, "updated_at"])
    if status is not None:
        policy = policy_transition(policy=policy, status=status)
    return policy


@transaction.atomic
def policy_transition(*, policy: Policy, status: str) -> Policy:
    """The one enforcer of POLICY_TRANSITIONS: 400 invalid_status_transition, a no-op for the current status."""
    policy = Policy.objects.for_tenant(policy.tenant_id).select_for_update().get(pk=policy.pk)
    if transition_allowed(POLICY_TRANSITIONS, policy.status, status):
        policy.status = status
        policy.save(update_fields=["status", "updated_at"])
    return policy
