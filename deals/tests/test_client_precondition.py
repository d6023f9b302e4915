"""The unconfirmed-client precondition (SPEC §11): no issuing/active deal and no active policy for a client that is
not `active` — 412 `precondition_failed` with `details.client_id`, and nothing changes."""

import pytest

from deals.models import Deal, JournalEntry, Policy
from deals.tests.conftest import assert_error
from deals.tests.factories import ClientFactory, DealFactory, PolicyFactory

POLICY_BODY = {
    "policy_number": "P-77",
    "insurer": "Ингосстрах",
    "effective_from": "2025-01-01",
    "effective_to": "2025-12-31",
    "premium_amount": 1000,
}


def _deal(tenant, owner, *, client_status: str, status: str) -> Deal:
    client = ClientFactory(tenant=tenant, status=client_status)
    return DealFactory(tenant=tenant, client=client, sales_agent=owner, status=status)


def _unchanged(deal: Deal, status: str) -> None:
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.status, stored.version) == (status, 1)
    assert not JournalEntry.objects.filter(deal=deal).exists()


@pytest.mark.parametrize("client_status", ["potential", "inactive"])
@pytest.mark.parametrize(("current", "target"), [("awaiting_client", "issuing"), ("issuing", "active")])
def test_a_deal_of_an_unconfirmed_client_neither_issues_nor_activates(
    owner_client, tenant, owner, client_status, current, target
):
    deal = _deal(tenant, owner, client_status=client_status, status=current)

    response = owner_client.patch(f"/api/v1/deals/{deal.pk}", {"status": target, "title": "Другое"}, format="json")

    assert_error(response, 412, "precondition_failed", "client_id")
    _unchanged(deal, current)
    assert Deal.objects.get(pk=deal.pk).title == deal.title


@pytest.mark.parametrize(
    ("current", "target"),
    [("draft", "estimating"), ("estimating", "awaiting_client"), ("awaiting_client", "closed"), ("issuing", "closed")],
)
def test_other_moves_need_no_confirmed_client(owner_client, tenant, owner, current, target):
    deal = _deal(tenant, owner, client_status="potential", status=current)

    response = owner_client.patch(f"/api/v1/deals/{deal.pk}", {"status": target}, format="json")

    assert response.status_code == 200, response.content
    assert Deal.objects.get(pk=deal.pk).status == target


def test_an_active_client_lets_the_deal_issue_and_activate(owner_client, tenant, owner):
    deal = _deal(tenant, owner, client_status="active", status="awaiting_client")

    for target in ("issuing", "active"):
        response = owner_client.patch(f"/api/v1/deals/{deal.pk}", {"status": target}, format="json")
        assert (response.status_code, response.json()["status"]) == (200, target)


def test_a_forbidden_move_is_400_before_the_client_is_asked(owner_client, tenant, owner):
    deal = _deal(tenant, owner, client_status="potential", status="draft")

    response = owner_client.patch(f"/api/v1/deals/{deal.pk}", {"status": "active"}, format="json")

    assert_error(response, 400, "invalid_status_transition")
    _unchanged(deal, "draft")


def test_confirming_the_client_unblocks_the_deal(owner_client, tenant, owner):
    deal = _deal(tenant, owner, client_status="potential", status="awaiting_client")
    assert owner_client.patch(f"/api/v1/deals/{deal.pk}", {"status": "issuing"}, format="json").status_code == 412

    confirmed = owner_client.patch(f"/api/v1/clients/{deal.client_id}", {"status": "active"}, format="json")
    assert confirmed.status_code == 200

    response = owner_client.patch(f"/api/v1/deals/{deal.pk}", {"status": "issuing"}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "issuing")


@pytest.mark.parametrize("client_status", ["potential", "inactive"])
def test_no_active_policy_is_created_for_an_unconfirmed_client(owner_client, tenant, owner, client_status):
    deal = _deal(tenant, owner, client_status=client_status, status="issuing")

    response = owner_client.post(
        f"/api/v1/deals/{deal.pk}/policies", {**POLICY_BODY, "status": "active"}, format="json"
    )

    assert_error(response, 412, "precondition_failed", "client_id")
    assert not Policy.objects.exists()


def test_a_draft_policy_of_an_unconfirmed_client_is_created_but_does_not_activate(owner_client, tenant, owner):
    deal = _deal(tenant, owner, client_status="potential", status="issuing")
    created = owner_client.post(f"/api/v1/deals/{deal.pk}/policies", {**POLICY_BODY, "status": "draft"}, format="json")
    assert created.status_code == 201
    url = f"/api/v1/policies/{created.json()['id']}"

    response = owner_client.patch(url, {"status": "active", "documents": ["scan.pdf"]}, format="json")

    assert_error(response, 412, "precondition_failed", "client_id")
    stored = Policy.objects.get(pk=created.json()["id"])
    assert (stored.status, stored.documents, stored.version) == ("draft", [], 1)


def test_a_renewal_due_policy_does_not_return_to_active_for_an_unconfirmed_client(owner_client, tenant, owner):
    deal = _deal(tenant, owner, client_status="inactive", status="active")
    policy = PolicyFactory(deal=deal, tenant=tenant, status="renewal_due")

    response = owner_client.patch(f"/api/v1/policies/{policy.pk}", {"status": "active"}, format="json")

    assert_error(response, 412, "precondition_failed", "client_id")
    assert Policy.objects.get(pk=policy.pk).status == "renewal_due"
    # Closing needs no confirmed client.
    closed = owner_client.patch(f"/api/v1/policies/{policy.pk}", {"status": "closed"}, format="json")
    assert closed.status_code == 200
