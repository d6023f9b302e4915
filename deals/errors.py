"""The Deals API's own error codes (seed 002): specific 404s and 409 conflicts."""

from django.utils.translation import gettext as _

from crm.errors import Conflict, NotFound, PreconditionFailed
from deals.models.clients import ClientStatus


class ClientNotFound(NotFound):
    code, default_message = "client_not_found", "Client not found."


class DealNotFound(NotFound):
    code, default_message = "deal_not_found", "Deal not found."


class PolicyNotFound(NotFound):
    code, default_message = "policy_not_found", "Policy not found."


class PaymentNotFound(NotFound):
    code, default_message = "payment_not_found", "Payment not found."


class TaskNotFound(NotFound):
    code, default_message = "task_not_found", "Task not found."


class ClientExists(Conflict):
    code, default_message = "client_exists", "A client with this tax number already exists."


class DealConflict(Conflict):
    code, default_message = "deal_conflict", "This client already has an open deal with this title."


class PolicyConflict(Conflict):
    code, default_message = "policy_conflict", "A policy with this number already exists."


class ClientNotConfirmed(PreconditionFailed):
    """412: a deal moves to issuing/active, or a policy to active, while its client is not `active` (SPEC §11)."""

    default_message = "The deal's client is not confirmed (not active)."

    def __init__(self, client):
        self.client = client
        # The back-office (the deal status actions) says the same in Russian.
        self.admin_message = _(
            "Клиент «%(client)s» не подтверждён (статус «%(status)s»): сделку нельзя перевести в «Оформление» "
            "или «Действует», а полис — в «Действует», пока клиент не станет активным."
        ) % {"client": client, "status": ClientStatus(client.status).label}
        super().__init__(
            f"Client {client.pk} is {client.status}, not active: confirm the client first.",
            details={"client_id": [f"The client is {client.status}; it must be active."]},
        )
