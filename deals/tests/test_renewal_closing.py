"""Renewal closes the renewed (SPEC §13): when a policy of a renewal deal becomes `active`, the policy it renews moves
to `closed` in the same transaction, with a system entry on both deals (and its `policy_updated` event)."""

import json

import pytest
from django_eventstream.models import Event

from deals import services
from deals.models import Deal, JournalEntry, Policy
from deals.tests.conftest import assert_error
from deals.tests.factories import DealFactory, PolicyFactory
from events.webhooks import services as webhook_services

pytestmark = pytest.mark.django_db

URL = "/api/v1/policies"


@pytest.fixture
def active_policy(deal):
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


def open_renewal(policy, actor) -> Deal:
    return services.policy_renew(policy=policy, acting_user=actor)


def test_an_active_successor_created_on_the_renewal_deal_closes_the_renewed_policy(owner, owner_client, active_policy):
    renewal = open_renewal(active_policy, owner)

    response = owner_client.post(f"/api/v1/deals/{renewal.id}/policies", successor_body(status="active"), format="json")

    assert response.status_code == 201, response.content
    active_policy.refresh_from_db()
    assert (active_policy.status, active_policy.version) == ("closed", 2)
    old_notes = JournalEntry.objects.filter(deal=active_policy.deal, kind="system", text__contains="закрыт")
    new_notes = JournalEntry.objects.filter(deal=renewal, kind="system", text__contains="закрыт")
    assert [entry.text for entry in old_notes] == ["Полис OLD-1 закрыт: продлён полисом NEW-1"]
    assert [entry.text for entry in new_notes] == ["Полис NEW-1 действует: полис OLD-1 закрыт"]


def test_a_successor_patched_to_active_closes_the_renewed_due_policy(owner, owner_client, active_policy):
    Policy.objects.filter(pk=active_policy.pk).update(status="renewal_due")
    renewal = open_renewal(active_policy, owner)
    created = owner_client.post(f"/api/v1/deals/{renewal.id}/policies", successor_body(status="draft"), format="json")
    created = created.json()
    active_policy.refresh_from_db()
    assert active_policy.status == "renewal_due"  # a draft successor changes nothing

    response = owner_client.patch(f"{URL}/{created['id']}", {"status": "active"}, format="json")

    assert response.status_code == 200, response.content
    assert owner_client.get(f"{URL}/{active_policy.id}").json()["status"] == "closed"
    assert JournalEntry.objects.filter(deal=renewal, text__contains="OLD-1 закрыт").count() == 1


def test_an_already_closed_renewed_policy_stays_as_it_is(owner, owner_client, active_policy):
    renewal = open_renewal(active_policy, owner)
    owner_client.patch(f"{URL}/{active_policy.id}", {"status": "closed"}, format="json")

    response = owner_client.post(f"/api/v1/deals/{renewal.id}/policies", successor_body(status="active"), format="json")

    assert response.status_code == 201, response.content
    active_policy.refresh_from_db()
    assert (active_policy.status, active_policy.version) == ("closed", 2)
    assert not JournalEntry.objects.filter(text__contains="продлён полисом").exists()


def test_an_active_policy_of_an_ordinary_deal_closes_nothing(owner, owner_client, deal, active_policy):
    other = DealFactory(tenant=deal.tenant, client=deal.client, sales_agent=deal.sales_agent)

    response = owner_client.post(f"/api/v1/deals/{other.id}/policies", successor_body(status="active"), format="json")

    assert response.status_code == 201, response.content
    active_policy.refresh_from_db()
    assert active_policy.status == "active"


def test_a_refused_successor_closes_nothing(owner, owner_client, active_policy, client_obj):
    renewal = open_renewal(active_policy, owner)
    client_obj.status = "potential"
    client_obj.save(update_fields=["status"])

    response = owner_client.post(f"/api/v1/deals/{renewal.id}/policies", successor_body(status="active"), format="json")

    assert_error(response, 412, "precondition_failed", "client_id")
    active_policy.refresh_from_db()
    assert active_policy.status == "active"


def test_the_closing_is_logged_as_policy_updated(owner, owner_client, tenant, active_policy, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    webhook_services.subscription_create(tenant=tenant, url="http://127.0.0.1:9/hooks", events=["policy_updated"])
    renewal = open_renewal(active_policy, owner)

    owner_client.post(f"/api/v1/deals/{renewal.id}/policies", successor_body(status="active"), format="json")

    rows = Event.objects.filter(channel=f"webhooks-{tenant.pk}", type="policy_updated")
    assert [(json.loads(row.data)["id"], json.loads(row.data)["status"]) for row in rows] == [
        (str(active_policy.id), "closed")
    ]
