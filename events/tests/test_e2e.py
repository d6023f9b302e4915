"""End to end: `python -m crm.serve` (uvicorn) in a subprocess, read over HTTP with httpx, PostgreSQL and Redis.

Events are published by other processes: this test process (`lead_event_emit` with the server's Redis settings),
a `manage.py shell` subprocess, or the server itself through the leads API.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection

from crm.tests.factories import UserFactory
from crm.tests.live import ROOT, PrivateRedis, PushpinProcess, ServerProcess, wait_until
from events.tests.conftest import emit, token_for
from events.tests.sse import END, ThreadedStream

SHARED_REDIS_URL = os.environ.get("EVENTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
STREAM_APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, available_apps=STREAM_APPS),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the server subprocess needs a shared PostgreSQL"),
]


def _redis_available(url: str) -> bool:
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def server_env(django_db_setup):
    """The environment of a production-like server on the test database."""
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "SECRET_KEY": django_settings.SECRET_KEY,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EVENTS_PING_SECONDS": "1",
        "EVENTS_MAX_STREAMS_PER_USER": "1000",  # these tests open dozens of streams per user; the caps: test_limits_e2e
        "EVENTS_REDIS_CHANNEL_PREFIX": f"sse-e2e-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture(scope="session")
def redis_server(server_env):
    """Two workers sharing events through the shared Redis (db 5, a prefix of this run)."""
    if not _redis_available(SHARED_REDIS_URL):
        pytest.skip(f"no Redis at {SHARED_REDIS_URL}")
    server = ServerProcess({**server_env, "REDIS_URL": SHARED_REDIS_URL}, workers=2)
    yield server
    server.stop()


def publish_through(settings, server_env, redis_url: str) -> None:
    """Make `lead_event_emit` in this test process publish to the servers' Redis channel."""
    from redis.connection import parse_url

    settings.EVENTSTREAM_REDIS = {k: v for k, v in parse_url(redis_url).items() if k != "connection_class"}
    settings.EVENTS_REDIS_CHANNEL_PREFIX = server_env["EVENTS_REDIS_CHANNEL_PREFIX"]


def open_stream(server: ServerProcess, user, **kwargs) -> ThreadedStream:
    headers = {"Authorization": f"Bearer {kwargs.pop('token', None) or token_for(user)}", **kwargs.pop("headers", {})}
    stream = ThreadedStream(f"{server.url}/api/events/stream", headers=headers, **kwargs)
    assert stream.status == 200
    return stream


def lead_ids(frames) -> list[tuple[str, int]]:
    return [(frame.event, frame.json["data"]["lead_id"]) for frame in frames]


def test_events_reach_every_worker_from_a_separate_publisher_process(
    redis_server, server_env, owner, manager, other_manager, foreign_owner
):
    users = [owner, owner, owner, manager, other_manager, foreign_owner]
    streams = [open_stream(redis_server, user) for user in users]
    try:
        for stream, user in zip(streams, users, strict=True):
            connected = stream.next()
            assert connected.json == {"event": "connected", "data": {"user_id": user.pk, "tenant_id": user.tenant_id}}

        tenant_id, foreign_id = owner.tenant_id, foreign_owner.tenant_id
        script = (
            "from events.tests.conftest import emit\n"
            f"emit('lead_created', {tenant_id}, 101, [{manager.pk}])\n"
            f"emit('lead_updated', {tenant_id}, 101, [{other_manager.pk}, {manager.pk}])\n"
            f"emit('lead_created', {foreign_id}, 202, [])\n"
        )
        subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
            cwd=ROOT,
            env={**server_env, "REDIS_URL": SHARED_REDIS_URL},
            check=True,
            timeout=60,
        )

        for stream in streams[:3]:
            created, updated = stream.take(2)
            assert created.raw == (
                f"event: lead_created\nid: tenant-{tenant_id}:1\n"
                f'data: {{"event": "lead_created", "data": {{"lead_id": 101, "tenant_id": {tenant_id}}}}}\n\n'
            )
            assert (updated.event, updated.id) == ("lead_updated", f"tenant-{tenant_id}:2")
        assert lead_ids(streams[3].take(2)) == [("lead_created", 101), ("lead_updated", 101)]
        assert lead_ids(streams[4].take(1)) == [("lead_updated", 101)]
        assert lead_ids(streams[5].take(1)) == [("lead_created", 202)]
    finally:
        for stream in streams:
            stream.close()


