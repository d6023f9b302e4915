"""Contracts of the third-party internals our code relies on: an upgrade that changes one fails here, naming the
module of ours that depends on it, before it breaks that module at run time.

Each test drives the real library object (a listener made and queued through django-eventstream's own manager, a
thread-sensitive call through asgiref, a uvicorn Config) and inspects real signatures; none reads our code. Django's
`_meta`, `_default_manager` and `_base_manager` are documented API, so they have no case here.
"""

import asyncio
import inspect
import socket
import threading
from concurrent.futures import Executor
from contextlib import contextmanager
from contextvars import ContextVar

import jwt
import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django import forms
from django.conf import settings
from django.http import QueryDict
from django.test import RequestFactory
from django_eventstream import storage as eventstream_storage
from django_eventstream import views as eventstream_views
from django_eventstream.event import Event
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventresponse import EventResponse
from django_eventstream.eventstream import get_events
from django_eventstream.models import Event as EventRow
from django_eventstream.models import EventCounter
from django_eventstream.utils import add_default_headers, make_id, publish_event, sse_encode_event
from django_grip import GripData
from rest_framework.request import Request
from uvicorn.config import Config
from uvicorn.main import run as uvicorn_run
from uvicorn.server import Server

from crm.models import Tenant

STREAM = "events/stream.py (EventStream._drain, _catch_up, end_all_streams, StreamListener)"
SUBSCRIBER = "events/subscriber.py (resync_listeners, RedisSubscriber._listen)"
GRIP = "events/grip.py (grip_response, continuation_expired)"
BROKER = "events/broker.py (publish)"
STREAM_VIEW = "events/api/views.py (the stream view's headers)"
APPS = "events/apps.py (EventsConfig.ready)"
STORAGE = "events/storage.py (EventStorage, append_pending, the numbering trigger of events/migrations/0001)"
RELEASE = "events/stream.py (_release_request_thread)"
CONFTEST = "conftest.py (_close_the_async_tests_orm_connection)"
SERVE = "crm/serve.py (_bind_tcp_socket replaces uvicorn's Config.bind_socket)"
ASGI = "crm/asgi.py (_end_streams_before_uvicorn_shuts_down wraps uvicorn's Server.shutdown)"
DRF_REQUEST = "crm/api/parsers.py, crm/api/views.py, crm/api/throttling.py and events/grip.py (request._request)"
REFUSALS = "crm/admin_refusals.py (RefusedForm._post_clean)"


@contextmanager
def contract(library: str, what: str, ours: str):
    """Any failure inside (a false assertion, a missing attribute, a changed signature) names what broke and who
    depends on it."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - whatever the upgrade broke, say where it hurts
        pytest.fail(
            f"{library} changed {what}, relied on by {ours}: adapt that code (or pin the old version) before upgrading."
            f"\n{type(exc).__name__}: {exc}"
        )


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


# django-eventstream: the listener registry (events/stream.py, events/subscriber.py, events/grip.py)


def test_a_new_listener_has_an_empty_queue_no_overflow_and_no_error():
    what = "a new Listener (channel_items {}, overflow False, error '', user_id, channels, aevent)"
    with contract("django-eventstream", what, f"{STREAM} and {SUBSCRIBER}"):
        listener = eventstream_views.Listener()
        assert listener.channel_items == {}
        assert listener.overflow is False
        assert listener.error == ""
        assert listener.channels == set()
        assert listener.user_id == ""
        assert isinstance(listener.aevent, asyncio.Event)
    with contract("django-eventstream", "Listener.assign_loop() / wake_threadsafe()", f"{STREAM} and {SUBSCRIBER}"):
        assert _parameters(listener.assign_loop) == []
        assert _parameters(listener.wake_threadsafe) == []


@pytest.fixture
async def registered_listener():
    """A library Listener on this test's loop, registered through the process-wide manager our streams use."""
    manager = eventstream_views.get_listener_manager()
    listener = eventstream_views.Listener()
    listener.user_id = "contract-user"
    listener.channels = {"contract-a", "contract-b"}
    listener.assign_loop()
    manager.add_listener(listener)
    yield manager, listener
    if listener in manager.listeners_by_channel.get("contract-a", set()):
        manager.remove_listener(listener)


async def test_the_manager_indexes_listeners_by_channel_under_its_lock(registered_listener):
    manager, listener = registered_listener
    what = "get_listener_manager().listeners_by_channel (channel → set of listeners, gone with the last) or .lock"
    with contract("django-eventstream", what, f"{STREAM}, {SUBSCRIBER} and the streams' leak checks in the tests"):
        assert isinstance(manager.listeners_by_channel, dict)
        assert manager.listeners_by_channel["contract-a"] == {listener}
        assert manager.listeners_by_channel["contract-b"] == {listener}
        with manager.lock:  # how our code reads and resets listeners
            pass
        manager.remove_listener(listener)
        assert "contract-a" not in manager.listeners_by_channel


