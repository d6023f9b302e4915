"""Concurrent creates against real PostgreSQL: the database constraints (not check-then-act) decide the winner."""

import threading
import uuid

import pytest
from django.db import connection

from conftest import client_for
from deals.models import Client, Deal, Payment, Policy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and unique indexes need PostgreSQL"),
]


def fire(user, url, body, *, count, headers=None):
    """POST the same request from `count` threads released at once; return the status codes."""
    barrier = threading.Barrier(count)
    statuses, errors = [], []
    client_headers = headers or {}

    def run():
        client = client_for(user)
        try:
            barrier.wait(timeout=10)
            statuses.append(client.post(url, body, format="json", **client_headers).status_code)
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return sorted(statuses)


def test_concurrent_clients_with_one_tax_number_give_one_201(owner):
    body = {"type": "company", "full_name": "ООО Гонка", "status": "active", "tax_number": "7700000001"}

    statuses = fire(owner, "/api/v1/clients", body, count=6)

    assert statuses == [201] + [409] * 5
    assert Client.objects.filter(tax_number="7700000001").count() == 1


def test_concurrent_open_deals_with_one_title_give_one_201(owner, client_obj, manager):
    body = {"client_id": str(client_obj.id), "title": "Гонка", "sales_agent_id": str(manager.uuid)}

    statuses = fire(owner, "/api/v1/deals", body, count=6)

    assert statuses == [201] + [409] * 5
    assert Deal.objects.filter(title="Гонка").count() == 1


def test_concurrent_policies_with_one_number_give_one_201(owner, deal):
    body = {
        "policy_number": "RACE-1",
        "insurer": "СОГАЗ",
        "effective_from": "2025-01-01",
        "effective_to": "2025-12-31",
        "premium_amount": 1000,
        "status": "draft",
    }

    statuses = fire(owner, f"/api/v1/deals/{deal.id}/policies", body, count=6)

    assert statuses == [201] + [409] * 5
    assert Policy.objects.filter(policy_number="RACE-1").count() == 1


def test_twenty_identical_idempotent_requests_create_one_object(owner, deal, policy):
    body = {
        "deal_id": str(deal.id),
        "policy_id": str(policy.id),
        "payment_type": "commission_income",
        "amount": 500.5,
        "currency": "RUB",
    }

    statuses = fire(owner, "/api/v1/payments", body, count=20, headers={"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())})

    assert Payment.objects.count() == 1
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
