"""The deal-side webhook events (SPEC §14): clients, deals, policies and payments, each committed change logged once
with the object as /api/v1 renders it and delivered to a real receiver on loopback; a refused or rolled-back change
logs nothing; a v1 write pays a constant number of queries for its event."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_eventstream.models import Event
from standardwebhooks import Webhook

from conftest import client_for
from deals import services
from deals.models import Deal
from deals.tests.factories import ClientFactory, DealFactory, PaymentFactory, PolicyFactory
from events.jobs import sweep_webhooks
from events.models import WebhookSubscription
from events.tests.test_webhooks_out import APPS, jobs_in_process, receiver, subscribe  # noqa: F401 - fixtures
from events.webhooks import services as webhook_services

DEAL_EVENTS = (
    "client_created",
    "client_updated",
    "deal_created",
    "deal_updated",
    "policy_created",
    "policy_updated",
    "payment_created",
    "payment_updated",
)
# The fields each object has in /api/v1 (seed 002, SPEC §9, §11, §13): at least these, whatever else it gains.
SPEC_KEYS = {
    "client": {
        "id",
        "type",
        "full_name",
        "short_name",
        "tax_number",
        "registration_number",
        "segment",
        "status",
        "contacts",
        "notes",
        "version",
    },
    "deal": {
        "id",
        "client_id",
        "title",
        "description",
        "status",
        "sales_agent_id",
        "executor_id",
        "expected_close_date",
        "tags",
        "folder_id",
        "version",
        "created_at",
    },
    "policy": {
        "id",
        "deal_id",
        "calculation_id",
        "policy_number",
        "insurer",
        "program_name",
        "effective_from",
        "effective_to",
        "premium_amount",
        "coverage_sum",
        "status",
        "documents",
        "version",
    },
    "payment": {
        "id",
        "deal_id",
        "policy_id",
        "payment_type",
        "status",
        "planned_date",
        "amount",
        "currency",
        "external_ref",
        "notes",
        "received_at",
        "paid_out_at",
        "version",
    },
}
V1 = "/api/v1"
# Delivery needs committed transactions; the log's positions are given at commit by PostgreSQL.
committed = pytest.mark.django_db(transaction=True, available_apps=[*APPS, "deals"])
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="positions are given at commit")


def logged(tenant_id) -> list[tuple[str, str]]:
    """The tenant's webhook log: (type, object id) in log order."""
    # eid 0: on SQLite, the library's row that starts a channel (no event)
    rows = Event.objects.filter(channel=f"webhooks-{tenant_id}").exclude(eid=0).order_by("pk")
    return [(row.type, json.loads(row.data)["id"]) for row in rows]


