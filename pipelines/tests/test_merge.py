"""`POST /api/leads/{id}/merge` (SPEC §12): the duplicate's tasks, history and messages move, empty fields are
filled, the duplicate is gone; `merged` in history, `lead_updated` for the survivor, `lead_deleted` for the other."""

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django_eventstream.models import Event

from conftest import client_for
from deals.tests.factories import DealFactory
from events.models import WebhookSubscription
from events.tests.recording import Emitted
from pipelines import services
from pipelines.models import HistoryKind, InboundDelivery, Lead, LeadHistory
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory


def _merge(client, lead_id, body):
    return client.post(f"/api/leads/{lead_id}/merge", body, format="json")


def _state() -> dict:
    """What a refused merge must leave as it was."""
    return {
        "leads": list(Lead.objects.order_by("pk").values()),
        "history": list(LeadHistory.objects.order_by("pk").values()),
        "tasks": list(LeadTask.objects.order_by("pk").values()),
        "deliveries": list(InboundDelivery.objects.order_by("pk").values()),
    }


def _assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code
    if field is not None:
        assert field in body["details"], body


@pytest.fixture
def pair(tenant, pipeline, manager):
    """A lead with a name and phone only, and its duplicate with email, budget, comment, a task and a message."""
    lead = services.lead_create(tenant=tenant, name="Анна", phone="+79161110000")
    duplicate = services.lead_create(
        tenant=tenant,
        name="Анна Смирнова",
        phone="+79162220000",
        email="anna@example.com",
        comment="Хочет КАСКО",
        assigned_to=manager,
    )
    Lead.objects.filter(pk=duplicate.pk).update(price=Decimal("150000.50"), external_id="chat-7")
    services.lead_touch(lead=duplicate, kind="message", text="Ещё вопрос", payload={"message": "Ещё вопрос"})
    task = LeadTaskFactory(lead=duplicate)
    InboundDelivery.objects.create(tenant=tenant, source="site", delivery_id="form-1", lead=duplicate)
    return lead, Lead.objects.get(pk=duplicate.pk), task


def test_owner_merges_a_duplicate(owner_client, tenant, pair, manager, events):
    lead, duplicate, task = pair
    duplicate_history = set(LeadHistory.objects.filter(lead=duplicate).values_list("pk", flat=True))
    with events.capture():
        response = _merge(owner_client, lead.pk, {"from_lead_id": duplicate.pk})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == lead.pk
    # The survivor keeps its own name, phone and stage; its empty fields come from the duplicate.
    assert (body["name"], body["phone"], body["stage_id"]) == ("Анна", "+79161110000", lead.stage_id)
    assert (body["email"], body["comment"], body["price"]) == ("anna@example.com", "Хочет КАСКО", 150000.5)
    assert (body["external_id"], body["assigned_to_user_id"]) == ("chat-7", manager.pk)
    assert body["version"] == lead.version + 1
    assert response["ETag"] == f'"{lead.version + 1}"'

    assert owner_client.get(f"/api/leads/{duplicate.pk}").status_code == 404
    assert set(LeadHistory.objects.filter(lead=lead).values_list("pk", flat=True)) >= duplicate_history
    merged = LeadHistory.objects.filter(lead=lead, kind=HistoryKind.MERGED).get()
    assert f"#{duplicate.pk}" in merged.text
    assert "Анна Смирнова" in merged.text
    history = owner_client.get(f"/api/leads/{lead.pk}/history").json()["history"]
    assert history[0]["kind"] == "merged"
    assert "Ещё вопрос" in [entry["text"] for entry in history]
    task.refresh_from_db()
    assert (task.lead_id, task.version) == (lead.pk, 2)
    assert InboundDelivery.objects.get(delivery_id="form-1").lead_id == lead.pk
    assert set(events.sent) == {
        Emitted("lead_updated", tenant.pk, lead.pk, frozenset({manager.pk})),
        Emitted("lead_updated", tenant.pk, duplicate.pk, frozenset({manager.pk})),  # the board drops its card
    }


