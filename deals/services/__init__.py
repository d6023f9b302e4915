"""Every write of the deals domain (API, admin and demo data call these)."""

from deals.services.clients import client_create, client_may_change, client_update
from deals.services.deals import (
    deal_create,
    deal_for_acting_user,
    deal_transition,
    deal_update,
    journal_entry_create,
)
from deals.services.payments import payment_create, payment_transition, payment_update
from deals.services.policies import calculation_create, policy_create, policy_transition, policy_update
from deals.services.renewals import policy_renew, policy_renewals
from deals.services.tasks import deal_task_create, deal_task_transition, deal_task_update

__all__ = [
    "calculation_create",
    "client_create",
    "client_may_change",
    "client_update",
    "deal_create",
    "deal_for_acting_user",
    "deal_task_create",
    "deal_task_transition",
    "deal_task_update",
    "deal_transition",
    "deal_update",
    "journal_entry_create",
    "payment_create",
    "payment_transition",
    "payment_update",
    "policy_create",
    "policy_renew",
    "policy_renewals",
    "policy_transition",
    "policy_update",
]
