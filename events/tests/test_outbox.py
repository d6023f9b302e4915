"""The event log is written with the change (SPEC §14): an event exists if and only if its change committed.

PostgreSQL only: the positions are given by the commit trigger (events.storage), and the killed publisher is a real
process sharing the test database.
"""

import json
import os
import random
import subprocess
import sys
import threading

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test import AsyncClient
from django_eventstream.models import Event
from django_eventstream.views import get_listener_manager

from crm.tests.live import ROOT
from events.services import lead_event_emit
from events.storage import EventStorage
from events.tests.conftest import emit, token_for
from events.tests.sse import AsyncStream
from pipelines.models import Lead
from pipelines.services.leads import lead_create

STREAM_APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]
pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=[*STREAM_APPS, "django.contrib.sessions"]),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the commit trigger and the subprocess need PostgreSQL"
    ),
]


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def in_memory_delivery(settings):
    settings.EVENTSTREAM_REDIS = None
    yield
    assert get_listener_manager().listeners_by_channel == {}, "a stream left its listener behind"


def log(channel: str) -> list[tuple[int, str, int]]:
    """(position, type, lead id) of the channel's events, as a stream replays them from the start."""
    return [(e.id, e.type, json.loads(e.data)["data"]["lead_id"]) for e in EventStorage().get_events(channel, 0)]


def test_a_rolled_back_change_stores_no_event_and_takes_no_position(owner):
    channel = f"tenant-{owner.tenant_id}"

    def change_then_fail():
        with transaction.atomic():
            lead_create(tenant=owner.tenant, acting_user=owner, name="Rolled back")
            raise Boom

    with pytest.raises(Boom):
        change_then_fail()

    assert not Lead.objects.filter(name="Rolled back").exists()
    assert not Event.objects.filter(channel=channel).exists()
    emit("lead_created", owner.tenant_id, 5)
    assert log(channel) == [(1, "lead_created", 5)]  # no gap where the rolled-back event was


def test_an_event_committed_later_with_an_earlier_insert_is_numbered_after_and_never_skipped(owner):
    """The slow transaction inserts first and commits last: it gets the later position, so a reader that has
    already seen position 1 reads it next. The fast writer is not blocked by the open transaction's event."""
    channel = f"tenant-{owner.tenant_id}"
    inserted, release = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                lead_event_emit(event_type="lead_created", tenant_id=owner.tenant_id, lead_id=1)
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert inserted.wait(10)
        emit("lead_updated", owner.tenant_id, 2)  # would wait for the slow writer if the counter were locked at insert
        assert log(channel) == [(1, "lead_updated", 2)]
    finally:
        release.set()
        thread.join()

    assert [(e.id, e.type) for e in EventStorage().get_events(channel, 1)] == [(2, "lead_created")]
    assert log(channel) == [(1, "lead_updated", 2), (2, "lead_created", 1)]


def test_under_concurrent_writers_the_log_holds_exactly_the_committed_changes_without_gaps(owner, manager):
    """Eight writers, some rolling back: the tenant channel numbers exactly the committed events 1..n, and the
    manager's channel gets its copies in the same relative order."""
    committed, lock = [], threading.Lock()
    barrier = threading.Barrier(8)

    def writer(number):
        barrier.wait()
        try:
            for index in range(6):
                lead_id = number * 100 + index
                try:
                    with transaction.atomic():
                        lead_event_emit(
                            event_type="lead_updated",
                            tenant_id=owner.tenant_id,
                            lead_id=lead_id,
                            assignee_ids=[manager.pk],
                        )
                        if random.random() < 0.3:  # noqa: S311 - test data
                            raise Boom
                        with lock:
                            committed.append(lead_id)
                except Boom:
                    pass
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    tenant_log = log(f"tenant-{owner.tenant_id}")
    manager_log = log(f"tenant-{owner.tenant_id}-user-{manager.pk}")
    assert sorted(lead_id for _, _, lead_id in tenant_log) == sorted(committed)
    assert [position for position, _, _ in tenant_log] == list(range(1, len(committed) + 1))
    assert [lead_id for _, _, lead_id in manager_log] == [lead_id for _, _, lead_id in tenant_log]
    assert [position for position, _, _ in manager_log] == list(range(1, len(committed) + 1))


KILLED_AFTER_COMMIT = """
import os, signal
from django.db import transaction
from crm.models import Tenant, User
from pipelines.services.leads import lead_create

with transaction.atomic():
    # Registered before the service's own hooks, so it runs first after the commit: nothing is published.
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
    lead_create(tenant=Tenant.objects.get(pk={tenant_id}), acting_user=User.objects.get(pk={user_id}), name="Killed")
"""


def commit_a_lead_and_get_killed(user) -> Lead:
    """A lead created through the service in another process, SIGKILLed right after its commit."""
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": "",
    }
    script = KILLED_AFTER_COMMIT.format(tenant_id=user.tenant_id, user_id=user.pk)
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", script], cwd=ROOT, env=env, timeout=60, check=False
    )
    assert result.returncode == -9  # killed, not exited: no on-commit hook after ours ran
    return Lead.objects.get(name="Killed")


async def open_stream(user, last_event_id: str | None = None) -> AsyncStream:
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {await sync_to_async(token_for)(user)}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    response = await AsyncClient().get("/api/events/stream", headers=headers)
    assert response.status_code == 200, response.content
    return AsyncStream(response)


async def test_a_process_killed_right_after_commit_still_has_its_event_replayed(owner):
    lead = await sync_to_async(commit_a_lead_and_get_killed)(owner)

    stream = await open_stream(owner, last_event_id=f"tenant-{owner.tenant_id}:0")
    try:
        connected, created = await stream.take(2)
        assert connected.event == "connected"
        assert created.raw == (
            f"event: lead_created\nid: tenant-{owner.tenant_id}:1\n"
            f'data: {{"event": "lead_created", "data": {{"lead_id": {lead.pk}, "tenant_id": {owner.tenant_id}}}}}\n\n'
        )
    finally:
        await stream.close()


async def test_an_open_stream_catches_up_an_event_whose_wake_up_never_came(owner, settings):
    """The publisher died before publishing: the open stream reads the log at its next re-check."""
    settings.EVENTS_USER_RECHECK_SECONDS = 0.2
    stream = await open_stream(owner)
    try:
        assert (await stream.next()).event == "connected"
        lead = await sync_to_async(commit_a_lead_and_get_killed)(owner)

        created = await stream.next(timeout=5)
        assert (created.event, created.id) == ("lead_created", f"tenant-{owner.tenant_id}:1")
        assert json.loads(created.data)["data"]["lead_id"] == lead.pk
    finally:
        await stream.close()
