"""`manage.py demo_data`: the demo tenant for the quick start, with printed logins."""

from django.core.management.base import BaseCommand

from crm.demo import DEMO_PASSWORD, DEMO_USERS, demo_data_load


class Command(BaseCommand):
    help = "Create the demo tenant «Demo» (owner, rop, two managers, sample data) if it does not exist."

    def handle(self, *args, **options):
        demo, created = demo_data_load()
        verb = "Created" if created else "Already present:"
        self.stdout.write(f"{verb} demo tenant «{demo.tenant.name}» (id {demo.tenant.id}).")
        self.stdout.write("Logins (username / password):")
        for username, role, _ in DEMO_USERS:
            self.stdout.write(f"  {username:<10} / {DEMO_PASSWORD}   ({role.label})")
