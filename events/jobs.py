"""Scheduled work on the event log (jobs: `manage.py run_worker`)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from events import storage
from events.models import WebhookSubscription
from events.webhooks import delivery
from events.webhooks import log as webhook_log


@db_periodic_task(crontab(minute="*/10"), name="events.trim_event_log")
def trim_event_log() -> int:
    """Delete the events past their retention (events.storage.RETENTION); how many.

    Every worker that runs the schedule enqueues it (huey has no cluster-wide scheduler), so it may run more than
    once in ten minutes, even twice at once: harmless, a second DELETE finds nothing left. No huey lock on purpose:
    a worker killed while holding one would stop trimming until the lock is flushed by hand.
    """
    return storage.trim()


@db_task(name="events.deliver_webhooks")
def deliver_webhooks(tenant_id: int, subscription_id: int) -> None:
    """Deliver a subscription's due events; after a failure, come back when the retry is due."""
    due = delivery.pump(tenant_id, subscription_id)
    if due is not None:
        deliver_webhooks.schedule(args=(tenant_id, subscription_id), eta=due)


@db_task(name="events.wake_webhooks")
def wake_webhooks(tenant_id: int) -> None:
    """An event of the tenant committed: start a deliverer for each of its active subscriptions."""
    for subscription_id in (
        WebhookSubscription.objects.for_tenant(tenant_id).filter(is_active=True).values_list("pk", flat=True)
    ):
        deliver_webhooks(tenant_id, subscription_id)


@db_periodic_task(crontab(), name="events.sweep_webhooks")
def sweep_webhooks() -> int:
    """Every minute: start a deliverer for each subscription with a due backlog whose wake-up never came (the
    publisher died right after its commit, a scheduled retry was lost with the queue). How many were started."""
    started = 0
    for tenant_id, subscription_id, position in delivery.due_subscriptions():
        if position < webhook_log.head(tenant_id):
            deliver_webhooks(tenant_id, subscription_id)
            started += 1
    return started
