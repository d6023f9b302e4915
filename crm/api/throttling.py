"""Request rate limits: per user and per tenant for the API, per key for webhooks (fixed windows in the cache).

The cache is Redis when REDIS_URL is set, so the limits hold across processes. A fixed-window counter costs one
INCR per request and scope, where DRF's sliding-window throttle rewrites a list of every timestamp in the window.
Each throttle records its state on the request; `RateLimitHeadersMiddleware` turns the tightest one into
`RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` headers, and a refusal is a 429 `rate_limited`
with `Retry-After` (crm.api.exceptions).
"""

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
logger = logging.getLogger("crm.throttling")


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'600/min' → (600, 60); None or '' means unlimited."""
    if not rate:
        return None
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0]]


def record_rate_limit_state(request, state: RateLimitState) -> None:
    django_request = getattr(request, "_request", request)
    current = getattr(django_request, "rate_limit_state", None)
    if current is None or state.remaining < current.remaining:
        django_request.rate_limit_state = state


class FixedWindowThrottle(BaseThrottle):
    scope = ""

    def get_ident(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view):
        rate = parse_rate(settings.THROTTLE_RATES.get(self.scope))
        ident = self.get_ident(request, view)
        if rate is None or ident is None:
            return True
        limit, duration = rate
        now = time.time()
        window = int(now // duration)
        try:
            count = _increment(f"throttle:{self.scope}:{ident}:{window}", timeout=duration + 1)
        except Exception:  # noqa: BLE001 - a cache outage must not take the API down: fail open
            logger.warning("Rate-limit cache unavailable; %s limit not applied", self.scope, exc_info=True)
            return True
        self.reset_seconds = max(1, math.ceil((window + 1) * duration - now))
        record_rate_limit_state(request, RateLimitState(limit, max(0, limit - count), self.reset_seconds))
        return count <= limit

    def wait(self):
        return self.reset_seconds


def _increment(key: str, *, timeout: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:
        if cache.add(key, 1, timeout):
            return 1
        return cache.incr(key)


class UserRateThrottle(FixedWindowThrottle):
    scope = "user"

    def get_ident(self, request, view):
        user = request.user
        return str(user.pk) if user and user.is_authenticated else None


class TenantRateThrottle(FixedWindowThrottle):
    scope = "tenant"

    def get_ident(self, request, view):
        user = request.user
        return str(user.tenant_id) if user and user.is_authenticated and user.tenant_id else None


class WebhookKeyRateThrottle(FixedWindowThrottle):
    """Webhooks carry no user: the tenant's webhook key in the URL is the identity."""

    scope = "webhook"

    def get_ident(self, request, view):
        return view.kwargs.get("webhook_key")


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
