"""The one rule several deals services share: a confirmed client for what needs one (the toolkit is crm.service_kit)."""

from deals.errors import ClientNotConfirmed
from deals.models import Client, ClientStatus


def require_active_client(client: Client) -> None:
    """A deal issues or becomes active, a policy becomes active, only for a confirmed (`active`) client: else 412.

    The client's row is locked and its status read afresh, so a concurrent change of the client (to `potential` or
    `inactive`) either lands before this check or waits until the move is committed.
    """
    status = Client.objects.for_tenant(client.tenant_id).select_for_update().values_list("status", flat=True)
    client.status = status.get(pk=client.pk)
    if client.status != ClientStatus.ACTIVE:
        raise ClientNotConfirmed(client)
