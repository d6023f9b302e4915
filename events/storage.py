"""Event persistence for replay: django-eventstream's DjangoModelStorage with a cheaper append and trimming."""

import json
import time
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone
from django_eventstream.event import Event as StreamEvent
from django_eventstream.models import Event, EventCounter
from django_eventstream.storage import EVENT_TIMEOUT, DjangoModelStorage

# How long events stay replayable (the library's 24 h; SPEC §8 asks for at least 24 h).
RETENTION = timedelta(minutes=EVENT_TIMEOUT)
TRIM_EVERY_SECONDS = 60.0


_EVENT = connection.ops.quote_name(Event._meta.db_table)
_COUNTER = connection.ops.quote_name(EventCounter._meta.db_table)
# The library's append in one statement: bump the channel's counter (creating it, and the eid 0 placeholder its
# replay looks up, on a channel's first event) and insert the event with the new id. The counter's row lock lasts
# one statement instead of the library's four, and one round trip replaces six.
_APPEND_SQL = f"""
WITH counter AS (
    INSERT INTO {_COUNTER} (name, value, updated) VALUES (%(channel)s, 1, now())
    ON CONFLICT (name) DO UPDATE SET value = {_COUNTER}.value + 1, updated = now()
    RETURNING value
), placeholder AS (
    INSERT INTO {_EVENT} (channel, type, data, eid, created)
    SELECT %(channel)s, '', '', 0, now() FROM counter WHERE value = 1
)
INSERT INTO {_EVENT} (channel, type, data, eid, created)
SELECT %(channel)s, %(type)s, %(data)s, value, now() FROM counter
RETURNING eid
"""  # noqa: S608 - table names only; every value is a parameter


class EventStorage(DjangoModelStorage):
    """`EVENTSTREAM_STORAGE_CLASS`: rows in `django_eventstream_event`, ids per channel, kept for `RETENTION`.

    Upstream trims on every append with a SELECT and then one DELETE per expired row (issue #93); here a process
    trims at most once a minute with one bulk DELETE. An event older than RETENTION may thus live up to a minute
    longer, which only widens the replay window. On PostgreSQL an append is one statement (`_APPEND_SQL`).
    """

    _next_trim = 0.0

    def append_event(self, channel, event_type, data):
        if connection.vendor != "postgresql":
            return super().append_event(channel, event_type, data)
        encoded = json.dumps(data, cls=DjangoJSONEncoder)
        with connection.cursor() as cursor:
            cursor.execute(_APPEND_SQL, {"channel": channel, "type": event_type, "data": encoded})
            (event_id,) = cursor.fetchone()
        self.trim_event_log()
        return StreamEvent(channel, event_type, data, id=event_id)

    def trim_event_log(self):
        now = time.monotonic()
        if now < EventStorage._next_trim:
            return
        EventStorage._next_trim = now + TRIM_EVERY_SECONDS
        Event.objects.filter(created__lt=timezone.now() - RETENTION).delete()
