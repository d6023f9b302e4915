"""Request rate limits: per user then per tenant for the API, per key for webhooks (fixed windows).

With REDIS_URL the counters live in Redis, so the limits hold across processes: one Lua script checks every window of
a request and counts it in all of them only if none is full, in one round trip on the process-wide client
(crm.redis_client). Without Redis the same rule runs under a lock on the local-memory cache.

Checking all windows before counting any is what keeps one user from locking out the whole tenant: a request refused
by the user's window is not counted against the tenant's (DRF would run every throttle class and count each).

Each throttle records its state on the request; `RateLimitHeadersMiddleware` turns the tightest one into
`RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` headers, and a refusal is a 429 `rate_limited`
with `Retry-After` (crm.api.exceptions).
"""

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from redis import Redis
from redis.commands.core import Script
from rest_framework.throttling import BaseThrottle

from crm.redis_client import redis_client

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
logger = logging.getLogger("crm.throttling")

# KEYS: one counter per window; ARGV: limit, ttl per window. Returns 0 and the new counts, or the 1-based index of
# the first full window and the current counts (nothing counted).
_HIT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = tonumber(redis.call('GET', key) or '0')
end
for i = 1, #KEYS do
    if counts[i] >= tonumber(ARGV[2 * i - 1]) then
        return {i, unpack(counts)}
    end
end
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCR', key)
    if counts[i] == 1 then
        redis.call('EXPIRE', key, tonumber(ARGV[2 * i]))
    end
end
return {0, unpack(counts)}
"""
_local_lock = threading.Lock()


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int


@dataclass(frozen=True)
class Window:
    key: str
    limit: int
    reset_seconds: int


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'600/min' → (600, 60); None or '' means unlimited. A malformed rate is a configuration error."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    try:
        return int(count), _PERIODS[period.strip()[0]]
    except (ValueError, KeyError, IndexError) as exc:
        raise ImproperlyConfigured(f"A rate must look like 600/min, got {rate!r}.") from exc


def record_rate_limit_state(request, state: RateLimitState) -> None:
    django_request = getattr(request, "_request", request)
    current = getattr(django_request, "rate_limit_state", None)
    if current is None or state.remaining < current.remaining:
        django_request.rate_limit_state = state


def window_for(scope: str, ident: str, rate: tuple[int, int], now: float) -> Window:
    limit, duration = rate
    number = int(now // duration)
    reset = max(1, math.ceil((number + 1) * duration - now))
    return Window(f"throttle:{scope}:{ident}:{number}", limit, reset)


def hit(windows: list[Window]) -> tuple[Window | None, list[int]]:
    """Count one request in every window, unless one is full: (the full window or None, the counts)."""
    client = redis_client()
    if client is not None:
        args = [value for window in windows for value in (window.limit, window.reset_seconds + 1)]
        refused, *counts = _hit_script(client)(keys=[window.key for window in windows], args=args)
        return (windows[refused - 1] if refused else None), counts
    with _local_lock:
        counts = [cache.get(window.key, 0) for window in windows]
        for window, count in zip(windows, counts, strict=True):
            if count >= window.limit:
                return window, counts
        counts = [count + 1 for count in counts]
        for window, count in zip(windows, counts, strict=True):
            cache.set(window.key, count, window.reset_seconds + 1)
        return None, counts


@functools.cache  # one per shared client (crm.redis_client keeps one per URL)
def _hit_script(client: Redis) -> Script:
    return client.register_script(_HIT_SCRIPT)  # EVALSHA, loading the script once per Redis server


class FixedWindowThrottle(BaseThrottle):
    """Subclasses name (scope, ident) pairs in the order they are checked; a refusal counts in none of them."""

    def get_scopes(self, request, view) -> list[tuple[str, str | None]]:
        raise NotImplementedError

    def allow_request(self, request, view):
        now = time.time()
        windows = []
        for scope, ident in self.get_scopes(request, view):
            rate = parse_rate(settings.THROTTLE_RATES.get(scope))
            if rate is not None and ident is not None:
                windows.append(window_for(scope, ident, rate, now))
        if not windows:
            return True
        try:
            refused, counts = hit(windows)
        except Exception:  # noqa: BLE001 - a Redis outage must not take the API down: fail open
            logger.warning("Rate-limit store unavailable; limits not applied", exc_info=True)
            return True
        for window, count in zip(windows, counts, strict=True):
            record_rate_limit_state(
                request, RateLimitState(window.limit, max(0, window.limit - count), window.reset_seconds)
            )
        if refused is not None:
            self.reset_seconds = refused.reset_seconds
            return False
        return True

    def wait(self):
        return self.reset_seconds


class UserThenTenantRateThrottle(FixedWindowThrottle):
    """The API's default: the user's window first, then the tenant's, shared by all its users."""

    def get_scopes(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return []
        return [("user", str(user.pk)), ("tenant", str(user.tenant_id) if user.tenant_id else None)]


class WebhookKeyRateThrottle(FixedWindowThrottle):
    """Webhooks carry no user: the tenant's webhook key in the URL is the identity."""

    def get_scopes(self, request, view):
        return [("webhook", view.kwargs.get("webhook_key"))]


class RateLimitHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        state = getattr(request, "rate_limit_state", None)
        if state is not None:
            response["RateLimit-Limit"] = str(state.limit)
            response["RateLimit-Remaining"] = str(state.remaining)
            response["RateLimit-Reset"] = str(state.reset_seconds)
        return response
