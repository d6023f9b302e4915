"""Outbound webhook subscriptions and their delivery log (SPEC §14). The event log itself is django-eventstream's
table (events.storage); a subscription reads its tenant's webhook channel there from `position` on."""

from django.db import models

from crm.tenancy import TenantModel


class WebhookSubscription(TenantModel):
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)  # event types, a subset of events.webhooks.log.EVENT_TYPES
    description = models.CharField(max_length=500, blank=True, default="")
    # Shown once, by the create; kept to sign every delivery (Standard Webhooks: the receiver holds the same key).
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Delivery cursor: every event of the tenant's webhook channel up to `position` is delivered or not subscribed.
    position = models.BigIntegerField(default=0)
    # The next event's attempts so far, and when the next one is due (None: now).
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # One deliverer at a time per subscription (ordered delivery): a worker holds the lease while it sends.
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "Webhook subscription"

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(TenantModel):
    """One attempt to deliver one event to one subscription."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    attempt = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subscription", "-created_at", "-id"], name="events_delivery_newest")]

    def __str__(self) -> str:
        return f"{self.event_id} #{self.attempt}"
