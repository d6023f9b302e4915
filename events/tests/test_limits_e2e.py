"""Stream caps and the user re-check against real servers (`python -m crm.serve`), with the slots in a private Redis.

Two workers share the caps; a server killed with SIGKILL leaves its slots behind, and they expire on their own.
"""

import os
import signal
import uuid

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection

from crm.tests.factories import UserFactory
from crm.tests.live import PrivateRedis, ServerProcess, wait_until
from events.tests.conftest import token_for
from events.tests.sse import END, ThreadedStream

STREAM_APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]
USER_CAP = 3

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, available_apps=STREAM_APPS),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the server subprocess needs a shared PostgreSQL"),
    pytest.mark.skipif(PrivateRedis.binary is None, reason="redis-server is not installed"),
]


@pytest.fixture(scope="module")
def redis_process():
    process = PrivateRedis()
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def limits_env(django_db_setup, redis_process):
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis_process.url,
        "SECRET_KEY": django_settings.SECRET_KEY,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EVENTS_PING_SECONDS": "1",
        "EVENTS_USER_RECHECK_SECONDS": "1",
        "EVENTS_MAX_STREAMS_PER_USER": str(USER_CAP),
        "EVENTS_REDIS_CHANNEL_PREFIX": f"limits-e2e-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def two_workers(limits_env):
    server = ServerProcess(limits_env, workers=2)
    yield server
    server.stop()


def _open(server, user, token=None) -> ThreadedStream:
    headers = {"Authorization": f"Bearer {token or token_for(user)}"}
    return ThreadedStream(f"{server.url}/api/events/stream", headers=headers)


def _try_open(server, token) -> httpx.Response:
    """A connection attempt that is refused, or else closed at once (its slot is released)."""
    with httpx.stream(
        "GET", f"{server.url}/api/events/stream", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as response:
        if response.status_code != 200:
            response.read()
        return response


def _assert_user_cap(response):
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert f"(at most {USER_CAP})" in response.json()["message"]
    assert int(response.headers["Retry-After"]) > 0


def test_the_user_cap_holds_across_two_workers_and_a_closed_stream_frees_its_slot(two_workers, owner, manager):
    token = token_for(owner)
    streams = [_open(two_workers, owner, token) for _ in range(USER_CAP)]
    try:
        for stream in streams:
            assert stream.status == 200
            assert stream.next().event == "connected"
        for _ in range(4):  # whichever worker takes the attempt
            _assert_user_cap(_try_open(two_workers, token))
        assert _try_open(two_workers, token_for(manager)).status_code == 200

        streams.pop().close()
        assert wait_until(lambda: _try_open(two_workers, token).status_code == 200, timeout=10)
    finally:
        for stream in streams:
            stream.close()


def test_a_deactivated_users_open_stream_ends_within_the_recheck_interval(two_workers, manager):
    stream = _open(two_workers, manager)
    try:
        assert stream.next().event == "connected"
        UserFactory._meta.model.objects.filter(pk=manager.pk).update(is_active=False)

        error = stream.next(timeout=10)
        assert error.event == "stream-error"
        assert error.json["data"]["error"] == "unauthorized"
        assert stream.next(timeout=5) is END
    finally:
        stream.close()


def test_slots_of_a_killed_server_expire_on_their_own(limits_env, owner):
    token = token_for(owner)
    server = ServerProcess(limits_env, workers=1)
    streams = [_open(server, owner, token) for _ in range(USER_CAP)]
    for stream in streams:
        assert stream.next().event == "connected"
    server.stop(signal.SIGKILL)
    for stream in streams:
        stream.close()

    replacement = ServerProcess(limits_env, workers=1)
    try:
        # The dead process never released its slots: they still count, in Redis, for the new one...
        _assert_user_cap(_try_open(replacement, token))
        # ...until three missed renewals (3 × 1 s + 5 s) have passed.
        assert wait_until(lambda: _try_open(replacement, token).status_code == 200, timeout=30, interval=0.5)
    finally:
        replacement.stop()


def test_a_server_shutting_down_releases_its_slots(limits_env, owner):
    token = token_for(owner)
    server = ServerProcess(limits_env, workers=1)
    streams = [_open(server, owner, token) for _ in range(USER_CAP)]
    for stream in streams:
        assert stream.next().event == "connected"
    server.stop(signal.SIGTERM)  # uvicorn's graceful shutdown ends the streams
    for stream in streams:
        stream.close()

    replacement = ServerProcess(limits_env, workers=1)
    try:
        for _ in range(USER_CAP):
            assert _try_open(replacement, token).status_code == 200  # no slot left behind, no expiry to wait for
    finally:
        replacement.stop()
