"""`Idempotency-Key` on every /api/v1 POST (SPEC §9); the concurrent case is in test_concurrency.py."""

import datetime
import uuid

import pytest
from django.urls import get_resolver
from django.utils import timezone

from crm.models import IdempotencyKey
from deals.models import Client, Deal, Payment
from deals.tests.conftest import assert_error

pytestmark = pytest.mark.django_db

CLIENT_BODY = {"type": "company", "full_name": "ООО Идемпотент", "status": "active"}


def post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_replays_the_first_response(owner_client):
    key = str(uuid.uuid4())

    first = post(owner_client, "/api/v1/clients", CLIENT_BODY, key)
    second = post(owner_client, "/api/v1/clients", CLIENT_BODY, key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Client.objects.count() == 1


def test_replay_keeps_money_a_number(manager_client, deal, policy):
    body = {
        "deal_id": str(deal.id),
        "policy_id": str(policy.id),
        "payment_type": "client_premium",
        "amount": 12345.67,
        "currency": "RUB",
    }
    key = str(uuid.uuid4())

    first = post(manager_client, "/api/v1/payments", body, key)
    second = post(manager_client, "/api/v1/payments", body, key)

    assert second.content == first.content
    assert second.json()["amount"] == 12345.67
    assert Payment.objects.count() == 1


def test_same_key_with_a_different_body_is_409(owner_client):
    key = str(uuid.uuid4())
    post(owner_client, "/api/v1/clients", CLIENT_BODY, key)

    response = post(owner_client, "/api/v1/clients", {**CLIENT_BODY, "full_name": "Другой"}, key)

    assert_error(response, 409, "idempotency_key_reused")
    assert Client.objects.count() == 1


def test_same_key_on_another_endpoint_is_409(owner_client, deal):
    key = str(uuid.uuid4())
    post(owner_client, f"/api/v1/deals/{deal.id}/journal", {"text": "a"}, key)

    assert_error(post(owner_client, "/api/v1/clients", {"text": "a"}, key), 409, "idempotency_key_reused")


def test_a_request_still_running_is_409_in_progress(owner_client, owner):
    key = uuid.uuid4()
    first = post(owner_client, "/api/v1/clients", CLIENT_BODY, str(key))
    # The state while the first request runs: the claim is there, the response is not yet.
    IdempotencyKey.objects.filter(key=key).update(response_status=None, response_body=None)

    response = post(owner_client, "/api/v1/clients", CLIENT_BODY, str(key))

    assert first.status_code == 201
    assert_error(response, 409, "idempotency_request_in_progress")
    assert Client.objects.count() == 1


@pytest.mark.parametrize("key", ["not-a-uuid", "123", ""])
def test_a_key_that_is_not_a_uuid_is_400_and_nothing_is_stored(owner_client, key):
    response = post(owner_client, "/api/v1/clients", CLIENT_BODY, key)

    assert_error(response, 400, "validation_error", "Idempotency-Key")
    assert not Client.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_errors_are_not_stored_so_the_client_may_fix_and_retry(owner_client):
    key = str(uuid.uuid4())

    rejected = post(owner_client, "/api/v1/clients", {**CLIENT_BODY, "status": "bogus"}, key)
    fixed = post(owner_client, "/api/v1/clients", CLIENT_BODY, key)

    assert rejected.status_code == 400
    assert fixed.status_code == 201
    assert Client.objects.count() == 1


def test_a_conflict_is_not_stored_either(owner_client, client_obj):
    key = str(uuid.uuid4())
    body = {**CLIENT_BODY, "tax_number": client_obj.tax_number}

    assert_error(post(owner_client, "/api/v1/clients", body, key), 409, "client_exists")
    assert post(owner_client, "/api/v1/clients", {**body, "tax_number": "1"}, key).status_code == 201


def test_keys_are_scoped_to_the_user(api_client, owner, rop):
    key = str(uuid.uuid4())

    post(api_client(owner), "/api/v1/clients", CLIENT_BODY, key)
    response = post(api_client(rop), "/api/v1/clients", CLIENT_BODY, key)

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Client.objects.count() == 2


def test_keys_expire_after_24_hours(owner_client):
    key = uuid.uuid4()
    post(owner_client, "/api/v1/clients", CLIENT_BODY, str(key))
    IdempotencyKey.objects.filter(key=key).update(created_at=timezone.now() - datetime.timedelta(hours=25))

    response = post(owner_client, "/api/v1/clients", CLIENT_BODY, str(key))

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Client.objects.count() == 2


def test_an_abandoned_claim_frees_the_key(owner_client):
    key = uuid.uuid4()
    post(owner_client, "/api/v1/clients", CLIENT_BODY, str(key))
    IdempotencyKey.objects.filter(key=key).update(
        response_status=None, created_at=timezone.now() - datetime.timedelta(hours=1)
    )

    assert post(owner_client, "/api/v1/clients", CLIENT_BODY, str(key)).status_code == 201


def test_requests_without_a_key_are_not_deduplicated(manager_client, client_obj, manager):
    body = {"client_id": str(client_obj.id), "title": "Без ключа", "sales_agent_id": str(manager.uuid)}

    assert manager_client.post("/api/v1/deals", body, format="json").status_code == 201
    assert_error(manager_client.post("/api/v1/deals", body, format="json"), 409, "deal_conflict")
    assert not IdempotencyKey.objects.exists()
    assert Deal.objects.count() == 1


def _v1_post_handlers():
    resolver = get_resolver()
    for pattern in resolver.url_patterns:
        if str(pattern.pattern) != "api/v1/":
            continue
        for route in pattern.url_patterns:
            for method, name in getattr(route.callback, "actions", {}).items():
                if method == "post":
                    yield str(route.pattern), getattr(route.callback.cls, name)


def test_every_v1_post_is_idempotent():
    handlers = list(_v1_post_handlers())

    assert len(handlers) == 8
    assert all(getattr(handler, "is_idempotent", False) for _route, handler in handlers), handlers