async def test_a_queued_event_lands_in_channel_items_and_wakes_the_listener(registered_listener):
    manager, listener = registered_listener
    event = Event("contract-a", "lead_created", {"id": 1}, id=1)
    what = "add_to_queues (the event goes to listener.channel_items[channel] and sets listener.aevent)"
    with contract("django-eventstream", what, f"{STREAM} and {SUBSCRIBER}"):
        manager.add_to_queues("contract-a", event)
        assert listener.channel_items == {"contract-a": [event]}
        await asyncio.wait_for(listener.aevent.wait(), 1)  # woken through wake_threadsafe on the listener's loop
        assert listener.overflow is False


async def test_a_full_queue_sets_overflow_instead_of_queueing(registered_listener):
    manager, listener = registered_listener
    what = "the queue limit (past MAX_PENDING events a listener gets overflow = True, the rest is dropped)"
    with contract("django-eventstream", what, f"{STREAM} (re-reads storage on overflow)"):
        pending = eventstream_views.MAX_PENDING
        events = [Event("contract-a", "lead_updated", {"n": n}, id=n) for n in range(1, pending + 2)]
        for event in events:
            manager.add_to_queues("contract-a", event)
        assert listener.channel_items["contract-a"] == events[:pending]
        assert listener.overflow is True


async def test_a_kick_sets_error_with_condition_and_text(registered_listener):
    manager, listener = registered_listener
    with contract("django-eventstream", "kick() (listener.error: a dict with 'condition' and 'text')", STREAM):
        manager.kick("contract-user", "contract-b")
        assert listener.error["condition"] == "forbidden"
        assert "contract-b" in listener.error["text"]


async def test_the_manager_starts_whatever_redis_listener_holds_on_the_first_listener():
    """events/apps.py sets `redis_listener = None` to keep the library's own Redis listener from starting."""
    started = asyncio.Event()

    class Standin:
        async def start(self):
            started.set()

    with contract("django-eventstream", "how ListenerManager starts its redis_listener", APPS):
        manager = eventstream_views.ListenerManager()
        manager.redis_listener = Standin()
        listener = eventstream_views.Listener()
        listener.channels = {"contract-redis"}
        listener.assign_loop()
        manager.add_listener(listener)
        try:
            await asyncio.wait_for(started.wait(), 1)
        finally:
            manager.remove_listener(listener)


# django-eventstream: reading storage and the GRIP response (events/stream.py, events/grip.py, events/broker.py)


def test_get_events_takes_a_bare_event_request_and_a_user():
    what = "EventRequest() / get_events(request, user=) (reads channels, channel_last_ids, is_next, is_recover)"
    with contract("django-eventstream", what, f"{STREAM} and {GRIP}"):
        request = EventRequest()
        request.channels = set()
        request.channel_last_ids = {}
        request.is_next = True
        request.is_recover = False
        response = get_events(request, user=None)
        assert isinstance(response, EventResponse)
        assert response.is_next is True


def test_an_event_response_carries_items_last_ids_resets_and_more():
    what = "EventResponse (channel_items, channel_last_ids, channel_reset, channel_more, to_grip_response)"
    with contract("django-eventstream", what, f"{STREAM} and {GRIP}"):
        response = EventResponse()
        assert response.channel_items == {}
        assert response.channel_last_ids == {}
        assert response.channel_reset == set()
        assert response.channel_more == set()
        assert _parameters(response.to_grip_response) == ["http_request"]


def test_the_event_the_id_and_the_frame_helpers_keep_their_signatures():
    with contract("django-eventstream", "Event(channel, type, data, id=)", f"{BROKER}, {STORAGE} and {STREAM}"):
        event = Event("contract-a", "lead_created", {"id": 1}, id=7)
        assert (event.channel, event.type, event.data, event.id) == ("contract-a", "lead_created", {"id": 1}, 7)
    with contract("django-eventstream", "make_id(ids), sse_encode_event(event_type, data, event_id=)", STREAM):
        assert _parameters(make_id) == ["ids"]
        assert _parameters(sse_encode_event)[:3] == ["event_type", "data", "event_id"]
    with contract("django-eventstream", "add_default_headers(headers, request)", STREAM_VIEW):
        assert _parameters(add_default_headers) == ["headers", "request"]
    what = "publish_event(channel, event_type, data, pub_id, pub_prev_id, **publish_kwargs) (we pass blocking=)"
    with contract("django-eventstream", what, BROKER):
        parameters = inspect.signature(publish_event).parameters
        assert list(parameters)[:5] == ["channel", "event_type", "data", "pub_id", "pub_prev_id"]
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def test_a_grip_response_links_next_with_an_es_meta_token_signed_with_the_secret_key():
    """events/grip.py re-signs the next link's `es-meta` with a shorter `exp` (the client's token lifetime)."""
    http_request = RequestFactory().get("/api/events/stream")
    http_request.grip = GripData()
    response = EventResponse()
    response.channel_items = {"contract-a": []}
    response.channel_last_ids = {"contract-a": "0"}
    what = "to_grip_response's next link (an `es-meta` HS256 JWT of SECRET_KEY with `exp`) or django-grip's instruct"
    with contract("django-eventstream / django-grip", what, GRIP):
        response.to_grip_response(http_request)
        instruct = http_request.grip.instruct
        path, _, query = instruct.next_link.partition("?")
        meta = jwt.decode(QueryDict(query)["es-meta"], settings.SECRET_KEY, algorithms=["HS256"])
        assert path == "/api/events/stream"
        assert isinstance(meta["exp"], int)
        instruct.set_next_link(instruct.next_link, timeout=5)
        assert instruct.next_link_timeout == 5
        instruct.set_keep_alive("ping", 20)
        assert (http_request.grip.proxied, http_request.grip.last) == (False, {})


