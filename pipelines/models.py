"""Sales pipelines, their stages, leads moving through them, the leads' history and inbound deliveries."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.tenancy import TenantModel
from crm.versions import version_field

MAX_PIPELINES_PER_TENANT = 50
MAX_STAGES_PER_PIPELINE = 100
MAX_ORDER_INDEX = 10_000
MAX_TEXT_LENGTH = 10_000

color_validator = RegexValidator(r"^#(?:[0-9a-fA-F]{3}){1,2}\Z", _("A colour is #rgb or #rrggbb."))


class Pipeline(TenantModel):
    """A sales funnel of the tenant; exactly one of them is the default where new leads land."""

    name = models.CharField(max_length=255, verbose_name=_("название"))
    is_default = models.BooleanField(default=False, verbose_name=_("основная"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("изменено"))

    class Meta:
        verbose_name = _("воронка")
        verbose_name_plural = _("воронки")
        ordering = ["-is_default", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="pipelines_pipeline_one_default_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StageOutcome(models.TextChoices):
    WON = "won", _("Успешно")
    LOST = "lost", _("Отказ")


class Stage(TenantModel):
    """A column of a pipeline; `order_index` is unique within the pipeline, closed stages end a lead's way."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages", verbose_name=_("воронка"))
    name = models.CharField(max_length=255, verbose_name=_("название"))
    order_index = models.PositiveIntegerField(
        validators=[MaxValueValidator(MAX_ORDER_INDEX)], verbose_name=_("порядок")
    )
    color = models.CharField(max_length=7, null=True, blank=True, validators=[color_validator], verbose_name=_("цвет"))
    is_closed = models.BooleanField(default=False, verbose_name=_("закрывающая"))
    # SPEC §12: a won or lost stage is closed; an open or plainly closed one has no outcome.
    outcome = models.CharField(
        max_length=8, choices=StageOutcome.choices, null=True, blank=True, verbose_name=_("исход")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))

    class Meta:
        verbose_name = _("стадия")
        verbose_name_plural = _("стадии")
        ordering = ["order_index", "id"]
        constraints = [
            # Two stages at one position would make the board order depend on ids; the service shifts the
            # others instead (see pipelines.services.structure._make_room).
            models.UniqueConstraint(fields=["pipeline", "order_index"], name="pipelines_stage_unique_order"),
            models.CheckConstraint(
                condition=Q(outcome__isnull=True) | Q(is_closed=True), name="pipelines_stage_outcome_closed"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.outcome and not self.is_closed:
            raise ValidationError({"is_closed": _("A won or lost stage is closed: clear its outcome first.")})

    @property
    def is_lost(self) -> bool:
        return self.outcome == StageOutcome.LOST


class LossReason(TenantModel):
    """Why a lead was lost (SPEC §12): the tenant's list, chosen on a move into a `lost` stage."""

    name = models.CharField(max_length=255, verbose_name=_("название"))
    is_active = models.BooleanField(default=True, verbose_name=_("активна"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))

    class Meta:
        verbose_name = _("причина отказа")
        verbose_name_plural = _("причины отказа")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="pipelines_loss_reason_unique_name")]

    def __str__(self) -> str:
        return self.name


