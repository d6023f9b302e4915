"""Outbound webhooks (SPEC §14) against a real HTTP receiver on loopback: subscriptions API, SSRF, Standard Webhooks
signatures, ordered delivery, retries with the same webhook-id, auto-disable with the backlog kept, replay."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.utils import timezone
from django_eventstream.models import Event
from huey.contrib.djhuey import HUEY
from standardwebhooks import Webhook

from conftest import client_for
from events.jobs import deliver_webhooks, sweep_webhooks, trim_event_log
from events.models import WebhookDelivery, WebhookSubscription
from events.tests.test_outbox import commit_a_lead_and_get_killed
from events.webhooks import delivery
from pipelines.api.serializers import LeadDetailSerializer
from pipelines.models import Lead
from pipelines.services.leads import lead_create, lead_update

APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]
pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=APPS),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="positions are given at commit by PostgreSQL"),
]
URL = "/api/webhook-subscriptions"


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers `fail_first` requests with 500, then 204."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_first = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body})
                    failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(autouse=True)
def jobs_in_process(settings):
    """Jobs run in the test process when enqueued (huey's immediate mode); scheduled retries wait in memory."""
    settings.EVENTSTREAM_REDIS = None
    HUEY.immediate = True
    yield
    HUEY.immediate = False


def subscribe(owner, url, events=("lead_created", "lead_updated")) -> dict:
    response = client_for(owner).post(URL, {"url": url, "events": list(events)}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def make_due(subscription_id):
    """What the passing of time does to a scheduled retry: it becomes due (no test waits for it)."""
    WebhookSubscription.objects.filter(pk=subscription_id).update(next_attempt_at=timezone.now())


def retry(owner, subscription_id):
    make_due(subscription_id)
    return delivery.pump(owner.tenant_id, subscription_id)


# ---------------------------------------------------------------- the API


def test_create_shows_the_secret_once_and_only_owner_and_admin_manage(owner, rop, manager, receiver):
    created = subscribe(owner, receiver.url)

    assert created["secret"].startswith("whsec_")
    assert {key: created[key] for key in ("url", "events", "description", "is_active", "disabled_reason")} == {
        "url": receiver.url,
        "events": ["lead_created", "lead_updated"],
        "description": "",
        "is_active": True,
        "disabled_reason": "",
    }
    shown = client_for(owner).get(f"{URL}/{created['id']}").json()
    assert "secret" not in shown
    assert client_for(owner).get(URL).json()["total"] == 1
    for user in (rop, manager):
        assert client_for(user).get(URL).status_code == 403
        assert (
            client_for(user).post(URL, {"url": receiver.url, "events": ["lead_created"]}, format="json").json()["error"]
            == "forbidden"
        )
    assert WebhookSubscription.objects.count() == 1


def test_another_tenants_subscription_is_404(owner, foreign_owner, receiver):
    created = subscribe(owner, receiver.url)

    for method, body in (("get", None), ("patch", {"description": "x"}), ("delete", None)):
        response = getattr(client_for(foreign_owner), method)(f"{URL}/{created['id']}", body, format="json")
        assert response.status_code == 404
    assert client_for(foreign_owner).get(f"{URL}/{created['id']}/deliveries").status_code == 404
    assert WebhookSubscription.objects.get().description == ""


@pytest.mark.parametrize(
    ("url", "allow_private"),
    [
        ("http://127.0.0.1:9/hooks", False),
        ("http://localhost/hooks", False),
        ("http://10.1.2.3/hooks", False),
        ("http://[::1]/hooks", False),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://[fe80::1]/hooks", True),
        ("http://[fd00:ec2::254]/latest", True),
        ("http://[::ffff:169.254.169.254]/", True),
        ("http://0.0.0.0/hooks", True),
        ("ftp://example.com/hooks", True),
        ("http://user:pass@example.com/hooks", True),
        ("not a url", True),
    ],
)
def test_ssrf_targets_are_refused_at_create_naming_url(owner, settings, url, allow_private):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = allow_private

    response = client_for(owner).post(URL, {"url": url, "events": ["lead_created"]}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "url" in response.json()["details"]
    assert not WebhookSubscription.objects.exists()


def test_an_unknown_event_type_is_refused(owner, receiver):
    response = client_for(owner).post(URL, {"url": receiver.url, "events": ["lead_exploded"]}, format="json")

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["events.0"]
    assert not WebhookSubscription.objects.exists()


# ---------------------------------------------------------------- delivery


def test_a_committed_lead_change_is_delivered_signed_with_the_lead_as_the_api_renders_it(owner, receiver):
    created = subscribe(owner, receiver.url)

    lead = lead_create(tenant=owner.tenant, acting_user=owner, name="Анна")

    (request,) = receiver.requests
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["webhook-id"] == f"evt_{owner.tenant_id}_1"
    body = Webhook(created["secret"]).verify(request["body"], headers)  # raises unless the signature is right
    assert body["id"] == headers["webhook-id"]
    assert (body["type"], body["tenant_id"]) == ("lead_created", owner.tenant_id)
    with timezone.override(owner.tenant.tzinfo):  # as the API renders it for this tenant
        rendered = LeadDetailSerializer(Lead.objects.get(pk=lead.pk)).data
    assert body["data"] == json.loads(json.dumps(rendered))
    assert set(body) == {"id", "type", "created_at", "tenant_id", "data"}
    (logged,) = client_for(owner).get(f"{URL}/{created['id']}/deliveries").json()["deliveries"]
    assert {key: logged[key] for key in ("event_id", "event_type", "attempt", "status", "response_status")} == {
        "event_id": f"evt_{owner.tenant_id}_1",
        "event_type": "lead_created",
        "attempt": 1,
        "status": "succeeded",
        "response_status": 204,
    }


def test_a_receiver_failing_the_first_attempts_gets_the_event_with_the_same_webhook_id(owner, receiver):
    created = subscribe(owner, receiver.url)
    receiver.fail_first = 2

    lead_create(tenant=owner.tenant, acting_user=owner, name="Анна")  # attempt 1 fails
    first_retry = WebhookSubscription.objects.get().next_attempt_at
    assert timedelta(0) < first_retry - timezone.now() <= timedelta(minutes=1)
    retry(owner, created["id"])  # attempt 2 fails
    retry(owner, created["id"])  # attempt 3 succeeds

    assert len({request["headers"]["webhook-id"] for request in receiver.requests}) == 1
    assert len({request["body"] for request in receiver.requests}) == 1
    logged = client_for(owner).get(f"{URL}/{created['id']}/deliveries").json()
    assert logged["total"] == 3
    assert [(row["attempt"], row["status"]) for row in logged["deliveries"]] == [
        (3, "succeeded"),
        (2, "failed"),
        (1, "failed"),
    ]


def test_a_later_event_waits_behind_a_failing_one(owner, receiver):
    created = subscribe(owner, receiver.url)
    receiver.fail_first = 1

    lead = lead_create(tenant=owner.tenant, acting_user=owner, name="Анна")  # fails
    lead_update(lead=lead, acting_user=owner, name="Анна Петровна")  # must not overtake it
    assert [body["type"] for body in receiver.bodies()] == ["lead_created"]
    retry(owner, created["id"])

    assert [(body["type"], body["id"]) for body in receiver.bodies()] == [
        ("lead_created", f"evt_{owner.tenant_id}_1"),
        ("lead_created", f"evt_{owner.tenant_id}_1"),
        ("lead_updated", f"evt_{owner.tenant_id}_2"),
    ]


def test_order_per_subscription_holds_under_concurrent_writes_and_deliverers(owner, receiver):
    created = subscribe(owner, receiver.url)
    HUEY.immediate = False  # nothing delivered while the writers run; then two deliverers race
    HUEY.flush()
    barrier = threading.Barrier(6)

    def writer(number):
        barrier.wait()
        try:
            for index in range(4):
                lead_create(tenant=owner.tenant, acting_user=owner, name=f"Лид {number}-{index}")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    HUEY.flush()

    def deliverer():
        try:
            delivery.pump(owner.tenant_id, created["id"])
        finally:
            connection.close()

    deliverers = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in deliverers:
        thread.start()
    for thread in deliverers:
        thread.join()
    delivery.pump(owner.tenant_id, created["id"])  # whatever a deliverer left when it found the lease taken

    positions = [int(body["id"].rsplit("_", 1)[1]) for body in receiver.bodies()]
    assert positions == list(range(1, 25))
    names = [body["data"]["name"] for body in receiver.bodies()]
    assert sorted(names) == sorted(Lead.objects.values_list("name", flat=True))


def test_after_the_last_failure_the_subscription_is_disabled_and_re_enabling_delivers_the_backlog(owner, receiver):
    created = subscribe(owner, receiver.url)
    receiver.fail_first = 10**6

    lead = lead_create(tenant=owner.tenant, acting_user=owner, name="Анна")
    for _ in range(delivery.MAX_ATTEMPTS - 1):
        retry(owner, created["id"])
    lead_update(lead=lead, acting_user=owner, name="Анна Петровна")  # joins the backlog

    subscription = client_for(owner).get(f"{URL}/{created['id']}").json()
    assert subscription["is_active"] is False
    assert f"evt_{owner.tenant_id}_1" in subscription["disabled_reason"]
    assert len(receiver.requests) == delivery.MAX_ATTEMPTS >= 6
    assert sum(delivery.RETRY_DELAYS, timedelta()) >= timedelta(hours=24)

    receiver.fail_first = 0
    receiver.requests.clear()
    response = client_for(owner).patch(f"{URL}/{created['id']}", {"is_active": True}, format="json")

    assert response.status_code == 200
    assert (response.json()["is_active"], response.json()["disabled_reason"]) == (True, "")
    assert [(body["type"], body["id"]) for body in receiver.bodies()] == [
        ("lead_created", f"evt_{owner.tenant_id}_1"),
        ("lead_updated", f"evt_{owner.tenant_id}_2"),
    ]


def test_an_address_that_became_private_is_refused_at_delivery(owner, receiver, settings):
    created = subscribe(owner, receiver.url)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False  # as if the name now resolved to a private address

    lead_create(tenant=owner.tenant, acting_user=owner, name="Анна")

    assert receiver.requests == []
    (logged,) = client_for(owner).get(f"{URL}/{created['id']}/deliveries").json()["deliveries"]
    assert logged["status"] == "failed"
    assert logged["error"].startswith("Refused: ")


def test_replay_redelivers_from_an_event_id_and_refuses_an_unknown_one(owner, receiver):
    created = subscribe(owner, receiver.url)
    lead = lead_create(tenant=owner.tenant, acting_user=owner, name="Анна")
    lead_update(lead=lead, acting_user=owner, name="Анна Петровна")
    receiver.requests.clear()

    refused = client_for(owner).post(f"{URL}/{created['id']}/replay", {"since_event_id": "evt_999_1"}, format="json")
    assert refused.status_code == 400
    assert "since_event_id" in refused.json()["details"]
    assert receiver.requests == []

    since = f"evt_{owner.tenant_id}_1"
    response = client_for(owner).post(f"{URL}/{created['id']}/replay", {"since_event_id": since}, format="json")

    assert response.status_code == 202
    assert [body["id"] for body in receiver.bodies()] == [since, f"evt_{owner.tenant_id}_2"]


def test_a_process_killed_right_after_commit_still_has_its_webhook_delivered(owner, receiver):
    subscribe(owner, receiver.url)

    lead = commit_a_lead_and_get_killed(owner)  # no wake-up was ever sent
    assert receiver.requests == []
    sweep_webhooks.call_local()  # the minute sweep

    assert [(body["type"], body["data"]["id"]) for body in receiver.bodies()] == [("lead_created", lead.pk)]


def test_retention_keeps_a_disabled_subscriptions_backlog(owner, receiver):
    created = subscribe(owner, receiver.url)
    WebhookSubscription.objects.filter(pk=created["id"]).update(is_active=False)
    lead_create(tenant=owner.tenant, acting_user=owner, name="Анна")
    Event.objects.update(created=timezone.now() - timedelta(days=30))

    trim_event_log.call_local()

    assert list(Event.objects.filter(channel=f"webhooks-{owner.tenant_id}").values_list("eid", flat=True)) == [1]
    assert not Event.objects.filter(channel=f"tenant-{owner.tenant_id}").exists()  # SSE keeps 24 h only


def test_deleting_a_subscription_stops_its_deliveries(owner, receiver):
    created = subscribe(owner, receiver.url)
    assert client_for(owner).delete(f"{URL}/{created['id']}").status_code == 204

    lead_create(tenant=owner.tenant, acting_user=owner, name="Анна")
    deliver_webhooks.call_local(owner.tenant_id, created["id"])

    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()
