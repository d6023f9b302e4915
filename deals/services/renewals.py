"""Renewals (SPEC §13): policies near their end become `renewal_due` with a task, and a policy is renewed by a deal."""

import datetime
from typing import cast

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import Conflict, ValidationFailed
from crm.models import Tenant
from deals.errors import DealConflict
from deals.models import (
    Deal,
    DealTask,
    DealTaskPriority,
    JournalEntry,
    JournalKind,
    Policy,
    PolicyStatus,
)
from deals.services.deals import deal_create
from deals.services.policies import policy_update

RENEWABLE_STATUSES = frozenset({PolicyStatus.ACTIVE, PolicyStatus.RENEWAL_DUE})
# The renewal task is due a week before the policy ends (or today, when that week has begun).
TASK_LEAD_TIME = datetime.timedelta(days=7)
# Policies moved per transaction: row locks are held for one batch only, and a crash loses at most one batch.
BATCH_SIZE = 200
RENEWAL_TITLE_PREFIX = "Продление: "
TITLE_MAX = cast(int, Deal._meta.get_field("title").max_length)


def renewal_title(title: str) -> str:
    """«Продление: <old title>», shortened with «…» to fit a deal title."""
    full = f"{RENEWAL_TITLE_PREFIX}{title}"
    return full if len(full) <= TITLE_MAX else full[: TITLE_MAX - 1] + "…"


@transaction.atomic
def policy_renew(*, policy: Policy, acting_user) -> Deal:
    """Open the deal renewing an `active` or `renewal_due` policy: a draft deal of the same client and people.

    The policy's row lock makes one of two concurrent calls the renewal; the other (and any later one) is 409.
    """
    policy = Policy.objects.for_tenant(policy.tenant_id).select_for_update(of=("self",)).get(pk=policy.pk)
    if policy.status not in RENEWABLE_STATUSES:
        refusal = ValidationFailed.for_field(
            "status",
            _("Only an active or renewal_due policy can be renewed; this one is %(status)s.")
            % {"status": policy.status},
        )
        refusal.admin_message = _("Продлить можно только действующий полис, а этот — «%(status)s».") % {
            "status": PolicyStatus(policy.status).label
        }
        raise refusal
    if Deal.objects.for_tenant(policy.tenant_id).filter(renews_policy=policy).exists():
        raise _already_renewed(policy)
    deals = Deal.objects.for_tenant(policy.tenant_id)
    old_deal = deals.select_related("tenant", "sales_agent", "executor").get(pk=policy.deal_id)
    title = renewal_title(old_deal.title)
    try:
        deal = deal_create(
            tenant=old_deal.tenant,
            acting_user=acting_user,
            client_id=old_deal.client_id,
            title=title,
            sales_agent=old_deal.sales_agent,
            executor=old_deal.executor,
            renews_policy=policy,
            conflicts={"deals_deal_renews_policy_id_key": _already_renewed(policy)},
        )
    except DealConflict as exc:
        exc.admin_message = _("У клиента уже есть открытая сделка «%(title)s».") % {"title": title}
        raise
    _journal(old_deal, acting_user, f"Полис {policy.policy_number}: начато продление, сделка «{deal.title}»")
    _journal(deal, acting_user, f"Продление полиса {policy.policy_number} (сделка «{old_deal.title}»)")
    return deal


def _already_renewed(policy: Policy) -> Conflict:
    refusal = Conflict(f"Policy {policy.policy_number} is already being renewed.")
    refusal.admin_message = _("Продление уже начато.")
    return refusal


def _journal(deal: Deal, acting_user, text: str) -> None:
    JournalEntry.objects.create(
        tenant_id=deal.tenant_id, deal=deal, author=acting_user, kind=JournalKind.SYSTEM, text=text
    )


def tenant_today(tenant: Tenant) -> datetime.date:
    return timezone.localdate(timezone=tenant.tzinfo)


def renewal_horizon(tenant: Tenant) -> datetime.date:
    """The last `effective_to` that is due for renewal today: today + renewal_notice_days (tenant's timezone)."""
    return tenant_today(tenant) + datetime.timedelta(days=tenant.renewal_notice_days)


def tenant_policy_renewals(tenant: Tenant) -> int:
    """Move the tenant's `active` policies ending by the horizon to `renewal_due`; how many moved.

    Every policy ending by then is due, an already ended but still `active` one too (a missed renewal is the most
    urgent). Batches are locked with SKIP LOCKED: two workers at once take different policies, and a policy moved
    is no longer `active`, so a second run (or the other worker's next batch) finds nothing to repeat.
    """
    today, horizon = tenant_today(tenant), renewal_horizon(tenant)
    moved = 0
    while True:
        with transaction.atomic():
            batch = list(
                Policy.objects.for_tenant(tenant)
                .filter(status=PolicyStatus.ACTIVE, effective_to__lte=horizon)
                .select_related("deal")
                .select_for_update(of=("self",), skip_locked=True)
                .order_by("effective_to", "id")[:BATCH_SIZE]
            )
            if not batch:
                return moved
            _mark_due(batch, today)
        moved += len(batch)


def _mark_due(policies: list[Policy], today: datetime.date) -> None:
    """Each policy through the policy service (its version and `policy_updated`), then the journal and the tasks."""
    entries, tasks = [], []
    for policy in policies:
        policy_update(policy=policy, status=PolicyStatus.RENEWAL_DUE)
        deal = policy.deal
        ends = policy.effective_to.strftime("%d.%m.%Y")
        entries.append(
            JournalEntry(
                tenant_id=deal.tenant_id,
                deal=deal,
                kind=JournalKind.SYSTEM,
                text=f"Полис {policy.policy_number}: active → renewal_due, пора продлевать (заканчивается {ends})",
            )
        )
        tasks.append(
            DealTask(
                tenant_id=deal.tenant_id,
                subject=f"Продление полиса {policy.policy_number}",
                description=f"Полис {policy.policy_number} ({policy.insurer}) заканчивается {ends}: начните продление.",
                deal=deal,
                policy=policy,
                assignee_id=deal.sales_agent_id,
                created_by_id=deal.sales_agent_id,
                due_date=max(policy.effective_to - TASK_LEAD_TIME, today),
                priority=DealTaskPriority.HIGH,
            )
        )
    JournalEntry.objects.bulk_create(entries)
    DealTask.objects.bulk_create(tasks)


def policy_renewals(*, tenant_id: int | None = None) -> int:
    """The scheduled run over every tenant (or one): how many policies moved to `renewal_due`."""
    tenants = Tenant.objects.order_by("pk")
    if tenant_id is not None:
        tenants = tenants.filter(pk=tenant_id)
    return sum(tenant_policy_renewals(tenant) for tenant in tenants)
