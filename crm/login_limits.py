"""Failed-login limits (SPEC §15), the one place both login paths (`/api/auth/token`, `/admin/login/`) go through.

At most LOGIN_MAX_FAILURES_PER_ACCOUNT failed attempts per account and LOGIN_MAX_FAILURES_PER_IP per client IP
within LOGIN_FAILURE_WINDOW_SECONDS; beyond, every attempt is refused before any password is checked (so the right
password does not help and a refused attempt costs no hashing) until the window that began with the first failure
has passed. Counters live in the Django cache (Redis when REDIS_URL is set), so the limits hold across processes.

Each attempt reserves one unit of its account budget, then of its IP budget (an INCR each, so parallel guesses
cannot overshoot); a refused attempt gives back what it reserved, so a refusal by one limit never spends another, and
a successful login gives both back: only failures count.

An account is the user a login string names (so its username and email share one budget), else the lowercased
string itself, so unknown usernames are limited too. The client IP is REMOTE_ADDR unless TRUSTED_PROXY_COUNT says
how many reverse proxies append to X-Forwarded-For; IPv6 clients are counted per /64 (one host holds a whole /64).
"""

import contextlib
import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache

from crm.backends import user_for_login
from crm.errors import ApplicationError
from crm.models import User

logger = logging.getLogger("crm.login_limits")


class LoginLimited(ApplicationError):
    code, status = "rate_limited", 429

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"Too many failed login attempts; try again in {retry_after} seconds.")


@dataclass(frozen=True)
class _Budget:
    key: str
    limit: int


def authenticate_limited(request, *, login: str, password: str) -> User | None:
    """`authenticate()` within the failure limits: the user, None for a failed attempt, or LoginLimited."""
    budgets = _budgets(request, login)
    try:
        reserved = _reserve(budgets)
    except LoginLimited:
        raise
    except Exception:  # noqa: BLE001 - a cache outage must not lock everybody out: fail open, like the throttles
        logger.warning("Login-limit cache unavailable; login limits not applied", exc_info=True)
        reserved = []
    user = authenticate(request, username=login, password=password)
    if user is not None:
        _give_back(reserved)
    return user


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote


def _budgets(request, login: str) -> list[_Budget]:
    user = user_for_login(login)
    account = f"user:{user.pk}" if user is not None else f"login:{login.lower()}"
    budgets = [_Budget(_key("account", account), settings.LOGIN_MAX_FAILURES_PER_ACCOUNT)]
    if request is not None:
        budgets.append(_Budget(_key("ip", _ip_block(client_ip(request))), settings.LOGIN_MAX_FAILURES_PER_IP))
    return budgets


def _ip_block(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _key(scope: str, ident: str) -> str:
    # Hashed: login strings are user input of any length and alphabet.
    return f"login-failures:{scope}:{hashlib.sha256(ident.encode()).hexdigest()}"


def _reserve(budgets: list[_Budget]) -> list[str]:
    reserved: list[str] = []
    for budget in budgets:
        since = _window_start(budget.key)
        counter = f"{budget.key}:{since!r}"
        if _increment(counter) > budget.limit:
            _give_back([*reserved, counter])
            raise LoginLimited(max(1, math.ceil(since + settings.LOGIN_FAILURE_WINDOW_SECONDS - time.time())))
        reserved.append(counter)
    return reserved


def _window_start(key: str) -> float:
    """When the budget's current window began: at its first attempt, renewed once it has passed.

    Judged by the clock here rather than by the cache's expiry, which only cleans up (the window is what counts).
    """
    now = time.time()
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    since = cache.get(f"{key}:since")
    if since is None or since + window <= now:
        if since is None and cache.add(f"{key}:since", now, timeout=window):
            return now
        # Stale (or set by a parallel first attempt): renew a stale one; two parallel renewals cost one extra try.
        since = cache.get(f"{key}:since")
        if since is None or since + window <= now:
            since = now
            cache.set(f"{key}:since", since, timeout=window)
    return since


def _increment(counter: str) -> int:
    timeout = settings.LOGIN_FAILURE_WINDOW_SECONDS
    if cache.add(counter, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.add(counter, 1, timeout=timeout)
        return 1


def _give_back(keys: list[str]) -> None:
    for key in keys:
        with contextlib.suppress(ValueError):  # the window ended meanwhile: nothing left to give back
            cache.decr(key)
