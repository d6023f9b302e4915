"""Delivering a tenant's webhook channel to one subscription, in log order, with retries (SPEC §14).

`pump` is what the job engine runs (events.jobs). It claims the subscription's lease (one deliverer at a time, so a
subscription's events leave in log order even with many workers), sends the next event after the cursor, records
the attempt and moves on; on a failure it stops and says when the next attempt is due, so nothing behind the
failed event overtakes it. Delivery is at least once: a worker that dies after sending but before recording leaves
the lease to expire and the event is sent again with the same `webhook-id` (receivers dedupe on it).

Retries: attempt 1 at once, then after 30 s, 5 min, 30 min, 2 h, 8 h and 16 h (7 attempts over 26 h 35 min). After
the 7th failure the subscription is disabled with the reason and its cursor kept on the failed event: re-enabling
it delivers the backlog from there.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_eventstream.models import Event
from standardwebhooks import Webhook

from crm.models import Tenant
from events.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from events.webhooks import log, urlguard

RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=8),
    timedelta(hours=16),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
TIMEOUT_SECONDS = 10.0
# Longer than one attempt can take: a lease outlives its holder only when the worker died or hung.
LEASE = timedelta(seconds=60)
USER_AGENT = "crm-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_status: int | None = None
    error: str = ""
    duration_ms: int | None = None


def pump(tenant_id: int, subscription_id: int, *, budget: int = 500) -> datetime | None:
    """Deliver what is due, up to `budget` events. When to come back: the retry's time after a failure, now when the
    budget ran out with events left, None when nothing is left (or another deliverer holds the lease)."""
    for _ in range(budget):
        subscription = _claim(tenant_id, subscription_id)
        if subscription is None:
            return None
        lease, start = subscription.leased_until, subscription.position
        events, scanned = log.events_after(tenant_id, start, set(subscription.events))
        if not events:
            _release(subscription, lease, start, position=scanned)
            if scanned == start:
                return None
            continue
        event = events[0]
        attempt = subscription.attempts + 1
        outcome = send(subscription, event)
        due = _record(subscription, lease, start, event, attempt, outcome)
        if not outcome.ok:
            return due
    return timezone.now()


def due_subscriptions() -> list[tuple[int, int, int]]:
    """(tenant id, subscription id, position) of every active subscription whose next attempt is due and whose
    lease is free, across tenants (the sweep)."""
    now = timezone.now()
    return list(
        WebhookSubscription.objects.unscoped()
        .filter(is_active=True)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .values_list("tenant_id", "pk", "position")
    )


def _subscriptions(tenant_id: int):
    return WebhookSubscription.objects.for_tenant(tenant_id)


def _claim(tenant_id: int, subscription_id: int) -> WebhookSubscription | None:
    now = timezone.now()
    claimed = (
        _subscriptions(tenant_id)
        .filter(pk=subscription_id, is_active=True)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(leased_until=now + LEASE)
    )
    return _subscriptions(tenant_id).get(pk=subscription_id) if claimed else None


def _release(subscription: WebhookSubscription, lease, start: int, **changes) -> int:
    """Store `changes` and give the lease back, unless the cursor was moved meanwhile (a replay, a re-enable):
    then only the lease goes, and the next claim starts from where they put it."""
    mine = _subscriptions(subscription.tenant_id).filter(pk=subscription.pk, leased_until=lease)
    updated = mine.filter(position=start).update(leased_until=None, **changes)
    if not updated:
        mine.update(leased_until=None)
    return updated


def send(subscription: WebhookSubscription, event: Event) -> Outcome:
    """One signed POST of `event` (Standard Webhooks), to the address the URL check resolved."""
    started = time.monotonic()
    try:
        target = urlguard.check(subscription.url)
    except urlguard.UnsafeUrl as exc:
        return Outcome(ok=False, error=f"Refused: {exc}")
    tenant = Tenant.objects.get(pk=subscription.tenant_id)
    payload = log.body(tenant, event)
    message_id = log.event_id(tenant.pk, event.eid)
    now = datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(subscription.secret).sign(message_id, now, payload),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
    }
    pinned = httpx.URL(target.url).copy_with(host=target.address)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with (
            httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client,
            client.stream("POST", pinned, content=payload.encode(), headers=headers, extensions=extensions) as answer,
        ):
            status = answer.status_code
    except httpx.HTTPError as exc:
        return Outcome(ok=False, error=f"{exc.__class__.__name__}: {exc}"[:1000], duration_ms=_ms(started))
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return Outcome(ok=not error, response_status=status, error=error, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _record(subscription, lease, start: int, event: Event, attempt: int, outcome: Outcome) -> datetime | None:
    """Log the attempt and move the cursor (success), schedule the retry, or disable after the last one."""
    now = timezone.now()
    due = None
    if outcome.ok:
        changes = {"position": event.eid, "attempts": 0, "next_attempt_at": None}
    elif attempt >= MAX_ATTEMPTS:
        reason = (
            f"Disabled after {attempt} failed attempts to deliver {log.event_id(subscription.tenant_id, event.eid)}"
        )
        changes = {
            "is_active": False,
            "disabled_reason": f"{reason}: {outcome.error}"[:1000],
            "attempts": 0,
            "next_attempt_at": None,
        }
    else:
        due = now + RETRY_DELAYS[attempt - 1]
        changes = {"attempts": attempt, "next_attempt_at": due}
    if not _subscriptions(subscription.tenant_id).filter(pk=subscription.pk).exists():
        return None  # deleted while the request was out: nothing to log it against
    with transaction.atomic():
        WebhookDelivery.objects.create(
            tenant_id=subscription.tenant_id,
            subscription=subscription,
            event_id=log.event_id(subscription.tenant_id, event.eid),
            event_type=event.type,
            attempt=attempt,
            status=DeliveryStatus.SUCCEEDED if outcome.ok else DeliveryStatus.FAILED,
            response_status=outcome.response_status,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            next_attempt_at=due,
        )
        if not _release(subscription, lease, start, **changes):
            return None  # the cursor was moved meanwhile: whoever moved it scheduled the delivery
    return due
