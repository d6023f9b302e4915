"""Scheduled work on the event log (jobs: `manage.py run_worker`)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from events import storage


@db_periodic_task(crontab(minute="*/10"), name="events.trim_event_log")
def trim_event_log() -> int:
    """Delete the events past their retention (events.storage.RETENTION); how many.

    Every worker that runs the schedule enqueues it (huey has no cluster-wide scheduler), so it may run more than
    once in ten minutes, even twice at once: harmless, a second DELETE finds nothing left. No huey lock on purpose:
    a worker killed while holding one would stop trimming until the lock is flushed by hand.
    """
    return storage.trim()
