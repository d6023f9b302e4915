"""`python manage.py run_worker`: huey's own consumer (`run_huey`), with the jobs of every app and the schedule.

Every option of huey's consumer is accepted (`--workers`, `--worker-type`, `--no-periodic`, …; `--help`).
"""

from django.utils.module_loading import autodiscover_modules
from huey.contrib.djhuey.management.commands.run_huey import Command as HueyCommand


class Command(HueyCommand):
    help = "Run the background worker (huey's consumer): jobs of every app's jobs.py, periodic ones included."

    def handle(self, *args, **options):
        # The apps keep their jobs in jobs.py: huey's autoload looks for tasks.py, which is the name of an app here.
        autodiscover_modules("jobs")
        super().handle(*args, **{**options, "disable_autoload": True})
