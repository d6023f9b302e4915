"""Client writes."""

from django.db import transaction
from django.utils.translation import gettext as _

from crm.errors import Forbidden
from crm.service_kit import apply_changes, check_settable, save_or_conflict, validate
from crm.tenancy import sees_whole_tenant
from crm.versions import ANY, Expected
from deals.errors import ClientExists
from deals.models import Client, Deal
from events.services import webhook_event_emit

CLIENT_FIELDS = frozenset(
    {"type", "full_name", "short_name", "tax_number", "registration_number", "segment", "status", "contacts", "notes"}
)


def _client_exists(tax_number: str) -> ClientExists:
    return ClientExists(
        f"A client with tax number {tax_number} already exists.", details={"tax_number": [f"{tax_number} is taken."]}
    )


@transaction.atomic
def client_create(*, tenant, **fields) -> Client:
    """Create a client (any role); a duplicate non-empty tax number is 409 client_exists."""
    check_settable(fields, CLIENT_FIELDS)
    client = Client(tenant=tenant, **fields)
    client.refresh_search_text()
    validate(client)
    save_or_conflict(client, {"deals_client_tax_uniq": _client_exists(client.tax_number)}, force_insert=True)
    webhook_event_emit(event_type="client_created", tenant_id=client.tenant_id, object_id=client.pk)
    return client


def client_may_change(*, client: Client, acting_user) -> bool:
    """Supervisors change any client; a manager only clients of deals they work on (SPEC §9)."""
    if sees_whole_tenant(acting_user):
        return True
    return Deal.objects.visible_to(acting_user).filter(client_id=client.pk).exists()


@transaction.atomic
def client_update(*, client: Client, acting_user, expected: Expected = ANY, **changes) -> Client:
    """Change a client's fields; a tax number taken by another client is 409 client_exists.

    `expected` is the version the caller read (SPEC §11): checked under the row lock, stale → 412/409.
    """
    if not client_may_change(client=client, acting_user=acting_user):
        raise Forbidden(_("Managers change only clients of their own deals."))
    client = Client.objects.for_tenant(client.tenant_id).select_for_update().get(pk=client.pk)
    expected.check(client.version)
    changed = apply_changes(client, CLIENT_FIELDS, changes)
    if not changed:
        return client
    client.refresh_search_text()
    validate(client)
    update_fields = [*changed, "search_text", "updated_at"]
    conflicts = {"deals_client_tax_uniq": _client_exists(client.tax_number)}
    save_or_conflict(client, conflicts, bump=True, update_fields=update_fields)
    webhook_event_emit(event_type="client_updated", tenant_id=client.tenant_id, object_id=client.pk)
    return client
