"""The per-process Redis subscriber that feeds this process's streams, and its `/readyz` check.

Replaces django-eventstream's own `RedisListener`, which subscribes to a channel shared by every deployment and,
after a Redis outage longer than redis-py's retries, dies for good and leaves the process deaf (SSE-NOTES §2).
This one never gives up: it reconnects with capped exponential backoff, detects a silent connection with its own
PING watchdog, and after every (re)subscription tells all local streams to re-read storage, so events published
while it was away are delivered from storage, in order, exactly once.
"""

import asyncio
import logging
import time

from django.conf import settings
from django_eventstream.views import get_listener_manager
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from events import broker

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0
# Silent-connection watchdog: PING after this much quiet; no reply at all within twice that → reconnect.
WATCHDOG_SECONDS = 10.0


class RedisSubscriber:
    """One per process, started by the first stream on the server's event loop."""

    def __init__(self):
        self._task: asyncio.Task | None = None
        self.connected = False
        self.down_since: float | None = None
        self.last_error = ""

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self.connected = False
        self.down_since = time.time()
        self._task = loop.create_task(self._run(), name="events-redis-subscriber")

    def status(self) -> str:
        if self._task is None or self.connected:
            return "ok"
        if self._task.done():
            return "error: the events subscriber has stopped"
        return (
            f"error: the events subscriber has been disconnected from Redis for "
            f"{time.time() - (self.down_since or time.time()):.0f}s ({self.last_error or 'connecting'})"
        )

    async def _run(self) -> None:
        backoff = BACKOFF_INITIAL_SECONDS
        while True:
            # redis-py's own retries are off: this loop reconnects, and must see every reconnection to resync.
            options = {"socket_connect_timeout": 3, "socket_keepalive": True, "retry": Retry(NoBackoff(), 0)}
            client = Redis(**{**options, **settings.EVENTSTREAM_REDIS})
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(broker.redis_channel())
                    await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: log, back off, reconnect; never die
                if self.connected:
                    backoff = BACKOFF_INITIAL_SECONDS
                self._mark_down(exc)
                logger.warning("Events subscriber lost Redis (%s); retrying in %.1fs", self.last_error, backoff)
            finally:
                await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    async def _listen(self, pubsub) -> None:
        last_heard = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=WATCHDOG_SECONDS)
            if message is None:
                if time.monotonic() - last_heard > 2 * WATCHDOG_SECONDS:
                    raise ConnectionError("no reply from Redis to PING")
                await pubsub.ping()
                continue
            last_heard = time.monotonic()
            if message["type"] == "subscribe":
                # Also sent when redis-py reconnects and resubscribes by itself: either way messages may have
                # been missed, so every stream re-reads storage from its last id.
                self._mark_up()
                resync_listeners()
            elif message["type"] == "message":
                listeners = get_listener_manager()
                for event in broker.decode_message(message["data"]):
                    listeners.add_to_queues(event.channel, event)

    def _mark_up(self) -> None:
        if not self.connected:
            logger.info("Events subscriber listening on Redis channel %s", broker.redis_channel())
        self.connected = True
        self.down_since = None
        self.last_error = ""

    def _mark_down(self, exc: Exception) -> None:
        if self.connected or self.down_since is None:
            self.down_since = time.time()
        self.connected = False
        self.last_error = f"{exc.__class__.__name__}: {exc}"


def resync_listeners() -> None:
    """Make every open stream of this process re-read storage (the library's overflow path)."""
    manager = get_listener_manager()
    with manager.lock:
        listeners = {listener for members in manager.listeners_by_channel.values() for listener in members}
        for listener in listeners:
            listener.overflow = True
            listener.wake_threadsafe()


subscriber = RedisSubscriber()


def readiness() -> str:
    """`READINESS_CHECKS` entry: "ok", or "error: …" while this process's subscriber is cut off from Redis."""
    return subscriber.status()
