"""The webhook events in the event log: one channel per tenant, written with the change (events.storage).

Each event is a row of channel `webhooks-<tenant id>` whose data is the object as its API renders it, rendered inside
the business transaction (what was committed, not what the row looks like when a worker gets to it). Its position
on the channel is given at commit, so the channel is the tenant's events in commit order without gaps: a
subscription's cursor (`position`) is all a deliverer needs. The row is written only when the tenant has a
subscription (active or disabled: a disabled one keeps its backlog), so tenants without webhooks pay one query.
"""

import json
import re
from uuid import UUID

from django.apps import apps
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django_eventstream.models import Event, EventCounter

from crm.models import Tenant
from events import storage
from events.models import WebhookSubscription

EVENT_TYPES = (
    "lead_created",
    "lead_updated",
    "lead_deleted",
    "client_created",
    "client_updated",
    "deal_created",
    "deal_updated",
    "policy_created",
    "policy_updated",
    "payment_created",
    "payment_updated",
)
_EVENT_ID = re.compile(r"evt_([0-9]{1,18})_([0-9]{1,18})")


def channel(tenant_id: int) -> str:
    return f"webhooks-{tenant_id}"


def event_id(tenant_id: int, position: int) -> str:
    """The event's id in bodies and the `webhook-id` header: stable across retries and replays."""
    return f"evt_{tenant_id}_{position}"


def parse_event_id(raw, tenant_id: int) -> int | None:
    """The position of one of this tenant's event ids, or None (malformed, or another tenant's)."""
    match = _EVENT_ID.fullmatch(raw) if isinstance(raw, str) else None
    if match is None or int(match.group(1)) != tenant_id:
        return None
    return int(match.group(2))


def record(*, event_type: str, tenant_id: int, object_id: int | UUID) -> bool:
    """In the caller's transaction: log `event_type` for the object if the tenant has a subscription. Whether it did.

    The object is rendered by the serializer `EVENTS_WEBHOOK_SERIALIZERS` names for its kind (the API's own), in the
    tenant's timezone like the API; `*_deleted` events carry only `{"id"}`.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    if not WebhookSubscription.objects.for_tenant(tenant_id).exists():
        return False
    kind, _, change = event_type.rpartition("_")
    data = {"id": object_id} if change == "deleted" else _render(kind, tenant_id, object_id)
    storage.append_pending(channel(tenant_id), event_type, data)
    return True


def _render(kind: str, tenant_id: int, object_id: int | UUID) -> dict:
    serializer_class, model = _renderer(settings.EVENTS_WEBHOOK_SERIALIZERS[kind])
    instance = model.objects.for_tenant(tenant_id).get(pk=object_id)
    with timezone.override(Tenant.objects.get(pk=tenant_id).tzinfo):
        return serializer_class(instance).data


def _renderer(entry: str | tuple[str, str]):
    """A registry entry: a ModelSerializer's dotted path, or `(model label, serializer path)` for a serializer that
    names no model (the v1 objects' shaped serializers, deals.api.serializers, declare outputs, not a model)."""
    if isinstance(entry, str):
        serializer_class = import_string(entry)
        return serializer_class, serializer_class.Meta.model
    label, path = entry
    return import_string(path), apps.get_model(label)


def head(tenant_id: int) -> int:
    """The position of the tenant's last committed webhook event (0: none yet)."""
    return EventCounter.objects.filter(name=channel(tenant_id)).values_list("value", flat=True).first() or 0


def events_after(tenant_id: int, position: int, types, limit: int = 100) -> tuple[list[Event], int]:
    """The next events of `types` after `position`, in log order, and the position the scan reached (events of
    other types up to there need no delivery)."""
    rows = list(Event.objects.filter(channel=channel(tenant_id), eid__gt=position).order_by("eid")[:limit])
    scanned = rows[-1].eid if rows else position
    return [row for row in rows if row.type in types], scanned


def exists(tenant_id: int, position: int) -> bool:
    return Event.objects.filter(channel=channel(tenant_id), eid=position).exists()


def body(tenant: Tenant, event: Event) -> str:
    """The request body (SPEC §14), the same bytes at every attempt (it is signed)."""
    return json.dumps(
        {
            "id": event_id(tenant.pk, event.eid),
            "type": event.type,
            "created_at": event.created.astimezone(tenant.tzinfo).isoformat(),
            "tenant_id": tenant.pk,
            "data": json.loads(event.data),
        },
        ensure_ascii=False,
    )
