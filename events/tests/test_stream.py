"""The stream in-process (Django's AsyncClient driving the async view), events delivered in-memory.

End-to-end runs against a real uvicorn, with Redis and several processes, are in test_e2e.py.
"""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, transaction
from django.test import AsyncClient
from django.utils import timezone
from django_eventstream.models import Event
from django_eventstream.views import get_listener_manager

from crm.tests.factories import UserFactory
from events.jobs import trim_event_log
from events.services import lead_event_emit
from events.stream import EventStream
from events.subscriber import resync_listeners
from events.tests.conftest import emit, token_for
from events.tests.sse import END, AsyncStream

URL = "/api/events/stream"
# Flushing only these apps' tables after each test keeps the transactional tests fast.
STREAM_APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]
pytestmark = pytest.mark.django_db(transaction=True, available_apps=[*STREAM_APPS, "django.contrib.sessions"])
aemit = sync_to_async(emit)


@pytest.fixture(autouse=True)
def in_memory_delivery(settings):
    """These tests are the single-process mode (no Redis), whatever REDIS_URL the suite runs with."""
    settings.EVENTSTREAM_REDIS = None
    yield
    assert get_listener_manager().listeners_by_channel == {}, "a stream left its listener behind"


async def open_stream(token: str | None = None, *, headers=None, query: str = "", client=None) -> AsyncStream:
    client = client or AsyncClient()
    request_headers = {"Accept": "text/event-stream", **(headers or {})}
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    response = await client.get(URL + query, headers=request_headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    return AsyncStream(response)


async def test_connected_then_lead_events_exactly_as_the_seed(owner):
    stream = await open_stream(token_for(owner))
    try:
        connected = await stream.next()
        assert connected.raw == (
            f"event: connected\nid: tenant-{owner.tenant_id}:0\n"
            f'data: {{"event": "connected", "data": {{"user_id": {owner.pk}, "tenant_id": {owner.tenant_id}}}}}\n\n'
        )

        await aemit("lead_created", owner.tenant_id, 123)
        await aemit("lead_updated", owner.tenant_id, 123)

        created, updated = await stream.take(2)
        assert created.raw == (
            f"event: lead_created\nid: tenant-{owner.tenant_id}:1\n"
            f'data: {{"event": "lead_created", "data": {{"lead_id": 123, "tenant_id": {owner.tenant_id}}}}}\n\n'
        )
        assert updated.raw == (
            f"event: lead_updated\nid: tenant-{owner.tenant_id}:2\n"
            f'data: {{"event": "lead_updated", "data": {{"lead_id": 123, "tenant_id": {owner.tenant_id}}}}}\n\n'
        )
    finally:
        await stream.close()


async def test_ping_after_silence_and_no_library_events(owner, settings):
    settings.EVENTS_PING_SECONDS = 0.2
    stream = await open_stream(token_for(owner))
    try:
        frames = [await stream.next(skip_pings=False) for _ in range(3)]
    finally:
        await stream.close()

    assert [frame.event for frame in frames] == ["connected", "ping", "ping"]
    assert frames[1].raw == 'event: ping\ndata: {"event": "ping", "data": {}}\n\n'


async def test_query_string_token_for_browsers(manager):
    stream = await open_stream(query=f"?access_token={token_for(manager)}")
    try:
        connected = await stream.next()
    finally:
        await stream.close()

    assert connected.json == {"event": "connected", "data": {"user_id": manager.pk, "tenant_id": manager.tenant_id}}
    assert connected.id == f"tenant-{manager.tenant_id}-user-{manager.pk}:0"


async def test_admin_session_of_whoever_the_backoffice_lets_in(owner, manager):
    # Staff read their tenant's channel, a manager (in the back-office since SPEC §15) only their own: the live board.
    for user, channel in (
        (owner, f"tenant-{owner.tenant_id}"),
        (manager, f"tenant-{manager.tenant_id}-user-{manager.pk}"),
    ):
        session_client = AsyncClient()
        await session_client.aforce_login(user)
        stream = await open_stream(client=session_client)
        try:
            connected = await stream.next()
        finally:
            await stream.close()
        assert connected.event == "connected"
        assert connected.id == f"{channel}:0"

    # A tenant-less superuser has no tenant stream.
    superuser = await sync_to_async(UserFactory)(tenant=None, role="owner", is_staff=True, is_superuser=True)
    session_client = AsyncClient()
    await session_client.aforce_login(superuser)
    response = await session_client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


async def test_tenant_and_role_isolation(owner, manager, other_manager, foreign_owner):
    streams = {
        "owner": await open_stream(token_for(owner)),
        "manager": await open_stream(token_for(manager)),
        "other_manager": await open_stream(token_for(other_manager)),
        "foreign_owner": await open_stream(token_for(foreign_owner)),
    }
    tenant_id, foreign_tenant_id = owner.tenant_id, foreign_owner.tenant_id
    try:
        for stream in streams.values():
            assert (await stream.next()).event == "connected"

        await aemit("lead_created", tenant_id, 1, [manager.pk])
        await aemit("lead_created", tenant_id, 2, [None])
        # Reassigned from manager to other_manager: both hear of it, the loser for the last time.
        await aemit("lead_updated", tenant_id, 1, [other_manager.pk, manager.pk])
        await aemit("lead_updated", foreign_tenant_id, 3, [])

        def seen(frames):
            return [(f.event, f.json["data"]["lead_id"], f.json["data"]["tenant_id"]) for f in frames]

        assert seen(await streams["owner"].take(3)) == [
            ("lead_created", 1, tenant_id),
            ("lead_created", 2, tenant_id),
            ("lead_updated", 1, tenant_id),
        ]
        assert seen(await streams["manager"].take(2)) == [
            ("lead_created", 1, tenant_id),
            ("lead_updated", 1, tenant_id),
        ]
        assert seen(await streams["other_manager"].take(1)) == [("lead_updated", 1, tenant_id)]
        assert seen(await streams["foreign_owner"].take(1)) == [("lead_updated", 3, foreign_tenant_id)]

        # Nothing else was queued for anyone: a last event per channel comes next.
        await aemit("lead_updated", tenant_id, 9, [manager.pk, other_manager.pk])
        await aemit("lead_updated", foreign_tenant_id, 9, [])
        for stream in streams.values():
            assert (await stream.next()).json["data"]["lead_id"] == 9
    finally:
        for stream in streams.values():
            await stream.close()


async def test_client_cannot_widen_its_channels(manager, owner):
    tenant_channel = f"tenant-{owner.tenant_id}"
    stream = await open_stream(
        token_for(manager),
        query=f"?channel={tenant_channel}&channels={tenant_channel}",
        headers={"Last-Event-ID": f"{tenant_channel}:0"},
    )
    try:
        connected = await stream.next()
        # The foreign channel's id is ignored: the manager's own channel could not be resumed, so a reset.
        assert connected.id == f"tenant-{owner.tenant_id}-user-{manager.pk}:0"
        assert (await stream.next()).event == "stream-reset"
        await aemit("lead_created", owner.tenant_id, 1, [])
        await aemit("lead_created", owner.tenant_id, 2, [manager.pk])
        assert (await stream.next()).json["data"]["lead_id"] == 2
    finally:
        await stream.close()


async def test_replay_after_disconnect(owner):
    token = token_for(owner)
    stream = await open_stream(token)
    await stream.next()
    await aemit("lead_created", owner.tenant_id, 1)
    last_seen = await stream.next()
    await stream.close()

    await aemit("lead_updated", owner.tenant_id, 1)
    await aemit("lead_created", owner.tenant_id, 2)

    for resume in ({"headers": {"Last-Event-ID": last_seen.id}}, {"query": f"?lastEventId={last_seen.id}"}):
        stream = await open_stream(token, **resume)
        try:
            connected, *missed = await stream.take(3)
            assert connected.event == "connected"
            assert connected.id == last_seen.id  # the position the replay starts from
            assert [(f.event, f.json["data"]["lead_id"], f.position) for f in missed] == [
                ("lead_updated", 1, 2),
                ("lead_created", 2, 3),
            ]
            await aemit("lead_updated", owner.tenant_id, 3)
            assert (await stream.next()).position == 4
        finally:
            await stream.close()


async def test_stream_reset_when_the_id_is_older_than_storage(owner):
    token = token_for(owner)
    channel = f"tenant-{owner.tenant_id}"
    await aemit("lead_created", owner.tenant_id, 1)
    await aemit("lead_created", owner.tenant_id, 2)
    # Events 0..2 fall out of the 24 h window and are trimmed by the scheduled job.
    await sync_to_async(Event.objects.filter(channel=channel).update)(created=timezone.now() - timedelta(hours=25))
    await aemit("lead_created", owner.tenant_id, 3)
    await sync_to_async(trim_event_log.call_local)()

    stream = await open_stream(token, headers={"Last-Event-ID": f"{channel}:1"})
    try:
        connected, reset = await stream.take(2)
        assert connected.id == f"{channel}:3"
        assert reset.raw == f'event: stream-reset\nid: {channel}:3\ndata: {{"event": "stream-reset", "data": {{}}}}\n\n'
        await aemit("lead_created", owner.tenant_id, 4)
        assert (await stream.next()).position == 4
    finally:
        await stream.close()


@pytest.mark.parametrize("last_event_id", ["tenant-999:5", "tenant-1-user-1:0"])
async def test_well_formed_id_of_another_channel_resets(owner, last_event_id):
    stream = await open_stream(token_for(owner), headers={"Last-Event-ID": last_event_id})
    try:
        assert [frame.event for frame in await stream.take(2)] == ["connected", "stream-reset"]
    finally:
        await stream.close()


async def test_rolled_back_transaction_emits_nothing(owner):
    stream = await open_stream(token_for(owner))

    def emit_then_fail():
        with transaction.atomic():
            lead_event_emit(event_type="lead_created", tenant_id=owner.tenant_id, lead_id=666)
            raise RuntimeError("the domain write failed")

    try:
        await stream.next()
        with pytest.raises(RuntimeError):
            await sync_to_async(emit_then_fail)()
        await aemit("lead_created", owner.tenant_id, 1)

        frame = await stream.next()
        assert frame.json["data"]["lead_id"] == 1
        assert frame.position == 1
        assert not await sync_to_async(Event.objects.filter(data__contains="666").exists)()
    finally:
        await stream.close()


@pytest.mark.parametrize("publish", ["before_read", "after_read"])
async def test_event_published_while_connecting_is_delivered_exactly_once(owner, monkeypatch, publish):
    """The race of SSE-NOTES §5: an event lands between registering the listener and the first storage read."""
    real_read = EventStream._read

    def racing_read(self, last_ids, user):
        monkeypatch.setattr(EventStream, "_read", real_read)
        if publish == "before_read":
            emit("lead_created", owner.tenant_id, 1)
        result = real_read(self, last_ids, user)
        if publish == "after_read":
            emit("lead_created", owner.tenant_id, 1)
        return result

    await aemit("lead_created", owner.tenant_id, 0)
    monkeypatch.setattr(EventStream, "_read", racing_read)
    stream = await open_stream(token_for(owner), headers={"Last-Event-ID": f"tenant-{owner.tenant_id}:0"})
    try:
        frames = await stream.take(3)
        await aemit("lead_updated", owner.tenant_id, 2)
        frames.append(await stream.next())
    finally:
        await stream.close()

    assert [(f.event, f.position) for f in frames] == [
        ("connected", 0),
        ("lead_created", 1),  # the one stored before connecting: replayed
        ("lead_created", 2),  # the racing one: once
        ("lead_updated", 3),
    ]


async def test_fresh_connection_racing_event_delivered_exactly_once(owner, monkeypatch):
    real_read = EventStream._read

    def racing_read(self, last_ids, user):
        monkeypatch.setattr(EventStream, "_read", real_read)
        result = real_read(self, last_ids, user)
        emit("lead_created", owner.tenant_id, 1)
        return result

    monkeypatch.setattr(EventStream, "_read", racing_read)
    stream = await open_stream(token_for(owner))
    try:
        frames = await stream.take(2)
        await aemit("lead_updated", owner.tenant_id, 2)
        frames.append(await stream.next())
    finally:
        await stream.close()

    assert [(f.event, f.position) for f in frames] == [("connected", 0), ("lead_created", 1), ("lead_updated", 2)]


async def test_overflowing_listener_catches_up_from_storage(owner):
    stream = await open_stream(token_for(owner))
    try:
        await stream.next()
        # More than the library's 10 pending events per listener arrive before the stream drains them.
        await sync_to_async(lambda: [emit("lead_updated", owner.tenant_id, n) for n in range(25)])()
        frames = await stream.take(25)
    finally:
        await stream.close()

    assert [f.position for f in frames] == list(range(1, 26))
    assert [f.json["data"]["lead_id"] for f in frames] == list(range(25))


async def test_listeners_removed_after_disconnect(owner, manager):
    streams = [await open_stream(token_for(user)) for user in (owner, owner, manager)]
    for stream in streams:
        await stream.next()
    manager_listeners = get_listener_manager().listeners_by_channel
    assert {channel: len(listeners) for channel, listeners in manager_listeners.items()} == {
        f"tenant-{owner.tenant_id}": 2,
        f"tenant-{owner.tenant_id}-user-{manager.pk}": 1,
    }

    for stream in streams:
        await stream.close()

    assert get_listener_manager().listeners_by_channel == {}


async def test_stream_ends_when_the_token_expires(owner):
    # Long enough to be still valid when the request is authenticated on a busy machine.
    stream = await open_stream(token_for(owner, lifetime=timedelta(seconds=3)))
    try:
        assert (await stream.next()).event == "connected"
        assert await stream.next(timeout=10) is END
    finally:
        await stream.close()


async def test_deactivated_user_is_cut_off_at_the_next_storage_read(manager):
    """With the ending the re-check gives (README: a last `stream-error` `unauthorized` once access is revoked):
    which of the two notices the deactivation first is a race, and the client must not see a difference."""
    stream = await open_stream(token_for(manager))
    try:
        await stream.next()
        await sync_to_async(type(manager).objects.filter(pk=manager.pk).update)(is_active=False)
        resync_listeners()

        error = await stream.next()
        assert error.event == "stream-error"
        assert error.id is None
        assert error.json["data"]["error"] == "unauthorized"
        assert await stream.next() is END
    finally:
        await stream.close()


async def test_unreadable_event_store_ends_the_stream_for_a_resume(owner, monkeypatch):
    """The 200 is already sent when storage fails: a `stream-error` without id, then the end (the client resumes)."""

    def failing_read(self, last_ids, user):
        raise OperationalError("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(EventStream, "_read", failing_read)
    stream = await open_stream(token_for(owner))
    try:
        error = await stream.next()
        assert (error.event, error.id) == ("stream-error", None)
        assert error.json["data"]["error"] == "service_unavailable"
        assert await stream.next() is END
    finally:
        await stream.close()
