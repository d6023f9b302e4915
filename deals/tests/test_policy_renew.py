"""`POST /api/v1/policies/{id}/renew` (SPEC §13): the renewal deal, linked both ways; its active policy closes
the renewed one."""

import json
import uuid

import pytest
from django_eventstream.models import Event

from deals.models import Deal, JournalEntry, Policy
from deals.tests.conftest import assert_error
from deals.tests.factories import PolicyFactory
from events.webhooks.services import subscription_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/policies"


def renew(client, policy, **headers):
    return client.post(f"{URL}/{policy.id}/renew", format="json", **headers)


@pytest.fixture
def active_policy(deal, owner):
    deal.executor = owner
    deal.save(update_fields=["executor"])
    return PolicyFactory(deal=deal, policy_number="OLD-1", status="active")


def successor_body(**fields) -> dict:
    return {
        "policy_number": "NEW-1",
        "insurer": "Ингосстрах",
        "effective_from": "2026-01-01",
        "effective_to": "2026-12-31",
        "premium_amount": 1000,
        **fields,
    }


@pytest.mark.parametrize("status", ["active", "renewal_due"])
def test_renew_opens_a_draft_deal_linked_both_ways(manager_client, deal, manager, owner, active_policy, status):
    Policy.objects.filter(pk=active_policy.pk).update(status=status)

    response = renew(manager_client, active_policy)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["title"] == "Продление: КАСКО Toyota"
    assert (body["client_id"], body["client_name"]) == (str(deal.client_id), "ООО Ромашка")
    assert (body["sales_agent_id"], body["executor_id"]) == (str(manager.uuid), str(owner.uuid))
    assert body["renews_policy_id"] == str(active_policy.id)
    assert body["version"] == 1
    assert response["ETag"] == '"1"'
    stored = Deal.objects.get(pk=body["id"])
    assert stored.renews_policy_id == active_policy.id
    assert manager_client.get(f"{URL}/{active_policy.id}").json()["renewal_deal_id"] == body["id"]
    assert manager_client.get(f"/api/v1/deals/{body['id']}").json()["renews_policy_id"] == str(active_policy.id)
    # The renewed policy itself is untouched until its successor becomes active.
    active_policy.refresh_from_db()
    assert (active_policy.status, active_policy.version) == (status, 1)
    assert JournalEntry.objects.filter(deal=deal, kind="system", text__contains="OLD-1").count() == 1
    assert JournalEntry.objects.filter(deal=stored, kind="system", text__contains="OLD-1").count() == 1


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_a_draft_or_closed_policy_is_not_renewed(owner_client, deal, status):
    policy = PolicyFactory(deal=deal, status=status)

    assert_error(renew(owner_client, policy), 400, "validation_error", "status")
    assert Deal.objects.count() == 1
    assert not JournalEntry.objects.exists()


def test_a_second_renewal_is_409_conflict(owner_client, active_policy):
    first = renew(owner_client, active_policy)

    assert first.status_code == 201, first.content
    assert_error(renew(owner_client, active_policy), 409, "conflict")
    assert Deal.objects.filter(renews_policy=active_policy).count() == 1
    assert Deal.objects.count() == 2


def test_the_idempotency_key_replays_the_renewal(owner_client, active_policy):
    key = str(uuid.uuid4())

    first = renew(owner_client, active_policy, HTTP_IDEMPOTENCY_KEY=key)
    second = renew(owner_client, active_policy, HTTP_IDEMPOTENCY_KEY=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Deal.objects.count() == 2


def test_a_key_that_is_not_a_uuid_is_400(owner_client, active_policy):
    assert_error(renew(owner_client, active_policy, HTTP_IDEMPOTENCY_KEY="abc"), 400, "validation_error")
    assert Deal.objects.count() == 1


def test_a_colleague_manager_is_403_and_nothing_is_created(api_client, other_manager, active_policy):
    assert_error(renew(api_client(other_manager), active_policy), 403, "forbidden")
    assert Deal.objects.count() == 1


def test_another_tenants_or_unknown_policy_is_404(api_client, foreign_owner, owner_client, active_policy):
    assert_error(renew(api_client(foreign_owner), active_policy), 404, "policy_not_found")
    assert_error(owner_client.post(f"{URL}/{uuid.uuid4()}/renew"), 404, "policy_not_found")
    assert_error(owner_client.post(f"{URL}/not-a-uuid/renew"), 404, "policy_not_found")
    assert Deal.objects.count() == 1


def test_only_post_is_allowed(owner_client, active_policy):
    assert_error(owner_client.get(f"{URL}/{active_policy.id}/renew"), 405, "method_not_allowed")
    assert_error(owner_client.post(URL, successor_body(), format="json"), 405, "method_not_allowed")


def test_a_long_title_is_shortened_to_fit(owner_client, deal, active_policy):
    Deal.objects.filter(pk=deal.pk).update(title="Т" * 255)

    response = renew(owner_client, active_policy)

    assert response.status_code == 201, response.content
    title = response.json()["title"]
    assert len(title) == 255
    assert title.startswith("Продление: ТТТ")
    assert title.endswith("…")


def test_renewing_a_second_policy_of_the_same_deal_meets_the_open_title_rule(owner_client, deal, active_policy):
    second = PolicyFactory(deal=deal, status="active")
    assert renew(owner_client, active_policy).status_code == 201

    assert_error(renew(owner_client, second), 409, "deal_conflict")
    assert Deal.objects.count() == 2


def test_the_renewal_deals_created_event_names_the_renewed_policy(owner_client, tenant, active_policy, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    subscription_create(tenant=tenant, url="http://127.0.0.1:9/hooks", events=["deal_created", "deal_updated"])

    response = renew(owner_client, active_policy)

    assert response.status_code == 201, response.content
    logged = [
        (row.type, json.loads(row.data))
        for row in Event.objects.filter(channel=f"webhooks-{tenant.pk}").exclude(eid=0).order_by("pk")
    ]
    assert [event_type for event_type, _ in logged] == ["deal_created"]
    assert logged[0][1]["id"] == response.json()["id"]
    assert logged[0][1]["renews_policy_id"] == str(active_policy.id)
