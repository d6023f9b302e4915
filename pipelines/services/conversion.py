"""A lead becomes a v1 client and deal (SPEC §12 «Into a deal»).

The service lives in the sales funnel because the deals app imports nothing of it: the brokerage's own services
(`deals.services.client_create`, `deal_create`, `journal_entry_create`) do the v1 writes, all in this one
transaction, and the deal keeps only the lead's id.
"""

from dataclasses import dataclass

import phonenumbers
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.errors import Conflict, ValidationFailed
from crm.models import User
from crm.tenancy import check_may_touch
from crm.versions import save_bumped
from deals import selectors as deal_selectors
from deals import services as deal_services
from deals.models import Client, ClientStatus, ClientType, ContactType, Deal, JournalKind
from pipelines.models import HistoryKind, Lead
from pipelines.services.leads import lead_emit, lead_history_record, lead_lock, phone_normalize


class LeadAlreadyConverted(Conflict):
    admin_message = gettext_lazy("Уже преобразован в сделку.")


@dataclass(frozen=True)
class LeadConversion:
    lead: Lead
    client: Client
    deal: Deal
    client_created: bool


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    acting_user: User,
    client: Client | None = None,
    title: str | None = None,
    sales_agent: User | None = None,
    description: str = "",
) -> LeadConversion:
    """Turn a lead into a v1 deal with a client: the given one, one found by the lead's phone or email, or a new
    `potential` individual. The deal's title defaults to the lead's name, its sales agent to the lead's assignee
    (else the caller). A lead converts once (409 conflict); a manager converts only their own leads (403).
    """
    lead = lead_lock(lead)
    check_may_touch(acting_user, lead, _("This lead is assigned to a colleague."))
    if lead.deal_id is not None:
        raise LeadAlreadyConverted(f"Lead {lead.pk} is already converted.", details={"deal_id": [str(lead.deal_id)]})
    if client is not None and client.tenant_id != lead.tenant_id:
        raise ValidationFailed.for_field("client_id", _("No client with this id in your tenant."))
    sales_agent = _sales_agent(lead, acting_user=acting_user, named=sales_agent)
    client_created = False
    if client is None:
        client = _client_by_contact(lead)
    if client is None:
        client, client_created = _client_from_lead(lead), True
    deal = deal_services.deal_create(
        tenant=lead.tenant,
        acting_user=acting_user,
        client_id=client.pk,
        title=title or lead.name,
        sales_agent=sales_agent,
        description=description or "",
        lead_id=lead.pk,
    )
    deal_services.journal_entry_create(
        deal=deal,
        acting_user=acting_user,
        text=f"Сделка создана из лида «{lead.name}» (№{lead.pk})",
        kind=JournalKind.SYSTEM,
    )
    lead.client, lead.deal = client, deal
    save_bumped(lead, update_fields=["client", "deal", "updated_at"])
    origin = "новый" if client_created else "существующий"
    text = f"Создана сделка «{deal.title}», клиент «{client.full_name}» ({origin})"
    lead_history_record(lead=lead, kind=HistoryKind.CONVERTED, acting_user=acting_user, text=text)
    lead_emit("lead_updated", lead)
    return LeadConversion(lead=lead, client=client, deal=deal, client_created=client_created)


def _sales_agent(lead: Lead, *, acting_user: User, named: User | None) -> User:
    """The named agent (an active user of the lead's tenant), else the lead's active assignee, else the caller."""
    if named is not None:
        if named.tenant_id != lead.tenant_id or not named.is_active:
            raise ValidationFailed.for_field("deal.sales_agent_id", _("No active user with this id in your tenant."))
        return named
    if lead.assigned_to is not None and lead.assigned_to.is_active:
        return lead.assigned_to
    if acting_user.tenant_id == lead.tenant_id:
        return acting_user
    # A platform superuser in the admin is nobody's sales agent.
    refusal = ValidationFailed.for_field(
        "deal.sales_agent_id", _("The lead has no active assignee: name a sales agent.")
    )
    refusal.admin_message = _("У лида нет ответственного: назначьте его, он станет агентом сделки.")
    raise refusal


def _client_by_contact(lead: Lead) -> Client | None:
    """The tenant's oldest client with a contact equal to the lead's email (any case) or phone (as E.164)."""
    fragments = [value for value in (lead.email, _national_number(lead.phone)) if value]
    if not fragments:
        return None
    region = lead.tenant.phone_region
    for client in deal_selectors.client_contact_candidates(tenant=lead.tenant_id, fragments=fragments):
        if any(_same_contact(contact.get("value"), lead, region) for contact in client.contacts):
            return client
    return None


def _national_number(phone: str | None) -> str | None:
    # Lead phones are stored in E.164; a client's may be written in any national or international way.
    try:
        return str(phonenumbers.parse(phone).national_number) if phone else None
    except phonenumbers.NumberParseException:
        return None


def _same_contact(value, lead: Lead, region: str) -> bool:
    if not isinstance(value, str):
        return False
    if lead.email and value.strip().lower() == lead.email.lower():
        return True
    if not lead.phone:
        return False
    try:
        return phone_normalize(value, region=region) == lead.phone
    except ValidationFailed:
        return False


def _client_from_lead(lead: Lead) -> Client:
    contacts = [
        {"type": kind.value, "value": value, "name": "", "is_primary": True}
        for kind, value in ((ContactType.PHONE, lead.phone), (ContactType.EMAIL, lead.email))
        if value
    ]
    return deal_services.client_create(
        tenant=lead.tenant,
        type=ClientType.INDIVIDUAL,
        status=ClientStatus.POTENTIAL,
        full_name=lead.name,
        contacts=contacts,
    )