def test_resume_with_last_event_id_on_any_worker(redis_server, server_env, settings, owner):
    publish_through(settings, server_env, SHARED_REDIS_URL)
    token = token_for(owner)
    stream = open_stream(redis_server, owner, token=token)
    stream.next()
    emit("lead_created", owner.tenant_id, 1)
    last_seen = stream.next()
    stream.close()

    emit("lead_updated", owner.tenant_id, 1)
    emit("lead_created", owner.tenant_id, 2)

    stream = open_stream(redis_server, owner, token=token, headers={"Last-Event-ID": last_seen.id})
    try:
        connected, *missed = stream.take(3)
        assert connected.id == last_seen.id
        assert [(f.event, f.position) for f in missed] == [("lead_updated", 2), ("lead_created", 3)]
        emit("lead_updated", owner.tenant_id, 2)
        assert stream.next().position == 4
    finally:
        stream.close()


def test_connect_race_under_load_every_event_exactly_once(redis_server, server_env, settings, owner):
    """Clients connect while events are being published: each gets every later event once, in order."""
    publish_through(settings, server_env, SHARED_REDIS_URL)
    total = 40
    published = threading.Event()

    def publisher():
        for number in range(total):
            emit("lead_updated", owner.tenant_id, number)
            time.sleep(0.01)
        published.set()

    thread = threading.Thread(target=publisher)
    thread.start()
    streams = []
    try:
        while not published.is_set():
            streams.append(open_stream(redis_server, owner))
        thread.join()
        assert len(streams) >= 5
        for stream in streams:
            start = stream.next().position
            received = [frame.position for frame in stream.take(total - start)] if start < total else []
            assert received == list(range(start + 1, total + 1))
    finally:
        thread.join()
        for stream in streams:
            stream.close()


@pytest.fixture
def private_redis():
    if PrivateRedis.binary is None:
        pytest.skip("redis-server is not installed")
    redis_process = PrivateRedis()
    redis_process.start()
    yield redis_process
    redis_process.stop()


def _readiness(server: ServerProcess) -> dict:
    return httpx.get(f"{server.url}/readyz", timeout=5).json()["checks"]


def test_redis_outage_nothing_lost_and_readyz_reports_the_subscriber(
    private_redis, server_env, settings, owner, caplog
):
    server = ServerProcess({**server_env, "REDIS_URL": private_redis.url}, workers=2)
    publish_through(settings, server_env, private_redis.url)
    streams = [open_stream(server, owner) for _ in range(4)]
    try:
        for stream in streams:
            stream.next()
        emit("lead_created", owner.tenant_id, 1)
        for stream in streams:
            assert stream.next().position == 1

        private_redis.stop()
        assert wait_until(lambda: _readiness(server).get("events_subscriber", "").startswith("error"), timeout=20)
        emit("lead_updated", owner.tenant_id, 1)  # stored; the publish fails and is only logged
        emit("lead_created", owner.tenant_id, 2)
        assert caplog.text.count("Could not publish") == 2
        private_redis.start()

        for stream in streams:
            assert lead_ids(stream.take(2, timeout=30)) == [("lead_updated", 1), ("lead_created", 2)]
        emit("lead_updated", owner.tenant_id, 2)
        for stream in streams:
            assert stream.next().position == 4
        assert wait_until(lambda: _readiness(server) == {"database": "ok", "redis": "ok", "events_subscriber": "ok"})
    finally:
        for stream in streams:
            stream.close()
        server.stop()


@pytest.fixture(scope="session")
def memory_server(server_env):
    """One worker, no Redis: the laptop mode. No connection pool, so every connection it holds is visible."""
    app_name = f"sse-e2e-{uuid.uuid4().hex[:8]}"
    server = ServerProcess({**server_env, "DB_POOL_MAX_SIZE": "0", "PGAPPNAME": app_name}, workers=1)
    server.app_name = app_name
    yield server
    server.stop()


def test_lead_created_through_the_api_reaches_the_stream(memory_server, owner, manager):
    owner_stream = open_stream(memory_server, owner)
    manager_stream = open_stream(memory_server, manager)
    try:
        owner_stream.next()
        manager_stream.next()

        response = httpx.post(
            f"{memory_server.url}/api/leads",
            json={"name": "Иван", "phone": "+79161234567", "assigned_to_user_id": manager.pk},
            headers={"Authorization": f"Bearer {token_for(owner)}"},
        )
        assert response.status_code == 201, response.text

        expected = {"event": "lead_created", "data": {"lead_id": response.json()["id"], "tenant_id": owner.tenant_id}}
        assert owner_stream.next().json == expected
        assert manager_stream.next().json == expected
    finally:
        owner_stream.close()
        manager_stream.close()


def test_stream_ends_when_the_token_expires(memory_server, owner):
    from datetime import timedelta

    stream = open_stream(memory_server, owner, token=token_for(owner, lifetime=timedelta(seconds=4)))
    try:
        assert stream.next().event == "connected"
        assert stream.next(timeout=15) is END
    finally:
        stream.close()


