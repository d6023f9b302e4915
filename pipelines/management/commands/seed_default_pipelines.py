"""`manage.py seed_default_pipelines [--tenant ID]`: give tenants that lack one the default pipeline «Основная»."""

from django.core.management.base import BaseCommand, CommandError

from crm.models import Tenant
from pipelines.services import default_pipeline_ensure


class Command(BaseCommand):
    help = "Create the default pipeline «Основная» with its stages for tenants that have none. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", type=int, help="Only this tenant id.")

    def handle(self, *args, **options):
        tenants = Tenant.objects.order_by("id")
        if options["tenant"] is not None:
            tenants = tenants.filter(pk=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with id {options['tenant']}.")
        created_count = 0
        present_count = 0
        for tenant in tenants:
            pipeline, created = default_pipeline_ensure(tenant=tenant)
            if created:
                created_count += 1
                stages = ", ".join(pipeline.stages.order_by("order_index").values_list("name", flat=True))
                self.stdout.write(f"Tenant «{tenant.name}» (id {tenant.pk}): created «{pipeline.name}» ({stages}).")
            else:
                present_count += 1
                self.stdout.write(
                    f"Tenant «{tenant.name}» (id {tenant.pk}): already has default pipeline «{pipeline.name}»."
                )
        self.stdout.write(f"Done: {created_count} created, {present_count} already present.")
