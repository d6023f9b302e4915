"""The event log: django-eventstream's event table, written in the business transaction, numbered at commit.

This is the project's transactional outbox (SPEC §14). `append_pending` inserts an event row inside the caller's
transaction, so the event exists if and only if the change committed: a rollback removes it with the change, and a
process killed right after the commit (before any on-commit hook) leaves it stored, replayable by every stream
(`Last-Event-ID`) and readable by the webhook deliverer. Publishing to Redis afterwards is only a wake-up
(events.services); whatever a wake-up misses is read back from here.

How the classic outbox traps are handled (PostgreSQL):

- Ids that commit out of order. A row is inserted with a placeholder id (`eid = -pk`, never matched by a reader:
  positions are ≥ 0) and numbered by a deferred constraint trigger (migration 0001), which PostgreSQL runs inside
  COMMIT. The trigger takes the channel's counter row lock, and that lock is held until the commit is complete, so
  the next committer of the channel waits for it and gets the next number only once the previous one is visible.
  Ids therefore become visible in order and without gaps (a rolled-back transaction never reaches its trigger and
  takes no number): a reader that has seen id N never misses an event committed later with a lower id, because
  there is none. Readers need no horizon or gap timeout: the library's "ids after N" is exact.
- Per-tenant ordering. Every lead event goes to the tenant channel (and copies to the managers' channels): the
  tenant channel's ids are the commit order of the tenant's events; each manager channel keeps the same relative
  order. A transaction numbers its events in the order it emitted them (deferred triggers fire in queue order).
- Hot counter rows. All events of a tenant serialise on the tenant channel's counter row, but only for the commit
  itself (trigger + WAL flush, about a millisecond), not for the whole business transaction: numbering at append
  time would hold the row from the append to the commit and queue every writer of the tenant behind the slowest
  transaction (and invite lock-order deadlocks with business row locks). The price is one extra UPDATE per event
  row at commit. Lock order inside a tenant is fixed (the tenant channel is numbered first in every transaction).
- Retention. `created` is set at commit by the trigger, so an event is kept `RETENTION` after it became visible,
  whatever its transaction's length. Trimming is one bulk DELETE run by the job engine's schedule (events.jobs); a
  client whose position was trimmed gets `stream-reset`. A webhook channel keeps what its subscriptions have not
  delivered yet, however old (a disabled subscription's backlog).

Without PostgreSQL (the laptop's SQLite) the row is numbered at insert by the library's model: SQLite holds its
single writer lock from the first write to the commit, so numbering inside the transaction is already commit-ordered.
"""

import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django_eventstream.event import Event as StreamEvent
from django_eventstream.models import Event
from django_eventstream.storage import EVENT_TIMEOUT, DjangoModelStorage

# How long events stay replayable (the library's 24 h; SPEC §8 asks for at least 24 h).
RETENTION = timedelta(minutes=EVENT_TIMEOUT)

_EVENT = connection.ops.quote_name(Event._meta.db_table)
# The placeholder id is the row's own negated primary key: unique per channel, as the library's (channel, eid)
# constraint demands, and below every position a reader asks for.
_APPEND_PENDING_SQL = f"""
WITH row_id AS (SELECT nextval(pg_get_serial_sequence(%(table)s, 'id')) AS id)
INSERT INTO {_EVENT} (id, channel, type, data, eid, created)
SELECT id, %(channel)s, %(type)s, %(data)s, -id, now() FROM row_id
RETURNING id
"""  # noqa: S608 - the table name only; every value is a parameter


def append_pending(channel: str, event_type: str, data) -> int:
    """Insert an event in the current transaction; its position on the channel is given at commit. Returns the row's
    primary key (for `committed`)."""
    if connection.vendor != "postgresql":
        row = Event(channel=channel, type=event_type, data=json.dumps(data, cls=DjangoJSONEncoder))
        row.save()
        return row.pk
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_PENDING_SQL,
            {
                "table": Event._meta.db_table,
                "channel": channel,
                "type": event_type,
                "data": json.dumps(data, cls=DjangoJSONEncoder),
            },
        )
        (pk,) = cursor.fetchone()
    return pk


def committed(pks) -> list[StreamEvent]:
    """The stored events of these rows as the streams send them, in log order (after their commit)."""
    rows = Event.objects.filter(pk__in=list(pks), eid__gt=0).order_by("channel", "eid")
    return [StreamEvent(row.channel, row.type, json.loads(row.data), id=row.eid) for row in rows]


def trim() -> int:
    """Delete the events older than RETENTION in one statement, except a webhook backlog; the number deleted.

    A tenant's webhook channel keeps every event some subscription of the tenant has not yet delivered, however
    old (a disabled subscription keeps its backlog, SPEC §14); SSE channels keep nothing past RETENTION.
    """
    from events.models import WebhookSubscription

    subscriptions = connection.ops.quote_name(WebhookSubscription._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {_EVENT} WHERE created < %(cutoff)s AND eid <= COALESCE(
                (SELECT MIN(s.position) FROM {subscriptions} s WHERE %(prefix)s || s.tenant_id = {_EVENT}.channel),
                eid
            )
            """,  # noqa: S608 - table names only; every value is a parameter
            {"cutoff": timezone.now() - RETENTION, "prefix": "webhooks-"},
        )
        return cursor.rowcount


class EventStorage(DjangoModelStorage):
    """`EVENTSTREAM_STORAGE_CLASS`: the library's reads (`get_events`, `get_current_id`) of the log above.

    Upstream trims on every append with a SELECT and then one DELETE per expired row (issue #93); here trimming is
    the scheduled job `events.trim_event_log` (`trim`).
    """

    def append_event(self, channel, event_type, data):
        """The library's append, for callers outside a transaction: stored, committed and numbered on return."""
        if connection.in_atomic_block:
            raise RuntimeError("Inside a transaction use append_pending: the event is numbered at commit.")
        with transaction.atomic():
            pk = append_pending(channel, event_type, data)
        return committed([pk])[0]

    def trim_event_log(self):
        trim()
