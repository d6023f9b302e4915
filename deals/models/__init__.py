"""The deals domain (/api/v1): clients, deals, journal, calculations, policies, payments, v1 tasks."""

from deals.models.base import MONEY, transitions_markdown
from deals.models.clients import Client, ClientStatus, ClientType, ContactType, validate_contacts
from deals.models.deals import DEAL_TRANSITIONS, Deal, DealStatus, DealWeekCount, JournalEntry, JournalKind
from deals.models.policies import (
    CURRENCY_RUB,
    PAYMENT_TRANSITIONS,
    POLICY_TRANSITIONS,
    Calculation,
    Payment,
    PaymentCount,
    PaymentStatus,
    PaymentType,
    Policy,
    PolicyStatus,
)
from deals.models.tasks import DEAL_TASK_TRANSITIONS, FINAL_TASK_STATUSES, DealTask, DealTaskPriority, DealTaskStatus

__all__ = [
    "CURRENCY_RUB",
    "DEAL_TASK_TRANSITIONS",
    "DEAL_TRANSITIONS",
    "FINAL_TASK_STATUSES",
    "MONEY",
    "PAYMENT_TRANSITIONS",
    "POLICY_TRANSITIONS",
    "Calculation",
    "Client",
    "ClientStatus",
    "ClientType",
    "ContactType",
    "Deal",
    "DealStatus",
    "DealTask",
    "DealTaskPriority",
    "DealTaskStatus",
    "DealWeekCount",
    "JournalEntry",
    "JournalKind",
    "Payment",
    "PaymentCount",
    "PaymentStatus",
    "PaymentType",
    "Policy",
    "PolicyStatus",
    "transitions_markdown",
    "validate_contacts",
]
