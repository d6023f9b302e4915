"""Outbound webhook subscriptions and their delivery log (SPEC §14). The event log itself is django-eventstream's
table (events.storage); a subscription reads its tenant's webhook channel there from `position` on."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.tenancy import TenantModel


class WebhookSubscription(TenantModel):
    url = models.URLField(max_length=2000, verbose_name=_("адрес (URL)"))
    events = models.JSONField(
        default=list, verbose_name=_("события")
    )  # event types, a subset of events.webhooks.log.EVENT_TYPES
    description = models.CharField(max_length=500, blank=True, default="", verbose_name=_("описание"))
    # Shown once, by the create; kept to sign every delivery (Standard Webhooks: the receiver holds the same key).
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True, verbose_name=_("активна"))
    disabled_reason = models.CharField(max_length=1000, blank=True, default="", verbose_name=_("причина отключения"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("изменено"))
    # Delivery cursor: every event of the tenant's webhook channel up to `position` is delivered or not subscribed.
    position = models.BigIntegerField(default=0)
    # The next event's attempts so far, and when the next one is due (None: now).
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # One deliverer at a time per subscription (ordered delivery): a worker holds the lease while it sends.
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("подписка на вебхуки")
        verbose_name_plural = _("подписки на вебхуки")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(TenantModel):
    """One attempt to deliver one event to one subscription."""

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("подписка")
    )
    event_id = models.CharField(max_length=64, verbose_name=_("id события"))
    event_type = models.CharField(max_length=64, verbose_name=_("тип события"))
    attempt = models.PositiveIntegerField(verbose_name=_("попытка"))
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, verbose_name=_("статус"))
    response_status = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("статус ответа"))
    error = models.CharField(max_length=1000, blank=True, default="", verbose_name=_("ошибка"))
    duration_ms = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("длительность, мс"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("следующая попытка"))

    class Meta:
        verbose_name = _("доставка вебхука")
        verbose_name_plural = _("доставки вебхуков")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subscription", "-created_at", "-id"], name="events_delivery_newest")]

    def __str__(self) -> str:
        return f"{self.event_id} #{self.attempt}"
