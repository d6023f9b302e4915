"""`DELETE /api/leads/{id}` and the back-office's delete (SPEC §12, personal data erasure): the lead, its tasks,
history and stored payloads are gone; webhooks get `lead_deleted` with only the id."""

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django_eventstream.models import Event

from conftest import client_for
from crm.tests.factories import TEST_PASSWORD
from events.models import WebhookSubscription
from events.tests.recording import Emitted
from pipelines import services
from pipelines.models import InboundDelivery, Lead, LeadHistory
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory


def _state() -> dict:
    return {
        "leads": list(Lead.objects.order_by("pk").values()),
        "history": list(LeadHistory.objects.order_by("pk").values()),
        "tasks": list(LeadTask.objects.order_by("pk").values()),
        "deliveries": list(InboundDelivery.objects.order_by("pk").values()),
    }


def _assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert (set(body), body["error"]) == ({"error", "message", "details"}, code)


@pytest.fixture
def webhook_lead(api_client, tenant, pipeline, manager):
    """A lead as a site form made it (payload kept, delivery id), with a second message, a task and an assignee."""
    site = reverse("webhook-site", args=[tenant.webhook_key])
    client = api_client(None)
    first = {"name": "Ольга", "phone": "+79167770000", "message": "Перезвоните"}
    lead_id = client.post(site, first, format="json", HTTP_IDEMPOTENCY_KEY="form-1").json()["lead_id"]
    client.post(site, {"phone": "+79167770000", "message": "Жду звонка"}, format="json", HTTP_IDEMPOTENCY_KEY="form-2")
    Lead.objects.filter(pk=lead_id).update(assigned_to=manager)
    lead = Lead.objects.get(pk=lead_id)
    LeadTaskFactory(lead=lead)
    return lead


def _erased(lead_id: int) -> bool:
    return not (
        Lead.objects.filter(pk=lead_id).exists()
        or LeadHistory.objects.filter(lead_id=lead_id).exists()
        or LeadTask.objects.filter(lead_id=lead_id).exists()
        or InboundDelivery.objects.filter(lead_id=lead_id).exists()
    )


