"""Dashboard panels of the deals app: deals by status, premiums and commissions planned vs received per month, and
the renewals to start this month beside the payments overdue (SPEC §13).

One aggregate query per panel. A payment counts in the month of its
`planned_date` (payments have no separate date of receipt): «planned» is every payment not cancelled, «received»
those received or paid out.
"""

from datetime import date

from django.db.models import Count, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.translation import gettext as _

from crm.charts import PALETTE, Bar, Series, column_chart, hbar_chart, number
from crm.dashboard import Panel, admin_link
from crm.models import Tenant
from deals.due import overdue_payments_q, renewals_this_month_q
from deals.models import Deal, DealStatus, Payment, PaymentStatus, PaymentType, Policy

MONTHS_BACK, MONTHS_AHEAD = 8, 3
_STATUS_COLORS = dict(zip(DealStatus.values, PALETTE, strict=False))


def deals_by_status(*, tenant) -> dict[str, int]:
    """Number of deals in each status (every status present, zeros included)."""
    counts = dict.fromkeys(DealStatus.values, 0)
    rows = Deal.objects.for_tenant(tenant).order_by().values("status").annotate(n=Count("pk"))
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def payments_per_month(*, tenant, payment_type: str, today: date | None = None) -> list[tuple[date, float, float]]:
    """(month, planned, received) of one payment type over MONTHS_BACK months before this one to MONTHS_AHEAD after."""
    today = today or timezone.localdate(timezone=tenant.tzinfo)
    first = add_months(today.replace(day=1), -MONTHS_BACK)
    months = [add_months(first, i) for i in range(MONTHS_BACK + MONTHS_AHEAD + 1)]
    rows = (
        Payment.objects.for_tenant(tenant)
        .filter(
            payment_type=payment_type,
            planned_date__gte=first,
            planned_date__lt=add_months(months[-1], 1),
        )
        .exclude(status=PaymentStatus.CANCELLED)
        .annotate(month=TruncMonth("planned_date"))
        .order_by()
        .values("month")
        .annotate(
            planned=Sum("amount"),
            received=Sum("amount", filter=Q(status__in=[PaymentStatus.RECEIVED, PaymentStatus.PAID_OUT])),
        )
    )
    found = {row["month"]: (float(row["planned"] or 0), float(row["received"] or 0)) for row in rows}
    return [(month, *found.get(month, (0.0, 0.0))) for month in months]


def month_label(month: date) -> str:
    return f"{MONTHS_3[month.month]} {month.year % 100:02d}"


def deal_status_panel(*, request, tenant) -> Panel:
    title = _("Сделки по статусам")
    counts = deals_by_status(tenant=tenant)
    labels = {status: str(label) for status, label in DealStatus.choices}
    bars = [Bar(label=labels[s], value=n, color=_STATUS_COLORS[s]) for s, n in counts.items()]
    return Panel(
        title=title,
        chart=hbar_chart(bars, title=title) if any(counts.values()) else hbar_chart([], title=title),
        table_head=(_("Статус"), _("Сделок")),
        table_rows=[(labels[s], number(n)) for s, n in counts.items()],
        links=admin_link(_("Все сделки"), "admin:deals_deal_changelist"),
    )


def _money_panel(*, tenant, payment_type: str, title: str) -> Panel:
    months = payments_per_month(tenant=tenant, payment_type=payment_type)
    series = [
        Series(name=_("План"), values=[planned for _, planned, _ in months], color="#94a3b8"),
        Series(name=_("Получено"), values=[received for _, _, received in months], color="#2e9e5b"),
    ]
    has_data = any(planned or received for _, planned, received in months)
    return Panel(
        title=title,
        chart=column_chart([month_label(m) for m, _, _ in months], series, title=title)
        if has_data
        else hbar_chart([], title=title),
        table_head=(_("Месяц"), _("План, ₽"), _("Получено, ₽")),
        table_rows=[(month_label(m), number(planned), number(received)) for m, planned, received in months],
    )


def premiums_panel(*, request, tenant) -> Panel:
    return _money_panel(
        tenant=tenant, payment_type=PaymentType.CLIENT_PREMIUM, title=_("Премии клиентов: план и получено, ₽")
    )


def commissions_panel(*, request, tenant) -> Panel:
    return _money_panel(
        tenant=tenant, payment_type=PaymentType.COMMISSION_INCOME, title=_("Комиссия: план и получено, ₽")
    )


def renewals_and_overdue(*, tenant, today: date | None = None) -> tuple[int, int]:
    """(renewals to start this month, payments overdue) of the tenant, on its own date: both in one query."""
    today = today or timezone.localdate(timezone=tenant.tzinfo)
    policies = Policy.objects.for_tenant(tenant).filter(renewals_this_month_q(today))
    payments = Payment.objects.for_tenant(tenant).filter(overdue_payments_q(today))
    counts = Tenant.objects.filter(pk=tenant.pk).annotate(renewals=_count(policies), overdue=_count(payments))
    return counts.values_list("renewals", "overdue").get()


def _count(queryset) -> Coalesce:
    """The number of rows of a one-tenant queryset, as a scalar subquery (0 when none)."""
    per_tenant = queryset.order_by().values("tenant").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(per_tenant), 0)


def renewals_panel(*, request, tenant) -> Panel:
    title = _("Продления и просроченные платежи")
    renewals, overdue = renewals_and_overdue(tenant=tenant)
    rows = [(_("Продлить в этом месяце"), renewals, "#d97706"), (_("Платежи просрочены"), overdue, "#dc2626")]
    bars = [Bar(label=label, value=count, color=color) for label, count, color in rows]
    return Panel(
        title=title,
        chart=hbar_chart(bars if renewals or overdue else [], title=title),
        table_head=("", _("Сколько")),
        table_rows=[(label, number(count)) for label, count, _ in rows],
        links=(
            *admin_link(_("Полисы к продлению"), "admin:deals_policy_changelist", "?renewal=month"),
            *admin_link(_("Просроченные платежи"), "admin:deals_payment_changelist", "?overdue=yes"),
        ),
    )