def test_idle_streams_hold_no_database_connection_and_no_thread(memory_server, owner, manager):
    users = [owner, manager]
    warm_up = [open_stream(memory_server, users[n % 2]) for n in range(4)]
    streams = []
    try:
        for stream in warm_up:
            stream.next()
        threads_before = memory_server.thread_count()

        streams = [open_stream(memory_server, users[n % 2]) for n in range(24)]
        for stream in streams:
            assert stream.next().event == "connected"
        threads_after = memory_server.thread_count()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [memory_server.app_name]
            )
            (held,) = cursor.fetchone()

        assert held == 0
        assert threads_after - threads_before <= 2
    finally:
        for stream in warm_up + streams:
            stream.close()


def test_sigterm_closes_open_streams(server_env, owner):
    server = ServerProcess(server_env, workers=1)
    streams = [open_stream(server, owner) for _ in range(3)]
    for stream in streams:
        stream.next()

    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=10)  # uvicorn's graceful shutdown (3 s in crm.serve) cuts the streams

    for stream in streams:
        assert stream.next(timeout=5) is END
        stream.close()
    server.stop()


def test_deactivated_manager_cannot_reconnect(memory_server, manager):
    token = token_for(manager)
    UserFactory._meta.model.objects.filter(pk=manager.pk).update(is_active=False)

    response = httpx.get(f"{memory_server.url}/api/events/stream", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.fixture
def pushpin_stack(server_env, tmp_path, settings, monkeypatch):
    """Pushpin in front of one worker, ready to hold streams; this process publishes to Pushpin like every server
    process would."""
    if PushpinProcess.binary is None:
        pytest.skip("pushpin is not installed (apt-get install pushpin)")
    import django_grip

    pushpin = PushpinProcess(tmp_path)
    server = ServerProcess(
        {**server_env, "GRIP_URL": pushpin.grip_url}, workers=1, log_path=str(tmp_path / "server.log")
    )
    pushpin.start(server.port)
    prober = UserFactory()
    pushpin.wait_until_holding("/api/events/stream", {"Authorization": f"Bearer {token_for(prober)}"})
    settings.GRIP_URL = pushpin.grip_url
    monkeypatch.setattr(django_grip, "_pubcontrol", None)  # django_grip reads GRIP_URL once, at import
    yield pushpin
    pushpin.stop()
    server.stop()


def test_through_pushpin_events_ping_isolation_and_token_expiry(pushpin_stack, owner, manager):
    from datetime import timedelta

    owner_stream = ThreadedStream(
        f"{pushpin_stack.url}/api/events/stream", headers={"Authorization": f"Bearer {token_for(owner)}"}
    )
    manager_stream = ThreadedStream(
        f"{pushpin_stack.url}/api/events/stream",
        params={"access_token": token_for(manager, lifetime=timedelta(seconds=4))},
    )
    try:
        assert owner_stream.status == manager_stream.status == 200
        connected = owner_stream.next()
        assert connected.raw == (
            f"event: connected\nid: tenant-{owner.tenant_id}:0\n"
            f'data: {{"event": "connected", "data": {{"user_id": {owner.pk}, "tenant_id": {owner.tenant_id}}}}}\n\n'
        )
        assert manager_stream.next().event == "connected"
        ping = owner_stream.next(skip_pings=False)
        assert ping.raw == 'event: ping\ndata: {"event": "ping", "data": {}}\n\n'

        emit("lead_created", owner.tenant_id, 1, [])
        emit("lead_created", owner.tenant_id, 2, [manager.pk])

        created = owner_stream.take(2)
        assert [(f.event, f.id, f.json["data"]["lead_id"]) for f in created] == [
            ("lead_created", f"tenant-{owner.tenant_id}:1", 1),
            ("lead_created", f"tenant-{owner.tenant_id}:2", 2),
        ]
        assert lead_ids(manager_stream.take(1)) == [("lead_created", 2)]
        assert manager_stream.next(timeout=15) is END  # its token expired; Pushpin closed the stream
    finally:
        owner_stream.close()
        manager_stream.close()


def test_post_deploy_check_site_webhook_lead_reaches_the_stream(redis_server, owner):
    """Seed 000, post-deploy item 5: a stream open with Bearer; a lead from the site webhook → `lead_created`."""
    stream = open_stream(redis_server, owner)
    try:
        stream.next()
        response = httpx.post(
            f"{redis_server.url}/api/webhooks/site/{owner.tenant.webhook_key}",
            json={"name": "Анна", "phone": "+79161234567", "message": "Перезвоните"},
        )
        assert response.status_code == 201, response.text

        frame = stream.next()
        assert frame.event == "lead_created"
        assert frame.json == {
            "event": "lead_created",
            "data": {"lead_id": response.json()["lead_id"], "tenant_id": owner.tenant_id},
        }
    finally:
        stream.close()
