"""Calculations (insurers' quotes), policies and the payments planned or made under them."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.versions import version_field
from deals.models.base import MONEY, Transitions, UUIDTenantModel
from deals.models.deals import Deal

CURRENCY_RUB = "RUB"


class Calculation(UUIDTenantModel):
    """An insurer's quote for a deal; a policy may be issued from it."""

    deal = models.ForeignKey(
        Deal, on_delete=models.CASCADE, related_name="calculations", db_index=False, verbose_name=_("сделка")
    )
    insurance_company = models.CharField(max_length=255, verbose_name=_("страховая компания"))
    program_name = models.CharField(max_length=255, blank=True, default="", verbose_name=_("программа"))
    premium_amount = models.DecimalField(**MONEY, null=True, blank=True, verbose_name=_("премия"))
    coverage_sum = models.DecimalField(**MONEY, null=True, blank=True, verbose_name=_("страховая сумма"))
    calculation_date = models.DateField(verbose_name=_("дата расчёта"))
    valid_from = models.DateField(null=True, blank=True, verbose_name=_("действует с"))
    valid_to = models.DateField(null=True, blank=True, verbose_name=_("действует по"))
    files = models.JSONField(default=list, blank=True, verbose_name=_("файлы"))
    comments = models.TextField(max_length=10_000, blank=True, default="", verbose_name=_("комментарии"))

    class Meta:
        verbose_name = _("расчёт")
        verbose_name_plural = _("расчёты")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_to__isnull=True) | Q(valid_from__lte=F("valid_to")),
                name="deals_calc_validity_chk",
            ),
        ]
        indexes = [models.Index(fields=["deal", "-created_at", "-id"], name="deals_calc_deal_idx")]

    def __str__(self) -> str:
        return f"{self.insurance_company} {self.calculation_date}"

    @classmethod
    def visibility_q(cls, user) -> Q:
        return Deal.via_deal_q(user)


class PolicyStatus(models.TextChoices):
    DRAFT = "draft", _("Черновик")
    ACTIVE = "active", _("Действует")
    RENEWAL_DUE = "renewal_due", _("Пора продлевать")
    CLOSED = "closed", _("Закрыт")


# The policy state machine (SPEC §9); `policy_update` is the only code that changes a policy's status.
POLICY_TRANSITIONS: Transitions = {
    PolicyStatus.DRAFT: frozenset({PolicyStatus.ACTIVE, PolicyStatus.CLOSED}),
    PolicyStatus.ACTIVE: frozenset({PolicyStatus.RENEWAL_DUE, PolicyStatus.CLOSED}),
    PolicyStatus.RENEWAL_DUE: frozenset({PolicyStatus.ACTIVE, PolicyStatus.CLOSED}),
    PolicyStatus.CLOSED: frozenset(),
}


