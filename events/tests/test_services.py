"""`lead_event_emit`: what is stored, for whom, and that delivery problems never reach the caller."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django_eventstream.models import Event
from django_eventstream.storage import DjangoModelStorage
from django_eventstream.utils import get_storage

from crm.tests.factories import UserFactory
from events.tests.conftest import emit

STREAM_APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]
pytestmark = pytest.mark.django_db(transaction=True, available_apps=STREAM_APPS)


def stored() -> list[tuple[str, str, int, str]]:
    """(channel, type, id, the `data:` line) of every stored event (the library stores that line JSON-encoded)."""
    rows = Event.objects.exclude(eid=0).order_by("channel", "eid").values_list("channel", "type", "eid", "data")
    return [(channel, kind, eid, json.loads(data)) for channel, kind, eid, data in rows]


def test_event_is_stored_for_the_tenant_and_each_concerned_manager(settings, owner, manager, other_manager):
    settings.EVENTSTREAM_REDIS = None
    tid = owner.tenant_id

    emit("lead_updated", tid, 7, [other_manager.pk, manager.pk])

    data = f'{{"event": "lead_updated", "data": {{"lead_id": 7, "tenant_id": {tid}}}}}'
    assert stored() == sorted(
        [
            (f"tenant-{tid}", "lead_updated", 1, data),
            (f"tenant-{tid}-user-{manager.pk}", "lead_updated", 1, data),
            (f"tenant-{tid}-user-{other_manager.pk}", "lead_updated", 1, data),
        ]
    )


def test_only_managers_of_the_lead_tenant_get_a_personal_copy(settings, owner, rop, foreign_owner):
    settings.EVENTSTREAM_REDIS = None
    foreign_manager = UserFactory(tenant=foreign_owner.tenant, role="manager")

    emit("lead_created", owner.tenant_id, 1, [rop.pk, foreign_manager.pk, None])

    assert [row[0] for row in stored()] == [f"tenant-{owner.tenant_id}"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_concurrent_first_events_on_new_channels_are_all_stored(settings, owner):
    """Publishers racing to create a channel's counter: the library recovers only outside a transaction."""
    settings.EVENTSTREAM_REDIS = None
    managers = [UserFactory(tenant=owner.tenant, role="manager") for _ in range(3)]
    barrier = threading.Barrier(6)

    def publisher(number):
        barrier.wait()
        emit("lead_created", owner.tenant_id, number, [managers[number % 3].pk])
        connection.close()

    threads = [threading.Thread(target=publisher, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    rows = stored()
    assert len([row for row in rows if row[0] == f"tenant-{owner.tenant_id}"]) == 6
    assert sorted(row[2] for row in rows if row[0] == f"tenant-{owner.tenant_id}") == [1, 2, 3, 4, 5, 6]
    assert len(rows) == 12


def test_a_channel_numbers_its_events_from_one_after_the_placeholder_replay_starts_from(settings):
    storage = get_storage()

    first = storage.append_event("tenant-77", "lead_created", {"lead_id": 1})
    second = storage.append_event("tenant-77", "lead_updated", {"lead_id": 1})

    assert (first.id, second.id) == (1, 2)
    rows = Event.objects.filter(channel="tenant-77").order_by("eid").values_list("eid", "type")
    assert list(rows) == [(0, ""), (1, "lead_created"), (2, "lead_updated")]
    assert [(event.id, event.data) for event in storage.get_events("tenant-77", 0)] == [
        (1, {"lead_id": 1}),
        (2, {"lead_id": 1}),
    ]


def test_a_channel_begun_by_the_library_goes_on_from_its_counter(settings):
    DjangoModelStorage().append_event("tenant-78", "lead_created", {"lead_id": 1})

    following = get_storage().append_event("tenant-78", "lead_updated", {"lead_id": 1})

    assert following.id == 2
    assert list(Event.objects.filter(channel="tenant-78").order_by("eid").values_list("eid", flat=True)) == [0, 1, 2]


def test_publish_failure_is_logged_and_the_event_kept(settings, owner, caplog):
    settings.EVENTSTREAM_REDIS = {"host": "127.0.0.1", "port": 1, "db": 0}  # nothing listens there

    emit("lead_created", owner.tenant_id, 5)

    assert [row[:3] for row in stored()] == [(f"tenant-{owner.tenant_id}", "lead_created", 1)]
    assert "Could not publish lead_created for lead 5" in caplog.text


def test_the_grip_proxy_is_told_off_the_request_path_and_in_order(settings, owner, monkeypatch):
    """A publishing request does not wait for Pushpin: the events reach it from the publisher's own thread."""
    import django_grip

    received, answer, answered = [], threading.Event(), threading.Event()

    class HeldControlEndpoint(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server hook's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            answer.wait(5)
            self.send_response(200)
            self.end_headers()
            answered.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), HeldControlEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EVENTSTREAM_REDIS = None
    settings.GRIP_URL = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(django_grip, "_pubcontrol", None)  # django_grip reads GRIP_URL once
    try:
        emit("lead_created", owner.tenant_id, 1, [])
        emit("lead_updated", owner.tenant_id, 1, [])
        assert not answered.is_set()  # both calls returned while the proxy was still holding the first send
        answer.set()
        deadline = time.monotonic() + 10
        while sum(len(body["items"]) for body in received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
    items = [item for body in received for item in body["items"]]
    assert [item["channel"] for item in items] == [f"events-tenant-{owner.tenant_id}"] * 2
    assert [item["id"] for item in items] == ["1", "2"]
    assert [item["prev-id"] for item in items] == ["0", "1"]
