"""Lead intake from the webhooks: idempotent per delivery, one open lead per contact."""

import orjson
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from crm.errors import ValidationFailed
from crm.models import Tenant
from pipelines.models import HistoryKind, InboundDelivery, Lead
from pipelines.services.distribution import distribution_assignee_take, distribution_record
from pipelines.services.leads import email_normalize, lead_create, lead_touch, phone_normalize

# What is kept of one delivery (as the lead's source_payload and in its history), encoded as JSON (SPEC §15).
MAX_STORED_PAYLOAD_BYTES = 64 * 1024


def contact_lock(tenant_id: int, contact: str) -> None:
    """Serialise intake per contact (a phone in E.164 or an email lower-cased) for the rest of the transaction.

    Two first messages from one phone arriving together must not make two leads; a merge or an erasure takes it too,
    so a message is never added to a lead being removed. (SQLite serialises writers anyway.)
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [tenant_id % 2**31, contact])


def _open_lead_for(tenant: Tenant, *, phone: str | None, email: str | None) -> Lead | None:
    leads = Lead.objects.filter(tenant=tenant, stage__is_closed=False)
    if phone:
        leads = leads.filter(phone=phone)
    elif email:
        leads = leads.filter(email__iexact=email)
    else:
        return None
    return leads.order_by("-created_at", "-id").first()


@transaction.atomic
def lead_intake(
    *,
    tenant: Tenant,
    source: str,
    delivery_id: str | None,
    name: str = "",
    phone: str | None = None,
    email: str | None = None,
    message: str = "",
    payload=None,
    external_id: str | None = None,
) -> tuple[Lead, bool]:
    """Accept one inbound contact from a webhook; returns (lead, created).

    A repeated delivery id returns the lead it made; a contact with an open lead gets the message in that
    lead's history (`lead_updated`); anyone else becomes a new lead in the default pipeline (`lead_created`),
    assigned in turn when the tenant distributes leads (SPEC §12).
    `payload` is what the caller understood of the delivery (at most 64 KiB as JSON): the new lead's
    `source_payload`, or the payload of the message's history entry.
    """
    phone = phone_normalize(phone, region=tenant.phone_region)
    email = email_normalize(email)
    if not phone and not email:
        raise ValidationFailed.for_field("phone", _("A phone or an email is required."))
    if payload is not None and len(orjson.dumps(payload)) > MAX_STORED_PAYLOAD_BYTES:
        raise ValidationFailed.for_field(
            "body", _("The payload to keep is larger than %(limit)s bytes.") % {"limit": MAX_STORED_PAYLOAD_BYTES}
        )
    delivery = None
    if delivery_id:
        delivery, claimed = _delivery_claim(tenant=tenant, source=source, delivery_id=delivery_id)
        if not claimed:
            # Whoever claimed it set its lead before committing, and removing a lead removes the row.
            assert delivery.lead_id is not None
            return Lead.objects.get(pk=delivery.lead_id), False
    contact_lock(tenant.pk, phone or (email or "").lower())
    lead = _open_lead_for(tenant, phone=phone, email=email)
    if lead is None:
        created = True
        assignee = distribution_assignee_take(tenant=tenant)
        lead = lead_create(
            tenant=tenant,
            name=name,
            phone=phone,
            email=email,
            comment=message,
            source=source,
            assigned_to=assignee,
            external_id=external_id,
            source_payload=payload,
        )
        if assignee is not None:
            distribution_record(lead=lead, assignee=assignee)
    else:
        created = False
        lead_touch(lead=lead, kind=HistoryKind.MESSAGE, text=message or "Повторное обращение", payload=payload)
    if delivery is not None:
        delivery.lead = lead
        delivery.save(update_fields=["lead"])
    return lead, created


def _delivery_claim(*, tenant: Tenant, source: str, delivery_id: str) -> tuple[InboundDelivery, bool]:
    """Insert the delivery row first: a concurrent retry blocks on the unique index until this one commits."""
    delivery_id = delivery_id[:255]
    try:
        with transaction.atomic():
            return InboundDelivery.objects.create(tenant=tenant, source=source, delivery_id=delivery_id), True
    except IntegrityError:
        existing = InboundDelivery.objects.get(tenant=tenant, source=source, delivery_id=delivery_id)
        return existing, False
