"""SPEC §15 at the stream: caps on open streams, the periodic re-check of the user, unparseable Last-Event-ID.

In-process (AsyncClient), with the caps counted in Redis when the suite runs with REDIS_URL and in memory otherwise.
The same rules against a real server with two workers are in test_limits_e2e.py.
"""

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.test import AsyncClient
from django_eventstream.views import get_listener_manager

from crm.redis_client import redis_client
from events import slots
from events.tests.conftest import emit, token_for
from events.tests.sse import END, AsyncStream

URL = "/api/events/stream"
STREAM_APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]
pytestmark = pytest.mark.django_db(transaction=True, available_apps=[*STREAM_APPS, "django.contrib.sessions"])
aemit = sync_to_async(emit)


def _clear_slots():
    slots.local_slots._held.clear()
    client = redis_client()
    if client is not None:
        keys = list(client.scan_iter(f"{django_settings.EVENTS_REDIS_CHANNEL_PREFIX}:streams:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(autouse=True, params=["redis", "memory"])
def slot_store(request, settings):
    """Every test runs with the caps in Redis (when the suite has REDIS_URL) and in this process's memory."""
    settings.EVENTSTREAM_REDIS = None  # events in memory; only the slots move
    if request.param == "memory":
        settings.REDIS_URL = None
    elif not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    _clear_slots()
    yield request.param
    _clear_slots()
    assert get_listener_manager().listeners_by_channel == {}, "a stream left its listener behind"


async def _get(token=None, *, client=None, headers=None, query=""):
    client = client or AsyncClient()
    request_headers = {"Accept": "text/event-stream", **(headers or {})}
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    return await client.get(URL + query, headers=request_headers)


async def _open(token=None, **kwargs) -> AsyncStream:
    response = await _get(token, **kwargs)
    assert response.status_code == 200, response.content
    stream = AsyncStream(response)
    assert (await stream.next()).event == "connected"
    return stream


def _assert_rate_limited(response, scope: str, cap: int):
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["error"] == "rate_limited"
    assert f"this {scope} (at most {cap})" in body["message"]
    assert int(response["Retry-After"]) > 0


async def test_streams_beyond_the_user_cap_are_429_and_a_closed_one_frees_its_slot(settings, owner, manager):
    settings.EVENTS_MAX_STREAMS_PER_USER = 2
    token = token_for(owner)
    streams = [await _open(token), await _open(token)]
    try:
        _assert_rate_limited(await _get(token), "user", 2)
        # A refused attempt holds nothing: refused again, and a colleague is not affected.
        _assert_rate_limited(await _get(token), "user", 2)
        colleague = await _open(token_for(manager))
        await colleague.close()

        await streams.pop().close()
        streams.append(await _open(token))
    finally:
        for stream in streams:
            await stream.close()


async def test_streams_beyond_the_tenant_cap_are_429_for_every_user_of_that_tenant_only(
    settings, owner, manager, other_manager, foreign_owner
):
    settings.EVENTS_MAX_STREAMS_PER_TENANT = 2
    streams = [await _open(token_for(owner)), await _open(token_for(manager))]
    try:
        _assert_rate_limited(await _get(token_for(other_manager)), "tenant", 2)
        foreign = await _open(token_for(foreign_owner))
        await foreign.close()
    finally:
        for stream in streams:
            await stream.close()


async def test_a_stream_refused_by_the_user_cap_takes_no_tenant_slot(settings, owner, manager):
    settings.EVENTS_MAX_STREAMS_PER_USER = 1
    settings.EVENTS_MAX_STREAMS_PER_TENANT = 2
    token = token_for(owner)
    stream = await _open(token)
    try:
        for _ in range(5):
            _assert_rate_limited(await _get(token), "user", 1)
        second = await _open(token_for(manager))  # the tenant's second and last slot
        await second.close()
    finally:
        await stream.close()


async def test_the_stream_is_not_rate_limited_per_request(settings, owner):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user": "1/min", "tenant": "1/min"}
    token = token_for(owner)
    for _ in range(3):
        stream = await _open(token)
        await stream.close()


@pytest.mark.parametrize(
    ("header", "query"),
    [
        ("tenant-1:" + "9" * 5000, ""),
        ("", "?lastEventId=" + "1" * 5000),
        ("", "?lastEventId=tenant-1%3A1%00"),
        ("garbage", ""),
        ("tenant-1:abc", ""),
        ("error", ""),
        ("tenant-1:99999999999999999999", ""),
        ("tenant-1:1," + "x" * 2000 + ":1", ""),
    ],
)
async def test_unparseable_last_event_id_is_400_and_opens_nothing(settings, owner, header, query):
    settings.EVENTS_MAX_STREAMS_PER_USER = 1
    token = token_for(owner)
    response = await _get(token, headers={"Last-Event-ID": header} if header else None, query=query)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "validation_error"
    assert get_listener_manager().listeners_by_channel == {}
    stream = await _open(token)  # the refused request took no slot
    await stream.close()


async def _deactivate(user):
    await sync_to_async(type(user).objects.filter(pk=user.pk).update)(is_active=False)


async def test_a_deactivated_users_stream_ends_at_the_next_recheck_and_gets_nothing_later(settings, manager):
    settings.EVENTS_USER_RECHECK_SECONDS = 0.2
    settings.EVENTS_MAX_STREAMS_PER_USER = 1
    stream = await _open(token_for(manager))
    try:
        await _deactivate(manager)

        error = await stream.next(timeout=5)
        assert error.event == "stream-error"
        assert error.json["data"]["error"] == "unauthorized"
        assert await stream.next() is END
        await aemit("lead_created", manager.tenant_id, 7, assignee_ids=[manager.pk])
        assert stream.frames.empty()
    finally:
        await stream.close()
    # The slot went with the stream.
    await sync_to_async(type(manager).objects.filter(pk=manager.pk).update)(is_active=True)
    again = await _open(token_for(manager))
    await again.close()


async def test_a_valid_users_stream_survives_rechecks_and_gets_events(settings, owner):
    settings.EVENTS_USER_RECHECK_SECONDS = 0.1
    stream = await _open(token_for(owner))
    try:
        for lead_id in (1, 2, 3):
            await aemit("lead_created", owner.tenant_id, lead_id)
            assert (await stream.next()).json["data"]["lead_id"] == lead_id
    finally:
        await stream.close()


async def test_a_role_change_ends_the_stream(settings, manager):
    """The token still names an active user, but their channels changed: the stream ends, a reconnect resubscribes."""
    settings.EVENTS_USER_RECHECK_SECONDS = 0.2
    stream = await _open(token_for(manager))
    try:
        await sync_to_async(type(manager).objects.filter(pk=manager.pk).update)(role="rop")
        error = await stream.next(timeout=5)
        assert error.json["data"]["error"] == "unauthorized"
        assert await stream.next() is END
    finally:
        await stream.close()


@pytest.mark.parametrize("change", [{"is_staff": False}, {"is_active": False}])
async def test_an_admin_session_stream_ends_when_the_user_is_no_longer_active_staff(settings, owner, change):
    settings.EVENTS_USER_RECHECK_SECONDS = 0.2
    staff_client = AsyncClient()
    await staff_client.aforce_login(owner)
    stream = await _open(client=staff_client)
    try:
        await sync_to_async(type(owner).objects.filter(pk=owner.pk).update)(**change)
        error = await stream.next(timeout=5)
        assert error.json["data"]["error"] == "unauthorized"
        assert await stream.next() is END
    finally:
        await stream.close()


async def test_an_admin_session_stream_ends_at_logout(settings, owner):
    settings.EVENTS_USER_RECHECK_SECONDS = 0.2
    staff_client = AsyncClient()
    await staff_client.aforce_login(owner)
    stream = await _open(client=staff_client)
    try:
        await staff_client.alogout()
        error = await stream.next(timeout=5)
        assert error.json["data"]["error"] == "unauthorized"
        assert await stream.next() is END
    finally:
        await stream.close()


async def test_a_password_change_ends_the_token_stream(settings, owner):
    """The token is revoked (crm.tokens) and the open stream learns it at its next re-check."""
    settings.EVENTS_USER_RECHECK_SECONDS = 0.2
    stream = await _open(token_for(owner))
    try:

        def change_password():
            owner.set_password("A-new-password-42")
            owner.save()

        await sync_to_async(change_password)()
        error = await stream.next(timeout=5)
        assert error.json["data"]["error"] == "unauthorized"
        assert await stream.next() is END
    finally:
        await stream.close()


async def test_with_redis_unreachable_the_caps_still_hold_in_this_process(settings, owner, caplog):
    reachable = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: refused at once
    settings.EVENTS_MAX_STREAMS_PER_USER = 1
    token = token_for(owner)
    try:
        stream = await _open(token)
        try:
            _assert_rate_limited(await _get(token), "user", 1)
            assert "Redis unavailable" in caplog.text
        finally:
            await stream.close()
        again = await _open(token)
        await again.close()
    finally:
        settings.REDIS_URL = reachable