@pytest.mark.parametrize("role", ["owner", "admin", "rop"])
def test_a_supervisor_erases_a_lead(request, tenant, webhook_lead, manager, events, role):
    user = request.getfixturevalue({"owner": "owner", "admin": "admin_user", "rop": "rop"}[role])
    client = client_for(user)
    assert LeadHistory.objects.filter(lead=webhook_lead, payload__isnull=False).count() == 2
    with events.capture():
        response = client.delete(f"/api/leads/{webhook_lead.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert _erased(webhook_lead.pk)
    _assert_error(client.get(f"/api/leads/{webhook_lead.pk}"), 404, "not_found")
    _assert_error(client.get(f"/api/leads/{webhook_lead.pk}/history"), 404, "not_found")
    _assert_error(client.delete(f"/api/leads/{webhook_lead.pk}"), 404, "not_found")
    # Streams hear of it as an update: reading the lead again answers 404 (SPEC §8 has no removal type).
    assert events.sent == [Emitted("lead_updated", tenant.pk, webhook_lead.pk, frozenset({manager.pk}))]


def test_other_leads_and_their_rows_stay(owner_client, owner, tenant, pipeline, webhook_lead):
    other = services.lead_create(tenant=tenant, name="Другой", phone="+79168880000")
    task = LeadTaskFactory(lead=other, assigned_to=owner)
    owner_client.delete(f"/api/leads/{webhook_lead.pk}")
    assert Lead.objects.filter(pk=other.pk).exists()
    assert LeadTask.objects.filter(pk=task.pk).exists()
    assert LeadHistory.objects.filter(lead=other).count() == 1


def test_webhooks_get_lead_deleted_with_only_the_id(owner_client, tenant, webhook_lead):
    WebhookSubscription.objects.create(
        tenant=tenant, url="https://93.184.215.14/hooks", events=["lead_deleted"], secret="whsec_dGVzdA=="
    )
    owner_client.delete(f"/api/leads/{webhook_lead.pk}")
    logged = [
        (row.type, json.loads(row.data))
        for row in Event.objects.filter(channel=f"webhooks-{tenant.pk}", type__startswith="lead_")
    ]
    assert logged == [("lead_deleted", {"id": webhook_lead.pk})]


def test_what_webhooks_logged_of_the_lead_is_forgotten(owner_client, tenant, pipeline):
    WebhookSubscription.objects.create(
        tenant=tenant, url="https://93.184.215.14/hooks", events=["lead_created"], secret="whsec_dGVzdA=="
    )
    erased = services.lead_create(tenant=tenant, name="Ольга Секретова", phone="+79167771234")
    services.lead_touch(lead=erased, kind="message", text="Ещё", payload={"message": "Ещё"})
    kept = services.lead_create(tenant=tenant, name="Остаётся", phone="+79167775678")
    owner_client.delete(f"/api/leads/{erased.pk}")
    rows = Event.objects.filter(channel=f"webhooks-{tenant.pk}", type__startswith="lead_").order_by("pk")
    logged = [(row.type, json.loads(row.data)) for row in rows]
    assert [(kind, data) for kind, data in logged if data["id"] == erased.pk] == [
        ("lead_created", {"id": erased.pk}),
        ("lead_updated", {"id": erased.pk}),
        ("lead_deleted", {"id": erased.pk}),
    ]
    assert not any("Секретова" in json.dumps(data, ensure_ascii=False) for _, data in logged)
    assert ("lead_created", kept.pk, "Остаётся") in [(kind, data["id"], data.get("name")) for kind, data in logged]


def test_the_same_contact_writing_again_after_erasure_is_a_new_lead(api_client, owner_client, tenant, webhook_lead):
    owner_client.delete(f"/api/leads/{webhook_lead.pk}")
    site = reverse("webhook-site", args=[tenant.webhook_key])
    response = api_client(None).post(site, {"phone": "+79167770000"}, format="json", HTTP_IDEMPOTENCY_KEY="form-1")
    assert response.status_code == 201
    assert response.json()["lead_id"] != webhook_lead.pk


def test_a_manager_may_not_erase_even_their_own_lead(manager_client, webhook_lead):
    before = _state()
    _assert_error(manager_client.delete(f"/api/leads/{webhook_lead.pk}"), 403, "forbidden")
    assert _state() == before


def test_another_tenants_lead_is_404(api_client, foreign_owner, webhook_lead):
    before = _state()
    _assert_error(api_client(foreign_owner).delete(f"/api/leads/{webhook_lead.pk}"), 404, "not_found")
    assert _state() == before


@pytest.mark.parametrize("lead_id", ["999999999", "abc", "0", "-1", str(2**70)])
def test_an_unknown_or_malformed_id_is_404(owner_client, webhook_lead, lead_id):
    _assert_error(owner_client.delete(f"/api/leads/{lead_id}"), 404, "not_found")


def test_anonymous_is_401(webhook_lead):
    _assert_error(client_for(None).delete(f"/api/leads/{webhook_lead.pk}"), 401, "unauthorized")


def test_the_service_refuses_a_manager(manager, webhook_lead):
    from crm.errors import Forbidden

    with pytest.raises(Forbidden):
        services.lead_erase(lead=webhook_lead, acting_user=manager)
    assert Lead.objects.filter(pk=webhook_lead.pk).exists()


# ---------------------------------------------------------------- the back-office


@pytest.fixture
def staff_client(client, owner):
    client.login(username="owner", password=TEST_PASSWORD)
    return client


def _admin_url(page: str, *args) -> str:
    return reverse(f"admin:pipelines_lead_{page}", args=args)


def test_the_back_office_delete_page_erases_through_the_service(staff_client, owner, tenant, webhook_lead, events):
    # The back-office change log names the lead: personal data too.
    LogEntry.objects.create(
        user=owner,
        content_type=ContentType.objects.get_for_model(Lead),
        object_id=str(webhook_lead.pk),
        object_repr=webhook_lead.name,
        action_flag=CHANGE,
    )
    page = staff_client.get(_admin_url("delete", webhook_lead.pk))
    assert page.status_code == 200
    assert not page.context["perms_lacking"]
    with events.capture():
        response = staff_client.post(_admin_url("delete", webhook_lead.pk), {"post": "yes"})
    assert response.status_code == 302
    assert _erased(webhook_lead.pk)
    assert not LogEntry.objects.filter(object_id=str(webhook_lead.pk), content_type__model="lead").exists()
    assert [event.lead_id for event in events.sent] == [webhook_lead.pk]


def test_delete_selected_erases_each_lead_through_the_service(
    staff_client, owner, tenant, pipeline, webhook_lead, events
):
    other = services.lead_create(tenant=tenant, name="Второй", phone="+79169990000")
    LeadTaskFactory(lead=other, assigned_to=owner)
    selected = {"action": "delete_selected", "_selected_action": [webhook_lead.pk, other.pk]}
    confirm = staff_client.post(_admin_url("changelist"), selected)
    assert confirm.status_code == 200
    assert not confirm.context["perms_lacking"]
    with events.capture():
        response = staff_client.post(_admin_url("changelist"), {**selected, "post": "yes"})
    assert response.status_code == 302
    assert _erased(webhook_lead.pk)
    assert _erased(other.pk)
    assert sorted(event.lead_id for event in events.sent) == sorted([webhook_lead.pk, other.pk])


def test_a_manager_cannot_delete_in_the_back_office(client, manager, webhook_lead):
    client.login(username="manager", password=TEST_PASSWORD)
    before = _state()
    assert client.get(_admin_url("delete", webhook_lead.pk)).status_code == 403
    assert client.post(_admin_url("delete", webhook_lead.pk), {"post": "yes"}).status_code == 403
    client.post(
        _admin_url("changelist"), {"action": "delete_selected", "_selected_action": [webhook_lead.pk], "post": "yes"}
    )
    assert _state() == before
