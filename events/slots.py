"""Caps on open event streams, per user and per tenant (`EVENTS_MAX_STREAMS_PER_USER`, `…_PER_TENANT`).

Each open stream holds a slot in its user's set and its tenant's set. With REDIS_URL the sets are Redis sorted sets
(member: the slot id, score: when it expires), so the caps hold across every worker and host; one Lua script drops
expired slots, checks both caps and takes both slots in one round trip. Without Redis the same rule runs in this
process's memory.

A stream renews its slot at every user re-check (`EVENTS_USER_RECHECK_SECONDS`) and releases it when it ends. Slots
of a process that dies without releasing them (SIGKILL, OOM) expire after `slot_ttl()`, three missed renewals.
"""

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from redis import Redis

from crm.redis_client import redis_client

logger = logging.getLogger(__name__)

# KEYS: user set, tenant set. ARGV: now, expiry, slot id, user cap, tenant cap, key ttl.
# Returns 0 (taken), 1 (user cap reached) or 2 (tenant cap reached).
_ACQUIRE_SCRIPT = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then
        return i
    end
end
for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, ARGV[2], ARGV[3])
    redis.call('EXPIRE', key, ARGV[6])
end
return 0
"""
# KEYS: user set, tenant set. ARGV: expiry, slot id, key ttl. Renews only a slot still held (XX).
_RENEW_SCRIPT = """
for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, 'XX', ARGV[1], ARGV[2])
    redis.call('EXPIRE', key, ARGV[3])
end
return 0
"""


class StreamCapReached(Exception):
    def __init__(self, scope: str, cap: int):
        self.scope, self.cap = scope, cap
        super().__init__(f"Too many open event streams for this {scope} (at most {cap}); close one and retry.")


@dataclass(frozen=True)
class Slot:
    id: str
    keys: tuple[str, str]
    redis: bool


def slot_ttl() -> int:
    return 3 * max(1, int(settings.EVENTS_USER_RECHECK_SECONDS)) + 5


def _keys(user_id: int, tenant_id: int) -> tuple[str, str]:
    # Namespaced like the pub/sub channel, so deployments sharing a Redis never share caps.
    prefix = f"{settings.EVENTS_REDIS_CHANNEL_PREFIX}:streams"
    return f"{prefix}:user:{user_id}", f"{prefix}:tenant:{tenant_id}"


class _LocalSlots:
    """The in-process registry: key → {slot id: expiry}."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held: dict[str, dict[str, float]] = {}

    def acquire(self, keys, slot_id: str, caps, now: float, expiry: float) -> int:
        with self._lock:
            for index, (key, cap) in enumerate(zip(keys, caps, strict=True), start=1):
                held = self._held.setdefault(key, {})
                for expired in [sid for sid, until in held.items() if until <= now]:
                    del held[expired]
                if len(held) >= cap:
                    return index
            for key in keys:
                self._held[key][slot_id] = expiry
            return 0

    def renew(self, keys, slot_id: str, expiry: float) -> None:
        with self._lock:
            for key in keys:
                if slot_id in self._held.get(key, {}):
                    self._held[key][slot_id] = expiry

    def release(self, keys, slot_id: str) -> None:
        with self._lock:
            for key in keys:
                held = self._held.get(key, {})
                held.pop(slot_id, None)
                if not held:
                    self._held.pop(key, None)


local_slots = _LocalSlots()


def acquire(user_id: int, tenant_id: int) -> Slot:
    """Take a slot for a new stream of this user, or raise StreamCapReached (the user's cap is checked first)."""
    keys = _keys(user_id, tenant_id)
    caps = (settings.EVENTS_MAX_STREAMS_PER_USER, settings.EVENTS_MAX_STREAMS_PER_TENANT)
    slot_id = uuid.uuid4().hex
    now = time.time()
    expiry = now + slot_ttl()
    client = redis_client()
    refused, use_redis = None, client is not None
    if client is not None:
        try:
            script = client.register_script(_ACQUIRE_SCRIPT)
            refused = script(keys=list(keys), args=[now, expiry, slot_id, *caps, slot_ttl()])
        except Exception:  # noqa: BLE001 - Redis down: the caps still hold per process
            logger.warning("Stream caps: Redis unavailable, counting in this process only", exc_info=True)
            use_redis = False
    if not use_redis:
        refused = local_slots.acquire(keys, slot_id, caps, now, expiry)
    if refused:
        scope = ("user", "tenant")[refused - 1]
        raise StreamCapReached(scope, caps[refused - 1])
    return Slot(slot_id, keys, use_redis)


def renew(slot: Slot) -> None:
    expiry = time.time() + slot_ttl()
    if not slot.redis:
        local_slots.renew(slot.keys, slot.id, expiry)
        return
    try:
        client = cast(Redis, redis_client())  # a slot in Redis: REDIS_URL is set
        client.register_script(_RENEW_SCRIPT)(keys=list(slot.keys), args=[expiry, slot.id, slot_ttl()])
    except Exception:  # noqa: BLE001 - the slot expires by itself; the stream goes on
        logger.warning("Stream caps: could not renew a slot", exc_info=True)


def release(slot: Slot) -> None:
    if not slot.redis:
        local_slots.release(slot.keys, slot.id)
        return
    try:
        client = cast(Redis, redis_client())  # a slot in Redis: REDIS_URL is set
        with client.pipeline(transaction=False) as pipe:
            for key in slot.keys:
                pipe.zrem(key, slot.id)
            pipe.execute()
    except Exception:  # noqa: BLE001 - the slot expires by itself
        logger.warning("Stream caps: could not release a slot", exc_info=True)
