"""`manage.py create_tenant`: a tenant, its owner and its default pipeline; the last line is JSON (SPEC §1)."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crm import services
from crm.errors import ApplicationError
from crm.models import Role


class Command(BaseCommand):
    help = "Create a tenant with its owner and default pipeline. Prints a JSON object as the last line."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--owner", required=True, help="The owner's username.")
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--timezone", default="Europe/Moscow")
        parser.add_argument("--phone-region", default="RU")
        parser.add_argument("--whatsapp-verify-token", default="")
        parser.add_argument("--whatsapp-app-secret", default="")

    def handle(self, *args, **options):
        try:
            with transaction.atomic():
                tenant = services.tenant_create(
                    name=options["name"],
                    slug=options["slug"],
                    timezone=options["timezone"],
                    phone_region=options["phone_region"],
                    whatsapp_app_secret=options["whatsapp_app_secret"],
                    whatsapp_verify_token=options["whatsapp_verify_token"],
                )
                owner = services.user_create(
                    tenant=tenant,
                    username=options["owner"],
                    password=options["password"],
                    email=options["email"],
                    role=Role.OWNER,
                )
        except ApplicationError as exc:
            raise CommandError(_describe(exc)) from exc
        self.stdout.write(f"Created tenant «{tenant.name}» (id {tenant.id}) with owner {owner.username}.")
        self.stdout.write(
            json.dumps(
                {"tenant_id": tenant.id, "slug": tenant.slug, "owner_id": owner.id, "webhook_key": tenant.webhook_key}
            )
        )


def _describe(exc: ApplicationError) -> str:
    if not exc.details:
        return exc.message
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.details.items())