def _ok(response, status=200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def _v1_writes(owner) -> list[tuple[str, dict]]:
    """One of each write through /api/v1, in order: (the event type it must log, the object the API answered)."""
    api = client_for(owner)
    client = _ok(
        api.post(f"{V1}/clients", {"type": "company", "full_name": "ООО", "status": "active"}, format="json"), 201
    )
    client_changed = _ok(api.patch(f"{V1}/clients/{client['id']}", {"notes": "VIP"}, format="json"))
    deal_body = {"client_id": client["id"], "title": "КАСКО", "sales_agent_id": str(owner.uuid)}
    deal = _ok(api.post(f"{V1}/deals", deal_body, format="json"), 201)
    deal_changed = _ok(api.patch(f"{V1}/deals/{deal['id']}", {"status": "estimating"}, format="json"))
    policy_body = {
        "policy_number": "П-1",
        "insurer": "Ингосстрах",
        "effective_from": "2026-01-01",
        "effective_to": "2026-12-31",
        "premium_amount": 12345.67,
        "status": "draft",
    }
    policy = _ok(api.post(f"{V1}/deals/{deal['id']}/policies", policy_body, format="json"), 201)
    policy_changed = _ok(api.patch(f"{V1}/policies/{policy['id']}", {"status": "active"}, format="json"))
    payment_body = {
        "deal_id": deal["id"],
        "policy_id": policy["id"],
        "payment_type": "client_premium",
        "amount": 12345.67,
        "currency": "RUB",
    }
    payment = _ok(api.post(f"{V1}/payments", payment_body, format="json"), 201)
    payment_changed = _ok(api.patch(f"{V1}/payments/{payment['id']}", {"status": "received"}, format="json"))
    answers = [client, client_changed, deal, deal_changed, policy, policy_changed, payment, payment_changed]
    return list(zip(DEAL_EVENTS, answers, strict=True))


# ---------------------------------------------------------------- delivered


@committed
@postgres_only
def test_each_v1_write_is_delivered_once_signed_with_the_object_as_v1_renders_it(
    owner,
    foreign_owner,
    receiver,  # noqa: F811 - the fixture
):
    created = subscribe(owner, receiver.url, events=DEAL_EVENTS)
    foreign = subscribe(foreign_owner, receiver.url, events=DEAL_EVENTS)

    writes = _v1_writes(owner)

    assert len(receiver.requests) == len(writes)  # one each, none to the other tenant's subscription
    for position, (request, (event_type, answer)) in enumerate(zip(receiver.requests, writes, strict=True), 1):
        headers = {name.lower(): value for name, value in request["headers"].items()}
        body = Webhook(created["secret"]).verify(request["body"], headers)  # raises unless the signature is right
        assert body["id"] == headers["webhook-id"] == f"evt_{owner.tenant_id}_{position}"
        assert (body["type"], body["tenant_id"]) == (event_type, owner.tenant_id)
        assert set(body) == {"id", "type", "created_at", "tenant_id", "data"}
        assert body["data"] == answer  # what the API answered for that very change
        assert SPEC_KEYS[event_type.rsplit("_", 1)[0]] <= set(body["data"])
    assert [body["data"]["status"] for body in receiver.bodies()[2:4]] == ["draft", "estimating"]
    assert [body["data"]["version"] for body in receiver.bodies()[6:8]] == [1, 2]
    assert logged(foreign_owner.tenant_id) == []
    assert WebhookSubscription.objects.get(pk=foreign["id"]).position == 0


@committed
@postgres_only
def test_only_the_subscribed_types_are_delivered(owner, receiver):  # noqa: F811 - the fixture
    subscribe(owner, receiver.url, events=["deal_updated", "payment_created"])

    writes = _v1_writes(owner)

    assert [body["type"] for body in receiver.bodies()] == ["deal_updated", "payment_created"]
    assert [body["data"] for body in receiver.bodies()] == [writes[3][1], writes[6][1]]


# ---------------------------------------------------------------- every write path, once


@pytest.fixture
def world(tenant, owner, settings):
    """The tenant subscribed (so events are logged), with a deal, its policy and a payment of it."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    webhook_services.subscription_create(tenant=tenant, url="http://127.0.0.1:9/hooks", events=list(DEAL_EVENTS))
    deal = DealFactory(tenant=tenant, sales_agent=owner)
    policy = PolicyFactory(deal=deal)
    return {"deal": deal, "policy": policy, "payment": PaymentFactory(policy=policy), "owner": owner}


def _service_writes():
    """Every service that writes a client, deal, policy or payment (the API, the back-office, imports, the demo data
    and the renewals all go through these), with the event each must log."""
    return {
        "client_create": (
            "client_created",
            lambda w: services.client_create(
                tenant=w["deal"].tenant, type="individual", full_name="Иван", status="active"
            ),
        ),
        "client_update": (
            "client_updated",
            lambda w: services.client_update(client=w["deal"].client, acting_user=w["owner"], status="inactive"),
        ),
        "deal_create": (
            "deal_created",
            lambda w: services.deal_create(
                tenant=w["deal"].tenant,
                acting_user=w["owner"],
                client_id=w["deal"].client_id,
                title="ОСАГО",
                sales_agent=w["owner"],
            ),
        ),
        "deal_update": (
            "deal_updated",
            lambda w: services.deal_update(
                deal=w["deal"], acting_user=w["owner"], title="КАСКО 2", status="estimating"
            ),
        ),
        "deal_transition": (
            "deal_updated",
            lambda w: services.deal_transition(deal=w["deal"], acting_user=w["owner"], status="closed"),
        ),
        "policy_create": (
            "policy_created",
            lambda w: services.policy_create(
                deal=w["deal"],
                policy_number="П-2",
                insurer="ВСК",
                effective_from=w["policy"].effective_from,
                effective_to=w["policy"].effective_to,
                premium_amount=100,
            ),
        ),
        "policy_update": (
            "policy_updated",
            lambda w: services.policy_update(policy=w["policy"], documents=["https://docs/1"], status="closed"),
        ),
        "policy_transition": (
            "policy_updated",
            lambda w: services.policy_transition(policy=w["policy"], status="active"),
        ),
        "payment_create": (
            "payment_created",
            lambda w: services.payment_create(
                tenant=w["deal"].tenant,
                acting_user=w["owner"],
                deal_id=w["deal"].pk,
                policy_id=w["policy"].pk,
                payment_type="commission_income",
                amount=10,
            ),
        ),
        "payment_update": (
            "payment_updated",
            lambda w: services.payment_update(payment=w["payment"], notes="Счёт 12", status="expected"),
        ),
        "payment_transition": (
            "payment_updated",
            lambda w: services.payment_transition(payment=w["payment"], status="cancelled"),
        ),
    }


SERVICE_WRITES = _service_writes()


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(SERVICE_WRITES))
def test_every_service_write_logs_its_event_once(world, name):
    event_type, write = SERVICE_WRITES[name]

    written = write(world)

    assert logged(world["deal"].tenant_id) == [(event_type, str(written.pk))]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "write",
    [
        lambda w: services.client_update(
            client=w["deal"].client, acting_user=w["owner"], status=w["deal"].client.status
        ),
        lambda w: services.deal_update(deal=w["deal"], acting_user=w["owner"], status=w["deal"].status),
        lambda w: services.policy_update(policy=w["policy"], status=w["policy"].status),
        lambda w: services.payment_update(payment=w["payment"], status=w["payment"].status),
    ],
    ids=["client", "deal", "policy", "payment"],
)
def test_a_no_op_change_logs_nothing(world, write):
    write(world)

    assert logged(world["deal"].tenant_id) == []


@pytest.mark.django_db
def test_a_tenant_without_subscriptions_logs_nothing(tenant, owner):
    deal = DealFactory(tenant=tenant, sales_agent=owner)

    services.deal_update(deal=deal, acting_user=owner, status="estimating")

    assert not Event.objects.filter(channel=f"webhooks-{tenant.pk}").exists()


# ---------------------------------------------------------------- refused or rolled back: nothing


def _refused_requests(world) -> list[tuple[str, str, dict, dict, int]]:
    """(method, path, body, headers, status) of v1 writes that must change nothing."""
    deal, policy, payment, owner = world["deal"], world["policy"], world["payment"], world["owner"]
    taken = ClientFactory(tenant=deal.tenant, tax_number="7701234567").tax_number
    new_client = {"type": "company", "full_name": "ООО Новое", "status": "active"}
    new_deal = {"client_id": str(deal.client_id), "title": "Новая", "sales_agent_id": str(owner.uuid)}
    new_policy = {
        "policy_number": policy.policy_number,
        "insurer": "ВСК",
        "effective_from": "2026-01-01",
        "effective_to": "2026-12-31",
        "premium_amount": 1,
        "status": "draft",
    }
    new_payment = {
        "deal_id": str(deal.pk),
        "policy_id": str(policy.pk),
        "payment_type": "client_premium",
        "amount": 10,
        "currency": "RUB",
    }
    stale = {"HTTP_IF_MATCH": '"99"'}
    return [
        ("post", "/clients", {**new_client, "full_name": ""}, {}, 400),
        ("post", "/clients", {**new_client, "tax_number": taken}, {}, 409),
        ("patch", f"/clients/{deal.client_id}", {"tax_number": taken}, {}, 409),
        ("patch", f"/clients/{deal.client_id}", {"notes": "x", "version": 99}, {}, 409),
        ("post", "/deals", {**new_deal, "sales_agent_id": "not-a-uuid"}, {}, 400),
        ("post", "/deals", {**new_deal, "title": deal.title}, {}, 409),
        ("patch", f"/deals/{deal.pk}", {"status": "active"}, {}, 400),  # draft → active: no such transition
        ("patch", f"/deals/{deal.pk}", {"title": "Новое", "version": 99}, {}, 409),
        ("patch", f"/deals/{deal.pk}", {"title": "Новое"}, stale, 412),
        ("post", f"/deals/{deal.pk}/policies", new_policy, {}, 409),  # the number is taken
        ("patch", f"/policies/{policy.pk}", {"status": "renewal_due"}, {}, 400),
        ("patch", f"/policies/{policy.pk}", {"effective_to": "2000-01-01"}, {}, 400),  # before effective_from
        ("patch", f"/policies/{policy.pk}", {"documents": ["x"], "version": 99}, {}, 409),
        ("post", "/payments", {**new_payment, "currency": "USD"}, {}, 400),
        ("post", "/payments", {**new_payment, "amount": 0}, {}, 400),
        ("patch", f"/payments/{payment.pk}", {"status": "paid_out"}, {}, 400),
        ("patch", f"/payments/{payment.pk}", {"notes": "x"}, stale, 412),
    ]


@pytest.mark.django_db
def test_a_refused_v1_write_logs_nothing(owner, world):
    requests = _refused_requests(world)
    api = client_for(owner)

    for method, path, body, headers, status in requests:
        response = getattr(api, method)(f"{V1}{path}", body, format="json", **headers)
        assert response.status_code == status, (path, body, response.content)

    assert logged(owner.tenant_id) == []


@committed
@postgres_only
def test_a_rolled_back_change_logs_and_delivers_nothing(owner, receiver):  # noqa: F811 - the fixture
    subscribe(owner, receiver.url, events=DEAL_EVENTS)
    deal = DealFactory(tenant=owner.tenant, sales_agent=owner)

    with pytest.raises(RuntimeError):
        _change_then_fail(deal, owner)
    sweep_webhooks.call_local()

    assert logged(owner.tenant_id) == []
    assert receiver.requests == []
    assert Deal.objects.get(pk=deal.pk).status == "draft"


def _change_then_fail(deal, owner) -> None:
    with transaction.atomic():
        services.deal_update(deal=deal, acting_user=owner, status="estimating")
        services.client_update(client=deal.client, acting_user=owner, notes="x")
        raise RuntimeError("the caller's transaction fails after the services ran")


# ---------------------------------------------------------------- what it costs


def _patch_queries(owner, deal) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client_for(owner).patch(f"{V1}/deals/{deal.pk}", {"title": f"КАСКО {deal.version}"}, format="json")
    assert response.status_code == 200, response.content
    deal.refresh_from_db()
    return len(queries)


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite numbers events through the library, which creates a channel's counter on first use",
)
def test_a_v1_write_pays_a_constant_number_of_queries_for_its_event(tenant, owner, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    deal = DealFactory(tenant=tenant, sales_agent=owner)
    without = _patch_queries(owner, deal)

    counts = []
    for number in range(3):
        webhook_services.subscription_create(tenant=tenant, url=f"http://127.0.0.1:9/{number}", events=["deal_updated"])
        counts.append(_patch_queries(owner, deal))

    assert counts[0] == counts[1] == counts[2], counts  # however many subscriptions
    assert counts[0] - without <= 5, (without, counts)  # the tenant's timezone, the object as rendered, the insert
    assert len(logged(tenant.pk)) == 3
