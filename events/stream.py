"""One open SSE stream, built on django-eventstream's storage, listener registry and encoder.

The library's own `stream()` generator is not used, for four reasons (SSE-NOTES §1, §4, §5):
- its keep-alive is a fixed 20 s `keep-alive` event and it opens with `stream-open`; the contract wants `connected`
  (with an id) at once and `ping` after `EVENTS_PING_SECONDS` of silence;
- an event queued while it reads storage is dropped or sent twice (its conflict path re-reads with stale ids);
- it reads storage through thread-sensitive `sync_to_async`, which pins a thread and a DB connection per stream;
- it cannot end a stream when the access token expires.

The loop here keeps the library's model (a `Listener` registered with the `ListenerManager`, storage reads with
`get_events`, ids `channel:N`), with one rule that makes delivery exactly-once: register first, then read storage;
afterwards an event is sent only if its id is the next one of its channel. Older ids are duplicates and are skipped;
a jump means something was missed (a message lost, a publisher that raced another), and storage is re-read.

Every `EVENTS_USER_RECHECK_SECONDS` the stream re-authenticates its credentials (the view says how), renews its slot
under the caps (events.slots) and re-reads the event log (a wake-up that never came is caught up); it ends once the
user may no longer listen, and releases the slot whenever it ends.
"""

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from urllib.parse import unquote

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import EventPermissionError, get_events
from django_eventstream.utils import make_id, sse_encode_event
from django_eventstream.views import Listener, get_listener_manager

from crm.errors import ValidationFailed
from crm.models import User
from events import broker, slots
from events.channels import channels_for_user
from events.subscriber import subscriber

logger = logging.getLogger(__name__)


def envelope(event_type: str, data: dict) -> str:
    """The `data:` line of every event: `{"event": <type>, "data": {...}}` (seed 000 §3)."""
    return json.dumps({"event": event_type, "data": data})


PING = sse_encode_event("ping", envelope("ping", {}))


@dataclass(frozen=True)
class Subscription:
    """What the view decided from the request: who listens, to which channels, from where, until when."""

    user: User
    channels: tuple[str, ...]
    # None for a fresh connection; else channel → the id to resume after (None where the client's id is unusable).
    resume_ids: dict[str, int | None] | None
    deadline: float  # epoch seconds: the access token's `exp`
    # Re-authenticates the stream's credentials as they are now (sync, ORM): the user, or None once they are not valid.
    recheck: Callable[[], User | None] | None = None
    slot: slots.Slot | None = None  # the stream's place under the per-user and per-tenant caps


# `channel:N[,channel:M]` as `make_id` writes them: URL-quoted channel names, positions that fit a bigint.
_EVENT_ID_PART = re.compile(r"[!-~]+:[0-9]{1,18}")
_MAX_EVENT_ID_LENGTH = 1024


def parse_resume(raw: str | None, channels) -> dict[str, int | None] | None:
    """Read a `Last-Event-ID` for our channels; ids of other channels are ignored, a malformed one is a 400.

    A well-formed position this stream cannot honour (another channel, trimmed, unknown) is a `stream-reset`
    later; text that is no event id at all (NUL, thousands of digits, garbage) is refused here, before anything runs.
    """
    if not raw:
        return None
    parts = raw.split(",")
    if len(raw) > _MAX_EVENT_ID_LENGTH or not all(_EVENT_ID_PART.fullmatch(part) for part in parts):
        raise ValidationFailed.for_field(
            "Last-Event-ID", "Not an event id: send back the `id:` of the last event received (channel:number)."
        )
    parsed = {unquote(channel): int(position) for channel, position in (part.rsplit(":", 1) for part in parts)}
    return {channel: parsed.get(channel) for channel in channels}


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        connection.close()


async def run_db(func, *args):
    """Run ORM work off the event loop in a shared worker thread and give the DB connection back afterwards.

    Not thread-sensitive on purpose: a thread-sensitive call would pin a thread for the life of the stream, and
    closing the connection after each call is what keeps an idle stream from holding one.
    """

    def call():
        try:
            return func(*args)
        finally:
            _close_connections()

    return await sync_to_async(call, thread_sensitive=False)()


