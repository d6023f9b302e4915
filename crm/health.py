"""Liveness and readiness probes (SPEC §10)."""

from typing import cast

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils.module_loading import import_string


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Database, and Redis and the events subscriber when configured; 503 naming what is down."""
    checks = {"database": _check_database()}
    for name, path in settings.READINESS_CHECKS.items():
        checks[name] = import_string(path)()
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported, not raised
        return f"error: {exc.__class__.__name__}"
    return "ok"


def check_redis() -> str:
    import redis

    from crm.redis_client import redis_client

    try:
        # The shared pool: a probe every few seconds must not open a connection each time. This check is registered
        # only when REDIS_URL is set, so there is a client.
        cast(redis.Redis, redis_client()).ping()
    except redis.RedisError as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"
