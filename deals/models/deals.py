"""Deals and their journal."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.versions import version_field
from deals.models.base import Transitions, UUIDTenantModel


class DealStatus(models.TextChoices):
    DRAFT = "draft", _("Черновик")
    ESTIMATING = "estimating", _("Расчёт")
    AWAITING_CLIENT = "awaiting_client", _("Ожидание клиента")
    ISSUING = "issuing", _("Оформление")
    ACTIVE = "active", _("Действует")
    CLOSED = "closed", _("Закрыта")


# The deal state machine (SPEC §9); `deal_update` is the only code that changes a deal's status.
DEAL_TRANSITIONS: Transitions = {
    DealStatus.DRAFT: frozenset({DealStatus.ESTIMATING, DealStatus.CLOSED}),
    DealStatus.ESTIMATING: frozenset({DealStatus.AWAITING_CLIENT, DealStatus.DRAFT, DealStatus.CLOSED}),
    DealStatus.AWAITING_CLIENT: frozenset({DealStatus.ISSUING, DealStatus.ESTIMATING, DealStatus.CLOSED}),
    DealStatus.ISSUING: frozenset({DealStatus.ACTIVE, DealStatus.AWAITING_CLIENT, DealStatus.CLOSED}),
    DealStatus.ACTIVE: frozenset({DealStatus.CLOSED}),
    DealStatus.CLOSED: frozenset(),
}


class Deal(UUIDTenantModel):
    """An insurance deal with a client: the agent sells it, the executor does the paperwork."""

    client = models.ForeignKey("deals.Client", on_delete=models.PROTECT, related_name="deals", verbose_name=_("клиент"))
    title = models.CharField(max_length=255, verbose_name=_("название сделки"))
    description = models.TextField(max_length=10_000, blank=True, default="", verbose_name=_("описание"))
    status = models.CharField(
        max_length=16, choices=DealStatus.choices, default=DealStatus.DRAFT, verbose_name=_("статус")
    )
    sales_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        to_field="uuid",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("агент"),
    )
    executor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        to_field="uuid",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
        verbose_name=_("исполнитель"),
    )
    expected_close_date = models.DateField(null=True, blank=True, verbose_name=_("ожидаемая дата закрытия"))
    tags = models.JSONField(default=list, blank=True, verbose_name=_("теги"))
    folder_id = models.CharField(max_length=255, blank=True, default="", verbose_name=_("папка документов"))
    # SPEC §12: the lead this deal was converted from (an id only: deals imports nothing of the sales funnel).
    lead_id = models.BigIntegerField(null=True, blank=True, unique=True)
    # SPEC §13: the policy this deal renews; the policy shows it as `renewal_deal_id` (one renewal per policy).
    renews_policy = models.OneToOneField(
        "deals.Policy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewal_deal",
        verbose_name=_("продлевает полис"),
    )
    version = version_field()

    class Meta:
        verbose_name = _("сделка")
        verbose_name_plural = _("сделки")
        ordering = ["-created_at", "-id"]
        constraints = [
            # 409 deal_conflict: one not-closed deal per client and title, also under concurrent creates.
            models.UniqueConstraint(
                fields=["tenant", "client", "title"],
                condition=~Q(status=DealStatus.CLOSED),
                name="deals_deal_open_title_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="deals_deal_list_idx"),
            models.Index(fields=["tenant", "status", "-created_at", "-id"], name="deals_deal_status_idx"),
            models.Index(fields=["sales_agent", "-created_at", "-id"], name="deals_deal_agent_idx"),
            models.Index(fields=["executor", "-created_at", "-id"], name="deals_deal_executor_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def visibility_q(cls, user) -> Q:
        """Managers see the deals where they are the sales agent or the executor."""
        return Q(sales_agent=user) | Q(executor=user)

    @classmethod
    def via_deal_q(cls, user, prefix: str = "deal") -> Q:
        """The same rule for rows that hang off a deal."""
        return Q(**{f"{prefix}__sales_agent": user}) | Q(**{f"{prefix}__executor": user})


class JournalKind(models.TextChoices):
    NOTE = "note", _("Заметка")
    SYSTEM = "system", _("Системная")


class JournalEntry(UUIDTenantModel):
    """A line of a deal's journal: a user's note, or a system record of a status or people change."""

    deal = models.ForeignKey(
        Deal, on_delete=models.CASCADE, related_name="journal", db_index=False, verbose_name=_("сделка")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        to_field="uuid",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("автор записи"),
    )
    kind = models.CharField(max_length=16, choices=JournalKind.choices, default=JournalKind.NOTE, verbose_name=_("вид"))
    text = models.TextField(max_length=10_000, verbose_name=_("текст"))
    attachments = models.JSONField(default=list, blank=True, verbose_name=_("вложения"))

    class Meta:
        verbose_name = _("запись журнала")
        verbose_name_plural = _("журнал")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["deal", "-created_at", "-id"], name="deals_journal_deal_idx")]

    def __str__(self) -> str:
        return self.text[:80]

    @classmethod
    def visibility_q(cls, user) -> Q:
        return Deal.via_deal_q(user)


class DealWeekCount(models.Model):
    """How many deals a tenant has per creation week (UTC, from Monday) and status; kept by PostgreSQL triggers.

    The deal list reads it for its exact total, and to seek a deep OFFSET: the running sum over the weeks finds the
    week a row number falls in, so the page query walks at most one week of the ordering index instead of every row
    before the page. Weeks keep both sides small: a tenant has ~6 × 52 counters a year, and a week of deals to walk.
    The triggers live in migration 0004.
    """

    tenant = models.ForeignKey("crm.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    week = models.DateField()
    status = models.CharField(max_length=16, choices=DealStatus.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "week", "status"], name="deals_weekcount_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.week} {self.status}: {self.count}"