class LeadSource(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    CHATFLOW = "chatflow", "Chatflow"
    SITE = "site", _("Сайт")
    MANUAL = "manual", _("Вручную")


class Lead(TenantModel):
    """A potential customer in a stage of a pipeline, assigned to a user; intake writes the raw payload."""

    name = models.CharField(max_length=255, verbose_name=_("имя"))
    phone = models.CharField(
        max_length=32, null=True, blank=True, help_text="E.164, e.g. +79161234567.", verbose_name=_("телефон")
    )
    email = models.EmailField(max_length=254, null=True, blank=True, verbose_name=_("эл. почта"))
    source = models.CharField(
        max_length=16, choices=LeadSource.choices, default=LeadSource.MANUAL, verbose_name=_("источник")
    )
    external_id = models.CharField(max_length=255, null=True, blank=True, verbose_name=_("внешний id"))
    comment = models.TextField(blank=True, default="", verbose_name=_("комментарий"))
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="leads", verbose_name=_("воронка"))
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="leads", verbose_name=_("стадия"))
    moved_to_stage_at = models.DateTimeField(verbose_name=_("в стадии с"))
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_leads",
        verbose_name=_("ответственный"),
    )
    source_payload = models.JSONField(null=True, blank=True, verbose_name=_("исходные данные"))
    # SPEC §12: the budget, the reason of a loss (only while in a lost stage), the client and deal it became.
    price = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        verbose_name=_("бюджет"),
    )
    loss_reason = models.ForeignKey(
        LossReason,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("причина отказа"),
    )
    client = models.ForeignKey(
        "deals.Client",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("клиент"),
    )
    deal = models.OneToOneField(
        "deals.Deal", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("сделка")
    )
    version = version_field()
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("изменено"))

    class Meta:
        verbose_name = _("лид")
        verbose_name_plural = _("лиды")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The table's default order and every filter it offers, each followed by the default order, so a
            # filtered first page is an index range scan with no sort.
            models.Index(fields=["tenant", "-created_at", "-id"], name="pipelines_lead_created"),
            models.Index(fields=["tenant", "stage", "-created_at", "-id"], name="pipelines_lead_stage"),
            models.Index(fields=["tenant", "pipeline", "-created_at", "-id"], name="pipelines_lead_pipeline"),
            models.Index(fields=["tenant", "assigned_to", "-created_at", "-id"], name="pipelines_lead_assignee"),
            models.Index(fields=["tenant", "source", "-created_at", "-id"], name="pipelines_lead_source"),
            # The table's sorts on the lead's own columns (a btree scans both ways; ties break on id).
            models.Index(fields=["tenant", "id"], name="pipelines_lead_tenant_id"),
            models.Index(fields=["tenant", "name", "id"], name="pipelines_lead_name"),
            models.Index(fields=["tenant", "updated_at", "id"], name="pipelines_lead_updated"),
            models.Index(fields=["tenant", "moved_to_stage_at", "id"], name="pipelines_lead_moved"),
            # Sorting by a stage's or a pipeline's name walks the stages in that order (pipelines.selectors).
            models.Index(fields=["tenant", "stage", "id"], name="pipelines_lead_stage_id"),
            models.Index(fields=["tenant", "pipeline", "id"], name="pipelines_lead_pipeline_id"),
            # Intake looks for an open lead by phone. Search has trigram indexes (migration 0004, PostgreSQL only).
            models.Index(fields=["tenant", "phone"], name="pipelines_lead_phone"),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def visibility_q(cls, user) -> Q:
        """Managers see and change only the leads assigned to them."""
        return Q(assigned_to=user)


class HistoryKind(models.TextChoices):
    CREATED = "created", _("Создан")
    STAGE_CHANGED = "stage_changed", _("Смена стадии")
    ASSIGNED = "assigned", _("Назначение")
    UPDATED = "updated", _("Изменение полей")
    COMMENT = "comment", _("Комментарий")
    MESSAGE = "message", _("Входящее сообщение")
    TASK = "task", _("Задача")
    MERGED = "merged", _("Объединение")
    CONVERTED = "converted", _("Создана сделка")


class LeadHistory(TenantModel):
    """One event in a lead's life: who did what and when (stage moves keep from/to)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="history", verbose_name=_("лид"))
    kind = models.CharField(max_length=16, choices=HistoryKind.choices, verbose_name=_("событие"))
    from_stage = models.ForeignKey(
        Stage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("из стадии")
    )
    to_stage = models.ForeignKey(
        Stage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("в стадию")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("пользователь"),
    )
    text = models.TextField(blank=True, default="", verbose_name=_("текст"))
    payload = models.JSONField(
        null=True, blank=True, help_text="The raw inbound message, for kind=message/created.", verbose_name=_("данные")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))

    class Meta:
        verbose_name = _("запись истории лида")
        verbose_name_plural = _("история лида")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at", "-id"], name="pipelines_history_lead")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"


class InboundDelivery(TenantModel):
    """A webhook delivery already accepted (provider message id), so a retry makes no second lead."""

    source = models.CharField(max_length=16, choices=LeadSource.choices)
    delivery_id = models.CharField(max_length=255)
    # Null only inside the accepting transaction: the row is claimed first, so a concurrent retry waits on it.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "inbound deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "delivery_id"], name="pipelines_inbound_delivery_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.delivery_id}"


class LeadCount(TenantModel):
    """How many leads sit in each (pipeline, stage, assignee, source) cell and the sum of their budgets: the lead
    table's cheap `total` and the pipeline summary's per-stage figures.

    Kept exact by a PostgreSQL trigger on pipelines_lead (migrations 0002, 0003, 0008), so every write path
    (services, bulk SQL, cascades) counts; elsewhere (SQLite) the table stays empty and totals are counted directly.
    """

    pipeline_id = models.BigIntegerField()
    stage_id = models.BigIntegerField()
    assignee_key = models.BigIntegerField(help_text="assigned_to_id, 0 when unassigned")
    source = models.CharField(max_length=16)
    n = models.BigIntegerField(default=0)
    # Up to 100,000 leads of 12-digit budgets in one cell and more: 18 integer digits.
    price_total = models.DecimalField(max_digits=20, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "pipeline_id", "stage_id", "assignee_key", "source"], name="pipelines_leadcount_cell"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.n} in stage {self.stage_id}"

    @classmethod
    def visibility_q(cls, user) -> Q:
        """The cells of a manager's own leads (mirrors Lead.visibility_q)."""
        return Q(assignee_key=user.pk)