def _release_request_thread() -> None:
    """Let go of the worker thread Django's ASGI handler keeps for this request.

    Django runs every ASGI request in a `ThreadSensitiveContext` whose single worker thread (started by the sync
    `request_started` receivers and any sync middleware) lives until the response ends: for a stream, for hours.
    Nothing runs sync code in this context again until the response is closed; a thread-sensitive call at that
    point just starts a new executor, which the context shuts down on exit.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    executor = SyncToAsync.context_to_thread_executor.pop(context, None) if context is not None else None
    if executor is not None:
        executor.shutdown(wait=False)


def _stream_error(code: str, message: str) -> str:
    # No `id:`: the client keeps its last good id for the reconnect.
    return sse_encode_event("stream-error", envelope("stream-error", {"error": code, "message": message}))


def _unavailable(exc: DatabaseError) -> str:
    """The event store cannot be read (e.g. the pool is exhausted): end the stream, the client resumes later.

    The 200 and earlier events are already sent, so this is the only way left to say it; the client's
    last id stays valid, and its reconnect with Last-Event-ID gets whatever this stream could not read.
    """
    logger.warning("Ending an event stream: the event store is unavailable (%s)", exc)
    return _stream_error("service_unavailable", "The event store is unavailable; reconnect with Last-Event-ID.")


class StreamListener(Listener):
    closing = False  # set by end_all_streams(): the server is shutting down


def end_all_streams() -> None:
    """End every open stream of this process (server shutdown), so each releases its slot and its connection closes
    before the server exits, instead of being cut off with its slot held until it expires."""
    manager = get_listener_manager()
    with manager.lock:
        listeners = {listener for members in manager.listeners_by_channel.values() for listener in members}
        for listener in listeners:
            listener.closing = True
            listener.wake_threadsafe()


class EventStream:
    """Async iterator of SSE chunks for one subscription."""

    def __init__(self, subscription: Subscription):
        self.subscription = subscription
        self.listener = StreamListener()
        self.listener.user_id = subscription.user.pk
        self.listener.channels = set(subscription.channels)
        self.last_ids: dict[str, int] = {}

    async def events(self):
        _release_request_thread()
        manager = get_listener_manager()
        self.listener.assign_loop()
        # Registered before the first storage read: whatever is published from now on is queued for us.
        manager.add_listener(self.listener)
        try:
            if broker.redis_enabled():
                subscriber.ensure_running()
            opening, opened = await self._start()
            yield opening
            if opened:
                async with aclosing(self._live()) as frames:
                    async for frame in frames:
                        yield frame
        finally:
            manager.remove_listener(self.listener)
            if self.subscription.slot is not None:
                slots.release(self.subscription.slot)  # one short Redis call: the process may be shutting down

    async def _start(self) -> tuple[str, bool]:
        """The opening frames, and whether the stream goes on after them."""
        try:
            return await self._open(), True
        except EventPermissionError as exc:
            return _stream_error("forbidden", str(exc)), False
        except DatabaseError as exc:
            return _unavailable(exc), False

    async def _live(self):
        """Events as they come, pings in silences, a re-check every interval; ends when the token expires."""
        ping_every = max(settings.EVENTS_PING_SECONDS, 0.1)
        recheck_every = max(settings.EVENTS_USER_RECHECK_SECONDS, 0.1)
        silent_since = time.monotonic()
        next_recheck = silent_since + recheck_every
        while True:
            remaining = self.subscription.deadline - time.time()
            if remaining <= 0:
                return  # the token expired: the client reconnects with a fresh one
            if time.monotonic() >= next_recheck:
                if (ended := await self._recheck()) is not None:
                    yield ended
                    return
                self._catch_up()
                next_recheck = time.monotonic() + recheck_every
            until_ping = silent_since + ping_every - time.monotonic()
            if not await self._wait(min(until_ping, remaining, next_recheck - time.monotonic())):
                if time.monotonic() - silent_since >= ping_every:
                    yield PING
                    silent_since = time.monotonic()
                continue
            body, finished = await self._drain()
            if body:
                yield body
                silent_since = time.monotonic()
            if finished:
                return

    async def _open(self) -> str:
        """`connected`, then `stream-reset` if the client's position cannot be honoured, then the missed events."""
        resume = self.subscription.resume_ids
        requested = {channel: (resume or {}).get(channel) for channel in self.subscription.channels}
        items, reset, current = await run_db(self._read, requested, self.subscription.user)
        if resume is not None:
            reset |= {channel for channel, last_id in requested.items() if last_id is None}
        # `connected` carries the position the stream continues from, so a client that drops before the
        # replay ends resumes from there, not after it.
        self.last_ids = {
            channel: last if (last := requested[channel]) is not None and channel not in reset else current[channel]
            for channel in self.subscription.channels
        }
        user = self.subscription.user
        body = sse_encode_event(
            "connected",
            envelope("connected", {"user_id": user.pk, "tenant_id": user.tenant_id}),
            event_id=make_id(self.last_ids),
        )
        if reset:
            body += sse_encode_event("stream-reset", envelope("stream-reset", {}), event_id=make_id(self.last_ids))
        return body + self._render_stored(items)

    async def _recheck(self) -> str | None:
        """Re-authenticate and renew the stream's slot; the closing frame if the user may no longer listen."""
        try:
            still_valid = await run_db(self._still_valid)
        except DatabaseError as exc:
            return _unavailable(exc)
        if still_valid:
            return None
        return self._revoked()

    def _revoked(self) -> str:
        """The closing frame of a stream whose user may no longer listen (deactivated, token revoked, role changed)."""
        logger.info("Ending the event stream of user %s: no longer authorized", self.subscription.user.pk)
        return _stream_error("unauthorized", "Your access has been revoked or has changed; sign in again.")

    def _catch_up(self) -> None:
        """Re-read the log at the next turn: an event whose wake-up never came (its publisher died right after the
        commit, a message was lost) is sent within one re-check interval even if nothing else happens."""
        with get_listener_manager().lock:
            self.listener.overflow = True
            self.listener.aevent.set()

    def _still_valid(self) -> bool:
        if self.subscription.slot is not None:
            slots.renew(self.subscription.slot)
        if self.subscription.recheck is None:
            return True
        user = self.subscription.recheck()
        # A changed role or tenant changes what the user may read: the stream ends, a reconnect gets the new channels.
        return user is not None and tuple(sorted(channels_for_user(user))) == self.subscription.channels

    def _read(self, last_ids: dict[str, int | None], user: User):
        """Storage read through the library (`can_read_channel` re-checks `user`); the ids it leaves us at."""
        request = EventRequest()
        request.channels = set(last_ids)
        request.channel_last_ids = {channel: str(last) for channel, last in last_ids.items() if last is not None}
        request.is_next = request.is_recover = False
        request.user = user
        items, reset, current = [], set(), {}
        while True:
            response = get_events(request, user=user)
            reset |= response.channel_reset
            for channel in sorted(last_ids):
                found = response.channel_items.get(channel, [])
                items.extend(found)
                current[channel] = found[-1].id if found else int(response.channel_last_ids[channel])
                request.channel_last_ids[channel] = str(current[channel])
            if not response.channel_more:
                return items, reset, current

    def _render_stored(self, items) -> str:
        body = ""
        for item in items:
            if item.id > self.last_ids[item.channel]:
                self.last_ids[item.channel] = item.id
                body += self._frame(item)
        return body

    def _frame(self, item) -> str:
        """The SSE frame of `item`, which has just become this stream's last id on its channel."""
        if len(self.last_ids) > 1:
            return sse_encode_event(item.type, item.data, event_id=make_id(self.last_ids))
        # One channel: every stream of the channel sends the same bytes, so the frame is encoded once per event
        # (the listener registry hands the same Event object to all of them).
        frame = getattr(item, "sse_frame", None)
        if frame is None:
            frame = item.sse_frame = sse_encode_event(item.type, item.data, event_id=make_id({item.channel: item.id}))
        return frame

    async def _wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.listener.aevent.wait(), max(timeout, 0))
        except TimeoutError:
            return False
        return True

    async def _drain(self) -> tuple[str, bool]:
        """Send what was queued for us; re-read storage after a gap or an overflow. Returns (body, finished)."""
        manager = get_listener_manager()
        with manager.lock:
            queued, overflow, error = self.listener.channel_items, self.listener.overflow, self.listener.error
            self.listener.channel_items, self.listener.overflow = {}, False
            self.listener.aevent.clear()
            if self.listener.closing:
                return "", True
        body, missed = self._take_queued(queued)
        if error:
            return body + _stream_error(error["condition"], error["text"]), True
        if missed or overflow:
            reread, finished = await self._reread()
            return body + reread, finished
        return body, False

    def _take_queued(self, queued) -> tuple[str, bool]:
        """The frames of the queued events that follow our last ids, and whether one was missing before them."""
        body = ""
        for channel, items in queued.items():
            for item in items:
                if item.id <= self.last_ids[channel]:
                    continue  # already sent (read from storage while it was being queued)
                if item.id != self.last_ids[channel] + 1:
                    return body, True
                self.last_ids[channel] = item.id
                body += self._frame(item)
        return body, False

    async def _reread(self) -> tuple[str, bool]:
        """Catch up from storage after a gap or an overflow (as the user is now); (body, finished)."""
        try:
            user = await run_db(_active_user, self.subscription.user.pk)
            if user is None:  # deactivated since the last re-check: the same ending as the re-check's
                return self._revoked(), True
            items, reset, current = await run_db(self._read, dict(self.last_ids), user)
        except EventPermissionError as exc:
            return _stream_error("forbidden", str(exc)), True
        except DatabaseError as exc:
            return _unavailable(exc), True
        body = ""
        if reset:
            self.last_ids.update(current)
            body = sse_encode_event("stream-reset", envelope("stream-reset", {}), event_id=make_id(self.last_ids))
        return body + self._render_stored(items), False


def _active_user(pk: int) -> User | None:
    """Reloaded before every re-read so that `can_read_channel` judges the user as they are now."""
    return User.objects.filter(pk=pk, is_active=True).first()
