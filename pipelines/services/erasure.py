"""Erasure of a lead (SPEC §12, a person's right to have their data erased): the lead and all kept about it."""

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils.translation import gettext as _

from crm.errors import Forbidden, NotFound
from crm.models import User
from crm.tenancy import sees_whole_tenant
from events.services import lead_deleted_emit, webhook_log_forget
from pipelines.models import Lead
from pipelines.services.intake import contact_lock


def lock_lead_contacts(*leads: Lead) -> None:
    """Hold intake of the leads' contacts until this transaction ends, so no message is added to them meanwhile (the
    lock intake takes, and in its order: contacts first, then lead rows). Sorted, so two callers never wait on each
    other."""
    contacts = {lead.phone or (lead.email or "").lower() for lead in leads} - {""}
    for contact in sorted(contacts):
        contact_lock(leads[0].tenant_id, contact)


@transaction.atomic
def lead_erase(*, lead: Lead, acting_user: User | None = None) -> None:
    """Delete the lead with its tasks, history (inbound messages and their payloads), delivery ids, back-office change
    log and the bodies of its earlier webhook events; emits `lead_deleted` (webhooks) and `lead_updated` (streams).
    Supervisors only.

    Rows of other apps that point at the lead go with it (their foreign keys cascade), so this needs no list of them.
    """
    if acting_user is not None and not sees_whole_tenant(acting_user):
        raise Forbidden(_("Only an owner, a ROP or an admin may delete a lead."))
    lock_lead_contacts(lead)
    lead = Lead.objects.for_tenant(lead.tenant_id).select_for_update().filter(pk=lead.pk).first()
    if lead is None:
        raise NotFound(_("No such lead (it was just deleted)."))
    lead_id, assignee_id = lead.pk, lead.assigned_to_id
    # The admin's change log names the lead (its name, the fields changed): personal data too.
    LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Lead), object_id=str(lead_id)).delete()
    lead.delete()
    # Outbound webhook bodies logged earlier carry the lead as the API rendered it (its payload too).
    webhook_log_forget(tenant_id=lead.tenant_id, kind="lead", object_id=lead_id)
    lead_deleted_emit(tenant_id=lead.tenant_id, lead_id=lead_id, assignee_ids=[assignee_id])
