"""The events sink the domain apps call. It imports no domain app: callers pass plain ids.

`lead_event_emit` schedules one realtime event for after the current transaction commits (nothing is sent for
a rolled-back transaction). Delivery stores the event (ids, replay) and then wakes the streams; a failure there
is logged and never reaches the API caller, whose transaction has already committed.
"""

import logging
from collections.abc import Iterable
from typing import Literal

from django.db import transaction
from django_eventstream.utils import get_storage

from crm.models import Role, User
from events import broker
from events.channels import tenant_channel, user_channel
from events.stream import envelope

logger = logging.getLogger(__name__)

LeadEventType = Literal["lead_created", "lead_updated"]


def lead_event_emit(
    *,
    event_type: LeadEventType,
    tenant_id: int,
    lead_id: int,
    assignee_ids: Iterable[int | None] = (),
) -> None:
    """Schedule `event_type` for the lead after commit.

    `assignee_ids`: the managers who must hear of it besides the tenant's supervisors: the current assignee and,
    on a reassignment, the previous one (SPEC §8).
    """
    recipients = frozenset(user_id for user_id in assignee_ids if user_id is not None)
    transaction.on_commit(
        lambda: _deliver(event_type=event_type, tenant_id=tenant_id, lead_id=lead_id, assignee_ids=recipients),
        robust=True,
    )


def _deliver(*, event_type: str, tenant_id: int, lead_id: int, assignee_ids: frozenset[int]) -> None:
    """Store the event on the tenant channel and each concerned manager's channel, then wake the streams."""
    data = envelope(event_type, {"lead_id": lead_id, "tenant_id": tenant_id})
    try:
        channels = [tenant_channel(tenant_id)] + [
            user_channel(tenant_id, user_id) for user_id in _manager_ids(tenant_id, assignee_ids)
        ]
    except Exception:
        logger.exception("Could not resolve the recipients of %s for lead %s", event_type, lead_id)
        channels = [tenant_channel(tenant_id)]
    storage = get_storage()
    events = []
    # One transaction per channel, as the library does: its counter creation recovers from a concurrent insert
    # (IntegrityError) only outside an enclosing transaction.
    for channel in channels:
        try:
            events.append(storage.append_event(channel, event_type, data))
        except Exception:
            logger.exception("Could not store %s for lead %s on %s", event_type, lead_id, channel)
    if not events:
        return
    try:
        broker.publish(events)
    except Exception as exc:  # noqa: BLE001 - a committed request must not fail because of its event
        # Stored, so not lost: streams read it back when Redis returns (the subscriber makes them re-read
        # storage) or at their next event (a gap in the ids triggers a re-read).
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
