"""Fan-out of stored events to the open streams: in this process, or to every process through Redis pub/sub.

Without `EVENTSTREAM_REDIS` (no `REDIS_URL`) events go straight to this process's listeners. With it, one message
per delivery goes to a Redis channel namespaced per deployment, and each process's `events.subscriber` hands it to
its listeners. Redis only carries wake-ups with the payload: the events are already in storage, so anything a
process misses (Redis down, a message lost) is read back from storage by the streams (see `events.stream`).
"""

import json
import logging
from functools import cache
from pathlib import Path

from django.conf import settings
from django_eventstream.event import Event
from django_eventstream.utils import publish_event
from django_eventstream.views import get_listener_manager
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

# The publisher runs inside API requests (on commit): a dead Redis must cost them little. One immediate retry
# replaces a pooled connection that went stale when Redis restarted; redis-py's default backs off for seconds.
PUBLISH_CLIENT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1, "retry": Retry(NoBackoff(), 1)}


def redis_enabled() -> bool:
    return bool(getattr(settings, "EVENTSTREAM_REDIS", None))


def redis_channel() -> str:
    """`<EVENTS_REDIS_CHANNEL_PREFIX>:<database name>:events`.

    Pub/sub ignores Redis's db number, so two deployments sharing a Redis server would read each other's events
    (the library hard-codes one `events_channel`). The prefix is the operator's namespace; the database name is
    added so that a forgotten prefix still cannot cross-deliver between deployments on different databases.
    """
    database = Path(str(settings.DATABASES["default"]["NAME"])).name
    return f"{settings.EVENTS_REDIS_CHANNEL_PREFIX}:{database}:events"


@cache
def _redis_publisher(options: frozenset):
    return Redis(**{**PUBLISH_CLIENT_OPTIONS, **dict(options)})


def encode_message(events: list[Event]) -> str:
    return json.dumps({"events": [{"channel": e.channel, "type": e.type, "data": e.data, "id": e.id} for e in events]})


def decode_message(raw: bytes | str) -> list[Event]:
    return [Event(e["channel"], e["type"], e["data"], id=e["id"]) for e in json.loads(raw)["events"]]


def grip_enabled() -> bool:
    return bool(getattr(settings, "GRIP_URL", None) or getattr(settings, "GRIP_PROXIES", None))


def publish(events: list[Event]) -> None:
    """Wake the streams subscribed to these (already stored) events. Raises if Redis fails.

    The GRIP proxy is told off the request path: the publisher's own thread sends the events in order (a blocking
    publish added ~21 ms to each publishing request). A failed send is logged; Pushpin notices the gap at the
    channel's next event (each carries its predecessor's id) and recovers the missing ones from storage.
    """
    if redis_enabled():
        _redis_publisher(frozenset(settings.EVENTSTREAM_REDIS.items())).publish(redis_channel(), encode_message(events))
    else:
        listeners = get_listener_manager()
        for event in events:
            listeners.add_to_queues(event.channel, event)
    if grip_enabled():
        for event in events:
            publish_event(
                event.channel, event.type, event.data, str(event.id), str(event.id - 1), callback=_grip_published
            )


def _grip_published(success: bool, message: str) -> None:
    if not success:
        logger.warning("The GRIP proxy did not take an event (%s); it recovers at the channel's next event.", message)
