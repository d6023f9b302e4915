"""Idle resources do not grow with requests or streams (SPEC §15): a real ASGI server, a private Redis and PostgreSQL.

Before the shared pool (crm.redis_client) every ASGI request built its own Redis connection pool through Django's
per-context cache handler: 1,897 Redis connections for 1,882 requests, until the garbage collector ran.
"""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from crm.auth_rows import LISTENER_NAME_SUFFIX
from crm.tests.live import PrivateRedis, ServerProcess
from events.tests.conftest import token_for
from events.tests.sse import ThreadedStream

STREAM_APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]
WORKERS = 2
DB_POOL_MAX_SIZE = 4
CONCURRENCY = 8

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, available_apps=STREAM_APPS),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the server subprocess needs a shared PostgreSQL"),
    pytest.mark.skipif(PrivateRedis.binary is None, reason="redis-server is not installed"),
]


@pytest.fixture
def stack(django_db_setup):
    """Two workers on a private Redis (every client of it but our probe is the server's) and the test database."""
    private_redis = PrivateRedis()
    private_redis.start()
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    app_name = f"conn-e2e-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": private_redis.url,
        "SECRET_KEY": django_settings.SECRET_KEY,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EVENTS_MAX_STREAMS_PER_USER": "1000",
        "EVENTS_REDIS_CHANNEL_PREFIX": app_name,
        "DB_POOL_MAX_SIZE": str(DB_POOL_MAX_SIZE),
        "PGAPPNAME": app_name,
        "LOG_LEVEL": "WARNING",
    }
    server = ServerProcess(env, workers=WORKERS)
    probe = redis.Redis(port=private_redis.port, client_name="probe")
    server.redis_connections = lambda: sum(1 for client in probe.client_list() if client["name"] != "probe")
    server.app_name = app_name
    yield server
    server.stop()
    probe.close()
    private_redis.stop()


def _database_connections(app_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name])
        return cursor.fetchone()[0]


def _requests(server, token: str, count: int) -> None:
    """`count` calls, CONCURRENCY at a time on new connections: authenticated reads (JWT, throttles), /readyz (Redis
    probe) and failed logins (the login limits' counters in the cache; past the per-IP limit no password is hashed)."""

    def call(n: int) -> int:
        if n % 4 == 3:
            body = {"username": f"nobody-{n}", "password": "wrong-password"}
            response = httpx.post(f"{server.url}/api/auth/token", json=body, timeout=30)
            return 200 if response.status_code in (401, 429) else response.status_code
        path = ["/api/auth/me", "/api/leads", "/readyz"][n % 4]
        return httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        assert set(pool.map(call, range(count))) == {200}


def _streams(server, token: str, count: int) -> list[ThreadedStream]:
    streams = [
        ThreadedStream(f"{server.url}/api/events/stream", headers={"Authorization": f"Bearer {token}"})
        for _ in range(count)
    ]
    for stream in streams:
        assert stream.next().event == "connected"
    return streams


def test_redis_and_database_connections_stay_bounded_with_requests_and_streams(stack, owner):
    token = token_for(owner)
    streams = []
    try:
        _requests(stack, token, 60)
        streams += _streams(stack, token, 10)
        baseline = stack.redis_connections()

        _requests(stack, token, 300)
        streams += _streams(stack, token, 60)
        after = stack.redis_connections()

        # Per worker: the events subscriber, the publisher and the shared pool, which holds at most one connection per
        # request served at the same moment (8 here), whatever the number of requests served or streams open (70).
        bound = WORKERS * (2 + CONCURRENCY)
        assert baseline <= bound
        assert after <= bound, (baseline, after)
        assert _database_connections(stack.app_name) <= WORKERS * DB_POOL_MAX_SIZE
        # And per worker one LISTEN session of the token-row cache (crm.auth_rows).
        assert _database_connections(stack.app_name + LISTENER_NAME_SUFFIX) <= WORKERS
    finally:
        for stream in streams:
            stream.close()
