"""Delivering a tenant's webhook channel to one subscription, in log order, with retries (SPEC §14).

`pump` is what the job engine runs (events.jobs). It claims the subscription's lease (one deliverer at a time, so a
subscription's events leave in log order even with many workers) and sends the events after the cursor one by one;
on a failure it stops and says when the next attempt is due, so nothing behind the failed event overtakes it.
Successes are written in batches (the cursor, the delivery log, a renewed lease) every `FLUSH_EVERY` events or
`FLUSH_SECONDS`, and before anything else is written. Delivery is therefore at least once: a worker that dies
mid-batch leaves the lease to expire, and the events after the stored cursor are sent again with the same
`webhook-id` (receivers dedupe on it).

Retries: attempt 1 at once, then after 30 s, 5 min, 30 min, 2 h, 8 h and 16 h (7 attempts over 26 h 35 min). After
the 7th failure the subscription is disabled with the reason and its cursor kept on the failed event: re-enabling
it delivers the backlog from there.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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
# A lease outlives its holder only when the worker died or hung: it is renewed at every flush, and a flush comes at
# least every FLUSH_SECONDS plus one request (each request is bounded by TIMEOUT_SECONDS per phase).
LEASE = timedelta(seconds=90)
FLUSH_EVERY = 50
FLUSH_SECONDS = 15.0
USER_AGENT = "crm-webhooks/1"
# Built once: loading the CA bundle costs ~20 ms, more than the rest of a delivery. A new client (and connection) per
# request on purpose: connections are made to a checked IP under the URL's name, and a pool keyed by IP could reuse
# one under another name's TLS session.
_TLS = httpx.create_ssl_context()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_status: int | None = None
    error: str = ""
    duration_ms: int | None = None


class Batch:
    """One claimed run of deliveries: the lease, the stored cursor, and the successes not yet written."""

    def __init__(self, subscription: WebhookSubscription):
        self.subscription = subscription
        self.lease = subscription.leased_until
        self.stored = subscription.position  # the cursor as stored; a flush writes only if it is still there
        self.done: list[tuple[Event, int, Outcome]] = []  # (event, attempt, outcome)
        self.flushed_at = time.monotonic()

    def due_for_flush(self) -> bool:
        return len(self.done) >= FLUSH_EVERY or time.monotonic() - self.flushed_at >= FLUSH_SECONDS

    def flush(self, *, position: int | None = None, release: bool = False, failure=None) -> bool:
        """Write the successes (and `failure`: (event, attempt, outcome, changes)); move the cursor to `position`
        (default: the last success); renew or give back the lease. False when the cursor was moved meanwhile (a
        replay, a re-enable) or the subscription deleted: nothing more may be sent in this batch."""
        changes: dict[str, Any] = {"leased_until": None if release else timezone.now() + LEASE}
        if self.done:
            changes.update(position=self.done[-1][0].eid, attempts=0, next_attempt_at=None)
        if position is not None:
            changes["position"] = position
        if failure is not None:
            changes.update(failure[3])
        rows = [*self.done, failure[:3]] if failure is not None else self.done
        mine = _subscriptions(self.subscription.tenant_id).filter(pk=self.subscription.pk, leased_until=self.lease)
        with transaction.atomic():
            kept = bool(mine.filter(position=self.stored).update(**changes))
            if not kept:
                mine.update(leased_until=None)
            if rows and (kept or _subscriptions(self.subscription.tenant_id).filter(pk=self.subscription.pk).exists()):
                WebhookDelivery.objects.bulk_create(
                    _delivery_row(self.subscription, event, attempt, outcome, changes.get("next_attempt_at"))
                    for event, attempt, outcome in rows
                )
        self.lease, self.stored = changes["leased_until"], changes.get("position", self.stored)
        self.done, self.flushed_at = [], time.monotonic()
        return kept


def pump(tenant_id: int, subscription_id: int, *, budget: int = 500) -> datetime | None:
    """Deliver what is due, up to about `budget` events. When to come back: the retry's time after a failure, now
    when the budget ran out with events left, None when nothing is left (or another deliverer holds the lease)."""
    delivered = 0
    while delivered < budget:
        subscription = _claim(tenant_id, subscription_id)
        if subscription is None:
            return None
        tenant = Tenant.objects.get(pk=tenant_id)
        batch = Batch(subscription)
        events, scanned = log.events_after(tenant_id, subscription.position, set(subscription.events))
        attempt = subscription.attempts + 1
        for event in events:
            outcome = send(subscription, event, tenant)
            if not outcome.ok:
                changes, due = _after_failure(subscription, event, attempt, outcome)
                batch.flush(release=True, failure=(event, attempt, outcome, changes))
                return due
            batch.done.append((event, attempt, outcome))
            attempt, delivered = 1, delivered + 1
            if batch.due_for_flush() and not batch.flush():
                return None  # the cursor was moved: whoever moved it woke a deliverer
        if not batch.flush(position=scanned, release=True) or scanned == subscription.position:
            return None
    return timezone.now()


def _after_failure(subscription, event: Event, attempt: int, outcome: Outcome) -> tuple[dict, datetime | None]:
    """The subscription's changes after a failed attempt, and when the next one is due (None: disabled)."""
    if attempt >= MAX_ATTEMPTS:
        failed_id = log.event_id(subscription.tenant_id, event.eid)
        reason = f"Disabled after {attempt} failed attempts to deliver {failed_id}: {outcome.error}"
        return {"is_active": False, "disabled_reason": reason[:1000], "attempts": 0, "next_attempt_at": None}, None
    due = timezone.now() + RETRY_DELAYS[attempt - 1]
    return {"attempts": attempt, "next_attempt_at": due}, due


def _delivery_row(subscription, event: Event, attempt: int, outcome: Outcome, next_attempt_at) -> WebhookDelivery:
    return WebhookDelivery(
        tenant_id=subscription.tenant_id,
        subscription=subscription,
        event_id=log.event_id(subscription.tenant_id, event.eid),
        event_type=event.type,
        attempt=attempt,
        status=DeliveryStatus.SUCCEEDED if outcome.ok else DeliveryStatus.FAILED,
        response_status=outcome.response_status,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        next_attempt_at=None if outcome.ok else next_attempt_at,
    )


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


def send(subscription: WebhookSubscription, event: Event, tenant: Tenant) -> Outcome:
    """One signed POST of `event` (Standard Webhooks), to the address the URL check resolved."""
    started = time.monotonic()
    try:
        target = urlguard.check(subscription.url)
    except urlguard.UnsafeUrl as exc:
        return Outcome(ok=False, error=f"Refused: {exc}")
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
            httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False, verify=_TLS) as client,
            client.stream("POST", pinned, content=payload.encode(), headers=headers, extensions=extensions) as answer,
        ):
            status = answer.status_code
    except httpx.HTTPError as exc:
        return Outcome(ok=False, error=f"{exc.__class__.__name__}: {exc}"[:1000], duration_ms=_ms(started))
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return Outcome(ok=not error, response_status=status, error=error, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
