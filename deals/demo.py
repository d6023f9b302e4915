"""Demo brokerage data: clients, deals in every status with journals, calculations, policies, payments, tasks."""

import datetime
from decimal import Decimal

from django.utils import timezone

from deals import services
from deals.models import DealStatus, DealTaskStatus, PaymentStatus, PaymentType, PolicyStatus
from deals.services.renewals import tenant_policy_renewals

_CLIENTS = [
    ("company", "ООО «Северный ветер»", "Северный ветер", "7712345678", "+74951234567"),
    ("company", "АО «Техностарт»", "Техностарт", "7709876543", "office@technostart.example"),
    ("individual", "Иванов Пётр Сергеевич", "", "500100732259", "+79161234567"),
    ("individual", "Смирнова Анна Викторовна", "", "", "@anna_smirnova"),
    ("company", "ИП Кузнецов Д. А.", "Кузнецов", "330500938709", "kuznetsov@mail.example"),
]
# The route from draft to each status, so every deal's journal tells how it got there.
_PATHS = {
    DealStatus.DRAFT: [],
    DealStatus.ESTIMATING: [DealStatus.ESTIMATING],
    DealStatus.AWAITING_CLIENT: [DealStatus.ESTIMATING, DealStatus.AWAITING_CLIENT],
    DealStatus.ISSUING: [DealStatus.ESTIMATING, DealStatus.AWAITING_CLIENT, DealStatus.ISSUING],
    DealStatus.ACTIVE: [DealStatus.ESTIMATING, DealStatus.AWAITING_CLIENT, DealStatus.ISSUING, DealStatus.ACTIVE],
    DealStatus.CLOSED: [DealStatus.ESTIMATING, DealStatus.CLOSED],
}
_TITLES = ["КАСКО Toyota Camry", "ДМС сотрудников", "ОСАГО Kia Rio", "Страхование склада", "Ипотека: жизнь и титул"]


def demo_deals_create(*, demo) -> None:
    """Two deals per status spread over the demo clients and managers; active ones carry policies and payments."""
    tenant, owner = demo.tenant, demo.owner
    today = timezone.localdate()
    clients = _clients_create(tenant)
    policy_count = 0
    for index, (status, path) in enumerate([*_PATHS.items(), *_PATHS.items()]):
        agent = demo.managers[index % len(demo.managers)]
        deal = services.deal_create(
            tenant=tenant,
            acting_user=owner,
            client_id=clients[index % len(clients)].pk,
            title=f"{_TITLES[index % len(_TITLES)]} ({index + 1})",
            description="Демо-сделка",
            sales_agent=agent,
            executor=demo.rop if index % 3 == 0 else None,
            expected_close_date=today + datetime.timedelta(days=7 * (index + 1)),
            tags=["демо"],
        )
        services.journal_entry_create(deal=deal, acting_user=agent, text="Первичная встреча с клиентом проведена.")
        if path:
            calculation = _calculation_create(deal=deal, premium=Decimal("45000.00") + index * 1000, today=today)
        for step in path:
            deal = services.deal_transition(deal=deal, status=step, acting_user=agent)
        if status == DealStatus.ACTIVE:
            policy_count += 1
            _policy_with_payments(deal=deal, calculation=calculation, number=policy_count, today=today)
        services.deal_task_create(
            tenant=tenant,
            acting_user=agent,
            subject="Связаться с клиентом",
            description="Уточнить статус документов",
            assignee=agent,
            deal_id=deal.pk,
            due_date=today + datetime.timedelta(days=index % 5),
            priority="high" if index % 4 == 0 else "normal",
        )
    task = services.deal_task_create(
        tenant=tenant,
        acting_user=owner,
        subject="Обзор портфеля",
        description="Квартальный обзор полисов",
        assignee=owner,
    )
    services.deal_task_transition(task=task, status=DealTaskStatus.IN_PROGRESS)
    # The renewal job, as the worker would run it: the policy ending within the notice days becomes renewal_due.
    tenant_policy_renewals(tenant)


def _clients_create(tenant) -> list:
    """The demo clients, all active, each with its one contact."""
    return [
        services.client_create(
            tenant=tenant,
            type=client_type,
            full_name=full_name,
            short_name=short_name,
            tax_number=tax_number,
            status="active",
            contacts=[_contact(contact)],
        )
        for client_type, full_name, short_name, tax_number, contact in _CLIENTS
    ]


def _calculation_create(*, deal, premium: Decimal, today: datetime.date):
    """An insurer's quote valid a month either side of today (an active deal's policy is issued from it)."""
    return services.calculation_create(
        deal=deal,
        insurance_company="Ингосстрах",
        program_name="Стандарт",
        premium_amount=premium,
        coverage_sum=Decimal("2500000.00"),
        calculation_date=today - datetime.timedelta(days=30),
        valid_from=today - datetime.timedelta(days=30),
        valid_to=today + datetime.timedelta(days=30),
    )


def _contact(value: str) -> dict:
    kind = "phone" if value.startswith("+") else "email" if "@" in value[1:] else "telegram"
    return {"type": kind, "value": value, "name": "", "is_primary": True}


def _policy_with_payments(*, deal, calculation, number: int, today: datetime.date) -> None:
    # The first active deal's policy ends within the notice days (the renewal job makes it renewal_due), the
    # second within 90 days: both show under the back-office's renewal filters.
    ends = today + datetime.timedelta(days=20 if number == 1 else 75)
    policy = services.policy_create(
        deal=deal,
        calculation=calculation,
        policy_number=f"DEMO-{number:04d}",
        insurer="Ингосстрах",
        program_name="Стандарт",
        effective_from=ends - datetime.timedelta(days=364),
        effective_to=ends,
        premium_amount=calculation.premium_amount,
        coverage_sum=calculation.coverage_sum,
        status=PolicyStatus.ACTIVE,
    )
    premium = services.payment_create(
        tenant=deal.tenant,
        acting_user=deal.sales_agent,
        deal_id=deal.pk,
        policy_id=policy.pk,
        payment_type=PaymentType.CLIENT_PREMIUM,
        amount=policy.premium_amount,
        planned_date=policy.effective_from,
    )
    services.payment_update(payment=premium, status=PaymentStatus.RECEIVED, external_ref=f"pay_demo_{number}")
    services.payment_create(
        tenant=deal.tenant,
        acting_user=deal.sales_agent,
        deal_id=deal.pk,
        policy_id=policy.pk,
        payment_type=PaymentType.COMMISSION_INCOME,
        amount=(policy.premium_amount * Decimal("0.15")).quantize(Decimal("0.01")),
        planned_date=policy.effective_from + datetime.timedelta(days=30),
    )
