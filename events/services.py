"""The events sink the domain apps call. It imports no domain app: callers pass plain ids.

`lead_event_emit` (and `webhook_event_emit` for the other webhook types) stores the event in the caller's
transaction (the event log, events.storage): it exists if and only if the change commits. After the commit the stored
events are published as a wake-up for the open streams and the webhook deliverers; a failure there is logged and
never reaches the API caller, and nothing is lost by it: streams read the log on their next gap, their periodic
catch-up or a reconnect with Last-Event-ID, and the webhook sweep starts any deliverer that was not woken.
"""

import json
import logging
from collections.abc import Iterable
from typing import Literal
from uuid import UUID

from django.db import transaction
from django.db.models import JSONField
from django.db.models.functions import Cast
from django_eventstream.models import Event

from crm.models import Role, User
from events import broker, storage
from events.channels import tenant_channel, user_channel
from events.stream import envelope
from events.webhooks import log as webhook_log

logger = logging.getLogger(__name__)

LeadEventType = Literal["lead_created", "lead_updated"]


def lead_event_emit(
    *,
    event_type: LeadEventType,
    tenant_id: int,
    lead_id: int,
    assignee_ids: Iterable[int | None] = (),
) -> None:
    """Store `event_type` for the lead in the current transaction; wake the streams after commit.

    `assignee_ids`: the managers who must hear of it besides the tenant's supervisors: the current assignee and,
    on a reassignment, the previous one (SPEC §8).
    """
    # Part of the caller's transaction (no savepoint): if the event cannot be stored, the change fails with it.
    with transaction.atomic(savepoint=False):
        _stream_event_store(event_type=event_type, tenant_id=tenant_id, lead_id=lead_id, assignee_ids=assignee_ids)
        webhook_event_emit(event_type=event_type, tenant_id=tenant_id, object_id=lead_id)


def lead_deleted_emit(*, tenant_id: int, lead_id: int, assignee_ids: Iterable[int | None] = ()) -> None:
    """A lead is gone (erased, or merged into another): webhooks get `lead_deleted` with `{"id"}` (SPEC §14).

    The streams get `lead_updated` for it, as SPEC §8 has no type for a removal: a client reading the lead again gets
    404 and drops it (the board does), and nothing of the lead is in the event.
    """
    with transaction.atomic(savepoint=False):
        _stream_event_store(event_type="lead_updated", tenant_id=tenant_id, lead_id=lead_id, assignee_ids=assignee_ids)
        webhook_event_emit(event_type="lead_deleted", tenant_id=tenant_id, object_id=lead_id)


def webhook_log_forget(*, tenant_id: int, kind: str, object_id: int) -> int:
    """An erased object (SPEC §12): what the tenant's webhook log kept of it (`<kind>_created`/`_updated` bodies, the
    object as its API rendered it) becomes `{"id"}`, so no later delivery or replay sends it again; how many events.
    """
    rendered = (
        Event.objects.filter(channel=webhook_log.channel(tenant_id), type__startswith=f"{kind}_")
        .annotate(document=Cast("data", JSONField()))
        .filter(document__id=object_id)
    )
    return Event.objects.filter(pk__in=rendered.values("pk")).update(data=json.dumps({"id": object_id}))


def _stream_event_store(
    *, event_type: LeadEventType, tenant_id: int, lead_id: int, assignee_ids: Iterable[int | None]
) -> None:
    recipients = frozenset(user_id for user_id in assignee_ids if user_id is not None)
    data = envelope(event_type, {"lead_id": lead_id, "tenant_id": tenant_id})
    # The tenant channel first in every transaction: the counter rows of a tenant are always locked in one order.
    channels = [tenant_channel(tenant_id)] + [
        user_channel(tenant_id, user_id) for user_id in _manager_ids(tenant_id, recipients)
    ]
    pks = tuple(storage.append_pending(channel, event_type, data) for channel in channels)
    transaction.on_commit(
        lambda: _deliver(event_type=event_type, tenant_id=tenant_id, lead_id=lead_id, assignee_ids=recipients, pks=pks),
        robust=True,
    )


def webhook_event_emit(*, event_type: str, tenant_id: int, object_id: int | UUID) -> None:
    """Log a webhook event (SPEC §14: `lead_created`, `deal_updated`, …) for the object in the current transaction;
    the tenant's deliverers are woken after commit. Nothing is logged for a tenant without subscriptions."""
    with transaction.atomic(savepoint=False):
        logged = webhook_log.record(event_type=event_type, tenant_id=tenant_id, object_id=object_id)
    if logged:
        transaction.on_commit(lambda: _wake_webhooks(tenant_id), robust=True)


def _wake_webhooks(tenant_id: int) -> None:
    from events import jobs  # the job engine's modules load after the apps

    try:
        jobs.wake_webhooks(tenant_id)
    except Exception as exc:  # noqa: BLE001 - a committed request must not fail because of its wake-up
        # Logged, so not lost: the minute sweep (events.jobs.sweep_webhooks) starts the deliverers.
        logger.warning("Could not wake the webhook deliverers of tenant %s (the sweep will): %r", tenant_id, exc)


def _deliver(*, event_type: str, tenant_id: int, lead_id: int, assignee_ids: frozenset[int], pks=()) -> None:
    """After commit: publish the stored events (with the positions the commit gave them) to wake the streams."""
    try:
        events = storage.committed(pks)
        broker.publish(events)
    except Exception as exc:  # noqa: BLE001 - a committed request must not fail because of its wake-up
        # Stored, so not lost: streams read it back when Redis returns (the subscriber makes them re-read
        # storage), at their next event (a gap in the ids triggers a re-read) or at their periodic catch-up.
        logger.warning(
            "Could not publish %s for lead %s of tenant %s (stored, streams will catch up): %r",
            event_type,
            lead_id,
            tenant_id,
            exc,
        )


def _manager_ids(tenant_id: int, user_ids: frozenset[int]) -> list[int]:
    """Only managers of this tenant get a personal copy: supervisors read the tenant channel anyway, and an id
    from another tenant (a caller's bug) must not leak the event across tenants."""
    if not user_ids:
        return []
    return sorted(
        User.objects.filter(pk__in=user_ids, tenant_id=tenant_id, role=Role.MANAGER).values_list("pk", flat=True)
    )