def test_a_retried_delivery_of_the_duplicate_finds_the_survivor(api_client, owner_client, tenant, pair):
    lead, duplicate, _ = pair
    _merge(owner_client, lead.pk, {"from_lead_id": duplicate.pk})
    response = api_client(None).post(
        reverse("webhook-site", args=[tenant.webhook_key]),
        {"name": "Анна", "phone": "+79162220000"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="form-1",
    )
    assert response.json() == {"lead_id": lead.pk, "created": False}


def test_webhooks_get_lead_deleted_and_lead_updated(owner_client, tenant, pair):
    lead, duplicate, _ = pair
    WebhookSubscription.objects.create(
        tenant=tenant, url="https://93.184.215.14/hooks", events=["lead_deleted"], secret="whsec_dGVzdA=="
    )
    _merge(owner_client, lead.pk, {"from_lead_id": duplicate.pk})
    logged = [
        (row.type, json.loads(row.data))
        for row in Event.objects.filter(channel=f"webhooks-{tenant.pk}", type__startswith="lead_").order_by("pk")
    ]
    assert logged[0] == ("lead_deleted", {"id": duplicate.pk})
    assert logged[1][0] == "lead_updated"
    assert logged[1][1]["id"] == lead.pk
    assert logged[1][1]["email"] == "anna@example.com"


def test_a_name_made_from_the_phone_takes_the_duplicates_name(owner_client, tenant, pipeline):
    lead = services.lead_create(tenant=tenant, name="", phone="+79163330000")
    duplicate = services.lead_create(tenant=tenant, name="Пётр", email="petr@example.com")
    body = _merge(owner_client, lead.pk, {"from_lead_id": duplicate.pk}).json()
    assert (body["name"], body["phone"], body["email"]) == ("Пётр", "+79163330000", "petr@example.com")


def test_a_manager_merges_two_of_their_own_leads(manager_client, tenant, pipeline, manager):
    lead = services.lead_create(tenant=tenant, name="Один", phone="+79164440000", assigned_to=manager)
    duplicate = services.lead_create(tenant=tenant, name="Два", phone="+79164440001", assigned_to=manager)
    assert _merge(manager_client, lead.pk, {"from_lead_id": duplicate.pk}).status_code == 200
    assert not Lead.objects.filter(pk=duplicate.pk).exists()


@pytest.mark.parametrize("colleague_holds", ["lead", "from_lead"])
def test_a_manager_may_not_merge_a_colleagues_lead(
    manager_client, tenant, pipeline, manager, other_manager, colleague_holds
):
    own = services.lead_create(tenant=tenant, name="Мой", phone="+79165550000", assigned_to=manager)
    colleague = services.lead_create(tenant=tenant, name="Коллеги", phone="+79165550001", assigned_to=other_manager)
    lead, duplicate = (colleague, own) if colleague_holds == "lead" else (own, colleague)
    before = _state()
    _assert_error(_merge(manager_client, lead.pk, {"from_lead_id": duplicate.pk}), 403, "forbidden")
    assert _state() == before


def test_a_manager_may_not_merge_an_unassigned_lead(manager_client, tenant, pipeline, manager):
    own = services.lead_create(tenant=tenant, name="Мой", phone="+79165550000", assigned_to=manager)
    nobodys = services.lead_create(tenant=tenant, name="Ничей", phone="+79165550002")
    _assert_error(_merge(manager_client, own.pk, {"from_lead_id": nobodys.pk}), 403, "forbidden")


def test_another_tenants_lead_in_the_path_is_404(owner_client, pair, other_tenant, other_pipeline):
    lead, _, _ = pair
    foreign = services.lead_create(tenant=other_tenant, name="Чужой", phone="+79166660000")
    before = _state()
    _assert_error(_merge(owner_client, foreign.pk, {"from_lead_id": lead.pk}), 404, "not_found")
    _assert_error(_merge(owner_client, 999999999, {"from_lead_id": lead.pk}), 404, "not_found")
    assert _state() == before


@pytest.mark.parametrize(
    "from_lead_id",
    ["foreign", "unknown", "self", "missing", None, "abc", 1.5, True, [1], {"id": 1}, 2**70, -1, 0],
    ids=str,
)
def test_a_bad_from_lead_id_is_400_naming_it(owner_client, pair, other_tenant, other_pipeline, from_lead_id):
    lead, _, _ = pair
    foreign = services.lead_create(tenant=other_tenant, name="Чужой", phone="+79166660000")
    named = {"foreign": foreign.pk, "unknown": 999999999, "self": lead.pk}
    if from_lead_id == "missing":
        body = {}
    elif isinstance(from_lead_id, str) and from_lead_id in named:
        body = {"from_lead_id": named[from_lead_id]}
    else:
        body = {"from_lead_id": from_lead_id}
    before = _state()
    _assert_error(_merge(owner_client, lead.pk, body), 400, "validation_error", "from_lead_id")
    assert _state() == before


def test_a_body_that_is_not_an_object_is_400(owner_client, pair):
    lead, _, _ = pair
    response = owner_client.post(f"/api/leads/{lead.pk}/merge", "[1]", content_type="application/json")
    _assert_error(response, 400, "validation_error")


def test_a_lead_that_became_a_deal_is_not_merged_away(owner_client, tenant, pair):
    lead, duplicate, _ = pair
    Lead.objects.filter(pk=duplicate.pk).update(deal=DealFactory(tenant=tenant))
    before = _state()
    _assert_error(
        _merge(owner_client, lead.pk, {"from_lead_id": duplicate.pk}), 400, "validation_error", "from_lead_id"
    )
    assert _state() == before
    # The other way round is fine: the converted lead survives.
    assert _merge(owner_client, duplicate.pk, {"from_lead_id": lead.pk}).status_code == 200


def test_merge_is_for_leads_only_by_post(owner_client, pair):
    lead, duplicate, _ = pair
    response = owner_client.get(f"/api/leads/{lead.pk}/merge")
    _assert_error(response, 405, "method_not_allowed")


def test_anonymous_is_401(pair):
    lead, duplicate, _ = pair
    _assert_error(_merge(client_for(None), lead.pk, {"from_lead_id": duplicate.pk}), 401, "unauthorized")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row and advisory locks")
def test_two_leads_merged_into_each_other_at_once_leave_one(tenant, pipeline, owner):
    """A←B and B←A released together: one merge wins (200), the other finds its lead gone (404), never a 500."""
    first = services.lead_create(tenant=tenant, name="Первый", phone="+79161230001")
    second = services.lead_create(tenant=tenant, name="Второй", email="second@example.com")
    LeadTaskFactory(lead=first, assigned_to=owner)
    LeadTaskFactory(lead=second, assigned_to=owner)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def merge(into, other):
        try:
            client = client_for(owner)
            barrier.wait(timeout=30)
            statuses.append(_merge(client, into.pk, {"from_lead_id": other.pk}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=merge, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200, 404]
    survivor = Lead.objects.get(tenant=tenant)
    assert LeadTask.objects.filter(lead=survivor).count() == 2
    assert LeadHistory.objects.filter(lead=survivor, kind=HistoryKind.MERGED).count() == 1
    assert (survivor.phone, survivor.email) == ("+79161230001", "second@example.com")