class Policy(UUIDTenantModel):
    """An issued insurance policy of a deal; its number is unique in the tenant."""

    deal = models.ForeignKey(
        Deal, on_delete=models.CASCADE, related_name="policies", db_index=False, verbose_name=_("сделка")
    )
    calculation = models.ForeignKey(
        Calculation, on_delete=models.SET_NULL, related_name="policies", null=True, blank=True, verbose_name=_("расчёт")
    )
    policy_number = models.CharField(max_length=64, verbose_name=_("номер полиса"))
    insurer = models.CharField(max_length=255, verbose_name=_("страховщик"))
    program_name = models.CharField(max_length=255, blank=True, default="", verbose_name=_("программа"))
    effective_from = models.DateField(verbose_name=_("начало действия"))
    effective_to = models.DateField(verbose_name=_("окончание действия"))
    premium_amount = models.DecimalField(**MONEY, verbose_name=_("премия"))
    coverage_sum = models.DecimalField(**MONEY, null=True, blank=True, verbose_name=_("страховая сумма"))
    status = models.CharField(
        max_length=16, choices=PolicyStatus.choices, default=PolicyStatus.DRAFT, verbose_name=_("статус")
    )
    documents = models.JSONField(default=list, blank=True, verbose_name=_("документы"))
    version = version_field()

    class Meta:
        ordering = ["-created_at", "-id"]
        # The back-office's «Полисы» (SPEC §13).
        verbose_name = "полис"
        verbose_name_plural = "полисы"
        constraints = [
            # 409 policy_conflict, also under concurrent creates.
            models.UniqueConstraint(fields=["tenant", "policy_number"], name="deals_policy_number_uniq"),
            models.CheckConstraint(condition=Q(effective_from__lte=F("effective_to")), name="deals_policy_dates_chk"),
        ]
        indexes = [
            models.Index(fields=["deal", "-created_at", "-id"], name="deals_policy_deal_idx"),
            # GET /policies: ending first.
            models.Index(fields=["tenant", "effective_to", "id"], name="deals_policy_list_idx"),
            # The renewal job: a tenant's active policies by end date (the rest never qualify).
            models.Index(
                fields=["tenant", "effective_to", "id"],
                condition=Q(status=PolicyStatus.ACTIVE),
                name="deals_policy_active_end_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.policy_number

    @classmethod
    def visibility_q(cls, user) -> Q:
        return Deal.via_deal_q(user)


class PaymentType(models.TextChoices):
    CLIENT_PREMIUM = "client_premium", _("Премия клиента")
    COMMISSION_INCOME = "commission_income", _("Комиссионный доход")
    CLIENT_DISCOUNT = "client_discount", _("Скидка клиенту")
    EXECUTOR_FEE = "executor_fee", _("Вознаграждение исполнителю")


class PaymentStatus(models.TextChoices):
    PLANNED = "planned", _("Запланирован")
    EXPECTED = "expected", _("Ожидается")
    RECEIVED = "received", _("Получен")
    PAID_OUT = "paid_out", _("Выплачен")
    CANCELLED = "cancelled", _("Отменён")


# The payment state machine (SPEC §9); `payment_update` is the only code that changes a payment's status.
PAYMENT_TRANSITIONS: Transitions = {
    PaymentStatus.PLANNED: frozenset({PaymentStatus.EXPECTED, PaymentStatus.RECEIVED, PaymentStatus.CANCELLED}),
    PaymentStatus.EXPECTED: frozenset({PaymentStatus.RECEIVED, PaymentStatus.CANCELLED}),
    PaymentStatus.RECEIVED: frozenset({PaymentStatus.PAID_OUT}),
    PaymentStatus.PAID_OUT: frozenset(),
    PaymentStatus.CANCELLED: frozenset(),
}


class Payment(UUIDTenantModel):
    """Payment metadata kept by the CRM; `external_ref` links the record in the Payments service."""

    deal = models.ForeignKey(
        Deal, on_delete=models.CASCADE, related_name="payments", db_index=False, verbose_name=_("сделка")
    )
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="payments", verbose_name=_("полис"))
    payment_type = models.CharField(max_length=32, choices=PaymentType.choices, verbose_name=_("тип платежа"))
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PLANNED, verbose_name=_("статус")
    )
    planned_date = models.DateField(null=True, blank=True, verbose_name=_("плановая дата"))
    amount = models.DecimalField(**MONEY, verbose_name=_("сумма"))
    currency = models.CharField(max_length=3, default=CURRENCY_RUB, editable=False, verbose_name=_("валюта"))
    external_ref = models.CharField(max_length=255, null=True, blank=True, verbose_name=_("внешняя ссылка"))
    # SPEC §13: when the money actually arrived / was paid on (reconciliation).
    received_at = models.DateField(null=True, blank=True, verbose_name=_("получен"))
    paid_out_at = models.DateField(null=True, blank=True, verbose_name=_("выплачен"))
    notes = models.TextField(max_length=10_000, blank=True, default="", verbose_name=_("заметки"))
    version = version_field()

    class Meta:
        verbose_name = _("платёж")
        verbose_name_plural = _("платежи")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="deals_payment_amount_chk"),
            models.CheckConstraint(condition=Q(currency=CURRENCY_RUB), name="deals_payment_rub_chk"),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="deals_payment_list_idx"),
            models.Index(fields=["deal", "-created_at", "-id"], name="deals_payment_deal_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_payment_type_display()} {self.amount} {self.currency}"

    @classmethod
    def visibility_q(cls, user) -> Q:
        return Deal.via_deal_q(user)


class PaymentCount(models.Model):
    """How many payments a tenant has per status and type; kept by PostgreSQL triggers (migration 0009).

    The payment list reads it for its exact `X-Total-Count` (SPEC §4): a sum of at most 20 counters instead of a
    `COUNT(*)` over every payment of the tenant. Status and type are the list filters it can answer.
    """

    tenant = models.ForeignKey("crm.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices)
    payment_type = models.CharField(max_length=32, choices=PaymentType.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "status", "payment_type"], name="deals_paymentcount_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.payment_type}: {self.count}"
