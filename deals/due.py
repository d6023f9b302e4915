"""What is due (SPEC §13), as filters the API, the back-office and the dashboard share: policies to renew soon and
payments whose planned date has passed. `today` is always the tenant's (its timezone), never the server's."""

import datetime

from django.db.models import Q

from deals.models import PaymentStatus, PolicyStatus

# A policy in force: the ones a renewal is about.
IN_FORCE = (PolicyStatus.ACTIVE, PolicyStatus.RENEWAL_DUE)
# Money still to come in: a planned or expected payment past its planned date is overdue.
OVERDUE_PAYMENT_STATUSES = (PaymentStatus.PLANNED, PaymentStatus.EXPECTED)


def overdue_payments_q(today: datetime.date) -> Q:
    return Q(status__in=OVERDUE_PAYMENT_STATUSES, planned_date__lt=today)


def ending_within_q(today: datetime.date, days: int) -> Q:
    """Policies in force ending from today up to `days` days ahead (inclusive)."""
    return Q(status__in=IN_FORCE, effective_to__gte=today, effective_to__lte=today + datetime.timedelta(days=days))


def renewals_this_month_q(today: datetime.date) -> Q:
    """Policies in force ending this calendar month with no renewal deal yet: the month's renewals still to start."""
    first = today.replace(day=1)
    next_first = (first + datetime.timedelta(days=32)).replace(day=1)
    return Q(status__in=IN_FORCE, effective_to__gte=first, effective_to__lt=next_first, renewal_deal__isnull=True)
