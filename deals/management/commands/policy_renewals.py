"""`manage.py policy_renewals [--tenant ID]`: the hourly renewal job on demand (SPEC §13)."""

from django.core.management.base import BaseCommand, CommandError

from crm.models import Tenant
from deals.services import policy_renewals


class Command(BaseCommand):
    help = (
        "Move active policies ending within each tenant's renewal_notice_days to renewal_due, with a journal entry "
        "and a task for the sales agent. Prints how many moved."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", type=int, help="Only this tenant (its id).")

    def handle(self, *args, **options):
        tenant_id = options["tenant"]
        if tenant_id is not None and not Tenant.objects.filter(pk=tenant_id).exists():
            raise CommandError(f"No tenant with id {tenant_id}.")
        moved = policy_renewals(tenant_id=tenant_id)
        self.stdout.write(f"Policies due for renewal: {moved}.")