# django-eventstream: the storage class and the event table our outbox writes (events/storage.py)


def test_the_model_storage_appends_through_trim_event_log_and_reads_by_channel():
    what = "DjangoModelStorage (append_event, get_events, get_current_id; the append trims via trim_event_log)"
    with contract("django-eventstream", what, STORAGE):
        base = eventstream_storage.DjangoModelStorage
        assert _parameters(base.append_event) == ["self", "channel", "event_type", "data"]
        assert _parameters(base.get_events)[:3] == ["self", "channel", "last_id"]
        assert _parameters(base.get_current_id) == ["self", "channel"]
        assert "self.trim_event_log()" in inspect.getsource(base.append_event)
        assert isinstance(eventstream_storage.EVENT_TIMEOUT, int)  # minutes


def test_the_event_table_has_the_columns_our_sql_writes():
    what = "the Event table (id, channel, type, data, eid, created; unique channel + eid) or EventCounter"
    with contract("django-eventstream", what, STORAGE):
        assert {field.column for field in EventRow._meta.concrete_fields} == {
            "id",
            "channel",
            "type",
            "data",
            "eid",
            "created",
        }
        assert ("channel", "eid") in EventRow._meta.unique_together
        assert {"name", "value"} <= {field.column for field in EventCounter._meta.concrete_fields}


# asgiref (events/stream.py, conftest.py)


async def test_a_thread_sensitive_context_keeps_its_executor_where_we_pop_it():
    what = "SyncToAsync.thread_sensitive_context / context_to_thread_executor (popped by a stream, then replaced)"
    with contract("asgiref", what, RELEASE):
        assert isinstance(SyncToAsync.thread_sensitive_context, ContextVar)
        async with ThreadSensitiveContext():
            first = await sync_to_async(threading.current_thread, thread_sensitive=True)()
            context = SyncToAsync.thread_sensitive_context.get(None)
            executor = SyncToAsync.context_to_thread_executor.pop(context, None)
            assert isinstance(executor, Executor)
            assert executor.submit(threading.current_thread).result() is first
            executor.shutdown(wait=False)
            # What the stream's context does after that: a thread-sensitive call starts a new executor.
            second = await sync_to_async(threading.current_thread, thread_sensitive=True)()
            assert second is not first


async def test_thread_sensitive_calls_outside_a_context_run_on_the_single_thread_executor():
    what = "SyncToAsync.single_thread_executor (where an async test's thread-sensitive calls run)"
    with contract("asgiref", what, CONFTEST):
        executor = SyncToAsync.single_thread_executor
        assert isinstance(executor, Executor)
        ran_on = await sync_to_async(threading.current_thread, thread_sensitive=True)()
        assert executor.submit(threading.current_thread).result() is ran_on


# uvicorn (crm/serve.py, crm/asgi.py)


def test_config_bind_socket_is_a_method_of_the_config_alone_and_run_calls_it():
    what = "Config.bind_socket(self) -> socket (called by uvicorn.run for --workers; reads host, port, workers)"
    with contract("uvicorn", what, SERVE):
        assert _parameters(Config.bind_socket) == ["self"]
        assert inspect.signature(Config.bind_socket).return_annotation in (socket.socket, "socket.socket")
        assert "config.bind_socket()" in inspect.getsource(uvicorn_run)
        config = Config(app="crm.asgi:application", host="::1", port=0, workers=2, log_config=None)
        assert (config.host, config.port, config.workers) == ("::1", 0, 2)


def test_server_shutdown_is_a_coroutine_taking_the_sockets():
    with contract("uvicorn", "Server.shutdown(self, sockets=None), a coroutine", ASGI):
        assert inspect.iscoroutinefunction(Server.shutdown)
        parameters = inspect.signature(Server.shutdown).parameters
        assert list(parameters) == ["self", "sockets"]
        assert parameters["sockets"].default is None


# Django REST framework and Django forms


def test_a_drf_request_keeps_the_django_request_as_underscore_request():
    with contract("djangorestframework", "Request._request (the wrapped HttpRequest)", DRF_REQUEST):
        django_request = RequestFactory().get("/")
        assert Request(django_request)._request is django_request


def test_a_model_form_runs_post_clean_during_validation():
    calls = []

    class TenantNameForm(forms.ModelForm):
        class Meta:
            model = Tenant
            fields = ["name"]

        def _post_clean(self):
            calls.append(self.cleaned_data.get("name"))

    with contract("Django", "BaseModelForm._post_clean (run by full_clean after the fields are clean)", REFUSALS):
        assert TenantNameForm(data={"name": "Acme"}).is_valid()
        assert calls == ["Acme"]
