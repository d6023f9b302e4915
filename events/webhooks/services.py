"""Writes of webhook subscriptions (owner and admin, SPEC §14). Each one that may have made events deliverable
wakes the subscription's deliverer after commit."""

import base64
import secrets

from django.db import transaction

from crm.errors import ValidationFailed
from crm.models import Tenant
from events.models import WebhookSubscription
from events.webhooks import log, urlguard

SECRET_BYTES = 32


def _checked_url(url: str) -> str:
    try:
        urlguard.check(url)
    except urlguard.UnsafeUrl as exc:
        raise ValidationFailed.for_field("url", str(exc)) from exc
    return url


def _wake_after_commit(subscription: WebhookSubscription) -> None:
    from events import jobs  # the job engine's modules load after the apps

    tenant_id, pk = subscription.tenant_id, subscription.pk
    transaction.on_commit(lambda: jobs.deliver_webhooks(tenant_id, pk), robust=True)


@transaction.atomic
def subscription_create(
    *, tenant: Tenant, url: str, events: list[str], description: str = ""
) -> tuple[WebhookSubscription, str]:
    """A subscription to the events committed from now on, and its secret (shown to the caller once)."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    subscription = WebhookSubscription.objects.create(
        tenant=tenant,
        url=_checked_url(url),
        events=sorted(set(events)),
        description=description,
        secret=secret,
        position=log.head(tenant.pk),
    )
    return subscription, secret


@transaction.atomic
def subscription_update(*, subscription: WebhookSubscription, **fields) -> WebhookSubscription:
    """Change url, events, description or is_active. Re-enabling clears the reason and delivers the backlog from
    the event that failed, with a fresh set of attempts."""
    subscription = (
        WebhookSubscription.objects.for_tenant(subscription.tenant_id).select_for_update().get(pk=subscription.pk)
    )
    if "url" in fields:
        subscription.url = _checked_url(fields["url"])
    if "events" in fields:
        subscription.events = sorted(set(fields["events"]))
    if "description" in fields:
        subscription.description = fields["description"]
    if fields.get("is_active") is True and not subscription.is_active:
        subscription.is_active = True
        subscription.disabled_reason = ""
        subscription.attempts = 0
        subscription.next_attempt_at = None
    elif fields.get("is_active") is False:
        subscription.is_active = False
    subscription.save()
    if subscription.is_active:
        _wake_after_commit(subscription)
    return subscription


def subscription_delete(*, subscription: WebhookSubscription) -> None:
    subscription.delete()


@transaction.atomic
def subscription_replay(*, subscription: WebhookSubscription, since_event_id) -> WebhookSubscription:
    """Deliver again every subscribed event from `since_event_id` (included) on, in log order."""
    position = log.parse_event_id(since_event_id, subscription.tenant_id)
    if position is None or not log.exists(subscription.tenant_id, position):
        raise ValidationFailed.for_field(
            "since_event_id", "No such event in this tenant's log (unknown, or older than the log keeps)."
        )
    subscription = (
        WebhookSubscription.objects.for_tenant(subscription.tenant_id).select_for_update().get(pk=subscription.pk)
    )
    subscription.position = position - 1
    subscription.attempts = 0
    subscription.next_attempt_at = None
    subscription.save(update_fields=["position", "attempts", "next_attempt_at", "updated_at"])
    if subscription.is_active:
        _wake_after_commit(subscription)
    return subscription
