"""`POST /api/leads/{id}/convert` (SPEC §12 «Into a deal»): a lead becomes a v1 client and deal."""

import json
import threading
import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_eventstream.models import Event

from conftest import client_for
from crm.tests.factories import UserFactory
from deals.models import Client, Deal, JournalEntry
from deals.tests.factories import ClientFactory, DealFactory
from events.models import WebhookSubscription
from pipelines.models import HistoryKind, Lead, LeadHistory

RESULT_KEYS = {"lead_id", "client_id", "deal_id", "client_created"}
PARALLEL = 6


def _convert(api, lead, body=None):
    return api.post(f"/api/leads/{lead.pk}/convert", body if body is not None else {}, format="json")


def _stored() -> dict:
    """Every row of the apps a conversion writes to: a refused conversion leaves all of them as they were."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for label in ("pipelines", "deals", "events")
        for model in apps.get_app_config(label).get_models()
    }


def _error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code, body
    if field is not None:
        assert field in body["details"], body
    return body


@pytest.fixture
def lead(make_lead, manager):
    return make_lead(name="Анна Петрова", phone="+79161234567", email="Anna@Example.com", assigned_to=manager)


# ---------------------------------------------------------------- happy paths


def test_convert_creates_a_potential_individual_client_and_a_draft_deal(owner_client, owner, manager, lead, events):
    with events.capture():
        response = _convert(owner_client, lead)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == RESULT_KEYS
    assert body["lead_id"] == lead.pk
    assert body["client_created"] is True
    client = Client.objects.get(pk=body["client_id"])
    assert client.tenant_id == lead.tenant_id
    assert (client.type, client.status, client.full_name) == ("individual", "potential", "Анна Петрова")
    assert [(c["type"], c["value"]) for c in client.contacts] == [
        ("phone", "+79161234567"),
        ("email", "Anna@Example.com"),
    ]
    deal = Deal.objects.get(pk=body["deal_id"])
    assert (deal.client_id, deal.title, deal.status, deal.lead_id) == (client.pk, "Анна Петрова", "draft", lead.pk)
    assert deal.sales_agent_id == manager.uuid  # the lead's assignee
    assert [e.lead_id for e in events.sent if e.event_type == "lead_updated"] == [lead.pk]


def test_the_lead_and_the_deal_show_each_other(owner_client, lead):
    body = _convert(owner_client, lead).json()

    shown = owner_client.get(f"/api/leads/{lead.pk}").json()
    assert (shown["client_id"], shown["deal_id"]) == (body["client_id"], body["deal_id"])
    assert shown["version"] == lead.version + 1
    listed = owner_client.get("/api/leads").json()["leads"]
    assert {row["id"]: row["deal_id"] for row in listed}[lead.pk] == body["deal_id"]
    assert owner_client.get(f"/api/v1/deals/{body['deal_id']}").json()["lead_id"] == lead.pk
    assert {row["id"]: row["lead_id"] for row in owner_client.get("/api/v1/deals").json()}[body["deal_id"]] == lead.pk


def test_the_webhook_log_gets_the_client_the_deal_and_the_lead(owner_client, tenant, lead):
    WebhookSubscription.objects.create(
        tenant=tenant, url="https://hooks.example.com/crm", events=["lead_updated"], secret="whsec_dGVzdA=="
    )

    body = _convert(owner_client, lead).json()

    # eid 0: on SQLite, the library's row that starts a channel (no event)
    rows = Event.objects.filter(channel=f"webhooks-{tenant.pk}").exclude(eid=0).order_by("pk")
    logged = [(row.type, json.loads(row.data)) for row in rows]
    assert [(kind, data["id"]) for kind, data in logged] == [
        ("client_created", body["client_id"]),
        ("deal_created", body["deal_id"]),
        ("lead_updated", lead.pk),
    ]
    assert logged[1][1]["lead_id"] == lead.pk
    assert (logged[2][1]["client_id"], logged[2][1]["deal_id"]) == (body["client_id"], body["deal_id"])


def test_history_records_the_conversion_and_the_journal_a_system_entry(owner_client, owner, lead):
    body = _convert(owner_client, lead).json()

    history = owner_client.get(f"/api/leads/{lead.pk}/history").json()["history"]
    assert history[0]["kind"] == "converted"
    assert history[0]["user_id"] == owner.pk
    assert "Анна Петрова" in history[0]["text"]
    journal = owner_client.get(f"/api/v1/deals/{body['deal_id']}/journal").json()
    assert [(entry["kind"], entry["author_id"]) for entry in journal] == [("system", str(owner.uuid))]
    assert f"№{lead.pk}" in journal[0]["text"]


@pytest.mark.parametrize(
    "contact",
    [
        {"type": "phone", "value": "8 (916) 123-45-67"},
        {"type": "whatsapp", "value": "+7 916 123 45 67"},
        {"type": "email", "value": "anna@example.COM"},
    ],
    ids=["national-phone", "formatted-phone", "email-any-case"],
)
def test_a_client_with_the_leads_phone_or_email_is_reused(owner_client, tenant, lead, contact):
    ClientFactory(tenant=tenant, full_name="Другая", contacts=[{"type": "phone", "value": "+79990000000"}])
    known = ClientFactory(tenant=tenant, full_name="Анна П.", contacts=[{**contact, "name": "", "is_primary": True}])
    clients_before = Client.objects.count()

    body = _convert(owner_client, lead).json()

    assert body["client_created"] is False
    assert body["client_id"] == str(known.pk)
    assert Client.objects.count() == clients_before
    assert Client.objects.get(pk=known.pk).contacts == [{**contact, "name": "", "is_primary": True}]


def test_a_similar_number_or_another_tenants_client_is_not_reused(owner_client, tenant, other_tenant, lead):
    # Same last digits, another number; and the very same contacts in another tenant.
    ClientFactory(tenant=tenant, contacts=[{"type": "phone", "value": "+7 926 123-45-67"}])
    ClientFactory(tenant=other_tenant, contacts=[{"type": "phone", "value": "+79161234567"}])

    body = _convert(owner_client, lead).json()

    assert body["client_created"] is True
    assert Client.objects.get(pk=body["client_id"]).tenant_id == tenant.pk


def test_the_oldest_matching_client_is_reused(owner_client, tenant, lead):
    first = ClientFactory(tenant=tenant, contacts=[{"type": "email", "value": "anna@example.com"}])
    ClientFactory(tenant=tenant, contacts=[{"type": "phone", "value": "+79161234567"}])

    assert _convert(owner_client, lead).json()["client_id"] == str(first.pk)


def test_a_named_client_title_agent_and_description(owner_client, tenant, rop, lead):
    chosen = ClientFactory(tenant=tenant, full_name="ООО Выбранный")

    response = _convert(
        owner_client,
        lead,
        {
            "client_id": str(chosen.pk),
            "deal": {"title": "КАСКО для Анны", "sales_agent_id": str(rop.uuid), "description": "Из лида"},
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["client_id"], body["client_created"]) == (str(chosen.pk), False)
    deal = Deal.objects.get(pk=body["deal_id"])
    assert (deal.client_id, deal.title, deal.sales_agent_id, deal.description) == (
        chosen.pk,
        "КАСКО для Анны",
        rop.uuid,
        "Из лида",
    )


def test_nulls_mean_the_defaults(owner_client, manager, lead):
    response = _convert(owner_client, lead, {"client_id": None, "deal": {"title": None, "sales_agent_id": None}})

    assert response.status_code == 201, response.content
    deal = Deal.objects.get(pk=response.json()["deal_id"])
    assert (deal.title, deal.sales_agent_id, deal.description) == ("Анна Петрова", manager.uuid, "")


def test_an_unassigned_lead_goes_to_the_caller(owner_client, owner, make_lead):
    lead = make_lead(name="Без ответственного", phone=None, email=None)

    body = _convert(owner_client, lead).json()

    deal = Deal.objects.get(pk=body["deal_id"])
    assert deal.sales_agent_id == owner.uuid
    assert Client.objects.get(pk=body["client_id"]).contacts == []


def test_a_deactivated_assignee_is_replaced_by_the_caller(owner_client, owner, tenant, make_lead):
    gone = UserFactory(tenant=tenant, role="manager", username="gone", is_active=False)
    lead = make_lead(assigned_to=gone)

    body = _convert(owner_client, lead).json()

    assert Deal.objects.get(pk=body["deal_id"]).sales_agent_id == owner.uuid


def test_a_manager_converts_their_own_lead(manager_client, manager, lead):
    response = _convert(manager_client, lead)

    assert response.status_code == 201, response.content
    assert Deal.objects.get(pk=response.json()["deal_id"]).sales_agent_id == manager.uuid


# ---------------------------------------------------------------- refusals: nothing stored


def test_a_second_convert_is_a_conflict(owner_client, lead):
    first = _convert(owner_client, lead).json()
    before = _stored()

    _error(_convert(owner_client, lead), 409, "conflict")

    assert _stored() == before
    assert Lead.objects.get(pk=lead.pk).deal_id == uuid.UUID(first["deal_id"])


def test_a_colleagues_lead_is_forbidden_to_a_manager(api_client, tenant, make_lead, lead):
    colleague = UserFactory(tenant=tenant, role="manager", username="colleague")
    before = _stored()

    _error(_convert(api_client(colleague), lead), 403, "forbidden")

    assert _stored() == before


def test_a_manager_may_not_make_a_colleague_the_agent(manager_client, tenant, lead):
    colleague = UserFactory(tenant=tenant, role="manager", username="colleague")
    before = _stored()

    _error(_convert(manager_client, lead, {"deal": {"sales_agent_id": str(colleague.uuid)}}), 403, "forbidden")

    assert _stored() == before


def test_another_tenants_lead_is_not_found(api_client, foreign_owner, lead):
    before = _stored()

    _error(_convert(api_client(foreign_owner), lead), 404, "not_found")
    _error(_convert(api_client(foreign_owner), type("L", (), {"pk": "nope"})), 404, "not_found")
    _error(_convert(api_client(foreign_owner), type("L", (), {"pk": 2**63})), 404, "not_found")

    assert _stored() == before


def test_anonymous_is_unauthorized(lead):
    _error(_convert(client_for(None), lead), 401, "unauthorized")


def _foreign_client(other_tenant):
    return str(ClientFactory(tenant=other_tenant).pk)


def _foreign_user(other_tenant):
    return str(UserFactory(tenant=other_tenant, role="owner", username="stranger").uuid)


def _inactive_user(tenant):
    return str(UserFactory(tenant=tenant, role="manager", username="left", is_active=False).uuid)


@pytest.mark.parametrize(
    ("make_body", "field"),
    [
        (lambda t, o: {"client_id": _foreign_client(o)}, "client_id"),
        (lambda t, o: {"client_id": str(uuid.uuid4())}, "client_id"),
        (lambda t, o: {"client_id": "not-a-uuid"}, "client_id"),
        (lambda t, o: {"client_id": 5}, "client_id"),
        (lambda t, o: {"deal": {"sales_agent_id": _foreign_user(o)}}, "deal.sales_agent_id"),
        (lambda t, o: {"deal": {"sales_agent_id": str(uuid.uuid4())}}, "deal.sales_agent_id"),
        (lambda t, o: {"deal": {"sales_agent_id": _inactive_user(t)}}, "deal.sales_agent_id"),
        (lambda t, o: {"deal": {"sales_agent_id": 7}}, "deal.sales_agent_id"),
        (lambda t, o: {"deal": {"title": ""}}, "deal.title"),
        (lambda t, o: {"deal": {"title": 12}}, "deal.title"),
        (lambda t, o: {"deal": {"title": "x" * 256}}, "deal.title"),
        (lambda t, o: {"deal": {"description": ["x"]}}, "deal.description"),
        (lambda t, o: {"deal": {"description": "x" * 10_001}}, "deal.description"),
        (lambda t, o: {"deal": "КАСКО"}, "deal"),
        (lambda t, o: {"deal": []}, "deal"),
    ],
    ids=[
        "foreign-client",
        "unknown-client",
        "malformed-client",
        "number-client",
        "foreign-agent",
        "unknown-agent",
        "deactivated-agent",
        "number-agent",
        "blank-title",
        "number-title",
        "long-title",
        "list-description",
        "long-description",
        "string-deal",
        "list-deal",
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(owner_client, tenant, other_tenant, lead, make_body, field):
    body = make_body(tenant, other_tenant)
    before = _stored()

    _error(_convert(owner_client, lead, body), 400, "validation_error", field)

    assert _stored() == before


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"{", b"null"])
def test_a_body_that_is_not_an_object_is_a_validation_error(owner_client, lead, raw):
    before = _stored()

    response = owner_client.generic("POST", f"/api/leads/{lead.pk}/convert", raw, content_type="application/json")

    _error(response, 400, "validation_error")
    assert _stored() == before


def test_a_failure_in_the_deal_rolls_back_the_new_client(owner_client, tenant, manager, lead):
    # The contact-matched client already has an open deal with the lead's name: 409 deal_conflict, and no client,
    # journal entry or history is left behind.
    known = ClientFactory(tenant=tenant, contacts=[{"type": "phone", "value": "+79161234567"}])
    DealFactory(tenant=tenant, client=known, title="Анна Петрова", sales_agent=manager)
    before = _stored()

    _error(_convert(owner_client, lead), 409, "deal_conflict")

    assert _stored() == before
    assert not LeadHistory.objects.filter(kind=HistoryKind.CONVERTED).exists()


def test_a_failure_after_the_client_was_created_stores_nothing(owner_client, tenant, lead, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("journal down")

    monkeypatch.setattr("deals.services.journal_entry_create", broken)
    before = _stored()

    response = _convert(owner_client, lead)

    _error(response, 500, "internal_error")
    assert _stored() == before
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_converts_of_one_lead_make_one_deal(owner, manager, lead):
    barrier = threading.Barrier(PARALLEL)
    statuses, errors = [], []

    def run():
        api = client_for(owner)
        try:
            barrier.wait(timeout=10)
            statuses.append(_convert(api, lead).status_code)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(statuses) == [201] + [409] * (PARALLEL - 1)
    assert Deal.objects.filter(lead_id=lead.pk).count() == 1
    assert Client.objects.count() == 1
    assert LeadHistory.objects.filter(lead=lead, kind=HistoryKind.CONVERTED).count() == 1


# ---------------------------------------------------------------- cost


def _queries_of_a_conversion(api, lead) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = _convert(api, lead)
    assert response.status_code == 201, response.content
    return len([query for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]])


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite numbers events through the library, which creates a channel's counter on first use",
)
def test_a_conversion_costs_the_same_few_queries_whatever_the_clients(owner_client, tenant, make_lead):
    first = _queries_of_a_conversion(owner_client, make_lead(phone="+79160000001"))
    # Candidates that the contact filter finds (the number in a tax number, a longer number) but that do not match.
    for n in range(20):
        ClientFactory(tenant=tenant, tax_number=f"{n}9160000002", contacts=[{"type": "other", "value": "9160000002 9"}])

    assert _queries_of_a_conversion(owner_client, make_lead(phone="+79160000002")) == first <= 25


# ---------------------------------------------------------------- the back-office action «Создать сделку»


def _admin_convert(client, leads):
    data = {"action": "convert_to_deals", "_selected_action": [lead.pk for lead in leads]}
    response = client.post("/admin/pipelines/lead/", data, follow=True)
    assert response.status_code == 200
    return [(message.level_tag, str(message)) for message in response.context["messages"]]


def test_the_admin_action_converts_each_lead_and_reports_each_refusal(client, owner, manager, tenant, make_lead):
    fresh = make_lead(name="Новый", phone="+79160000011", assigned_to=manager)
    converted = make_lead(name="Уже сделка", phone="+79160000012")
    _convert(client_for(owner), converted)
    gone = UserFactory(tenant=tenant, role="manager", username="gone", is_active=False)
    known = ClientFactory(tenant=tenant, contacts=[{"type": "phone", "value": "+79160000013"}])
    clashing = make_lead(name="Дубль", phone="+79160000013", assigned_to=gone)
    DealFactory(tenant=tenant, client=known, title="Дубль", sales_agent=owner)
    client.force_login(owner)

    messages = _admin_convert(client, [fresh, converted, clashing])

    assert ("error", "«Уже сделка»: Уже преобразован в сделку.") in messages
    assert any(level == "error" and text.startswith("«Дубль»: ") for level, text in messages)
    assert ("success", "Создана сделка: «Новый».") in messages
    deal = Deal.objects.get(lead_id=fresh.pk)
    assert (deal.sales_agent_id, Lead.objects.get(pk=fresh.pk).deal_id) == (manager.uuid, deal.pk)
    assert LeadHistory.objects.get(lead=fresh, kind=HistoryKind.CONVERTED).user == owner
    assert not Deal.objects.filter(lead_id=clashing.pk).exists()
    assert Lead.objects.get(pk=clashing.pk).client_id is None


def test_a_manager_converts_only_their_own_leads_in_the_admin(client, manager, tenant, make_lead):
    colleague = UserFactory(tenant=tenant, role="manager", username="colleague")
    mine = make_lead(name="Мой", assigned_to=manager)
    theirs = make_lead(name="Чужой", assigned_to=colleague)
    client.force_login(manager)

    listing = client.get("/admin/pipelines/lead/")
    messages = _admin_convert(client, [mine, theirs])

    assert "convert_to_deals" in [name for name, _ in listing.context["action_form"].fields["action"].choices]
    assert messages == [("success", "Создана сделка: «Мой».")]
    assert Deal.objects.get(lead_id=mine.pk).sales_agent_id == manager.uuid
    assert not Deal.objects.filter(lead_id=theirs.pk).exists()


def test_a_superuser_needs_an_assignee_to_convert(client, tenant, make_lead):
    superuser = UserFactory(tenant=None, role="owner", username="root", is_superuser=True, is_staff=True)
    lead = make_lead(name="Ничей")
    client.force_login(superuser)

    messages = _admin_convert(client, [lead])

    assert messages == [("error", "«Ничей»: У лида нет ответственного: назначьте его, он станет агентом сделки.")]
    assert not Deal.objects.exists()
    assert not Client.objects.exists()
