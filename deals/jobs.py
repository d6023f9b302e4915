"""Scheduled work of the deals domain (jobs: `manage.py run_worker`)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from deals.services.renewals import policy_renewals


@db_periodic_task(crontab(minute="5"), name="deals.policy_renewals")
def run_policy_renewals() -> int:
    """Hourly: every tenant's policies ending within its notice days become `renewal_due`; how many moved.

    Every worker that runs the schedule enqueues it, so two runs may overlap: the service takes its batches with
    SKIP LOCKED and only `active` policies, so overlapping runs share the work and never repeat a move.
    """
    return policy_renewals()
