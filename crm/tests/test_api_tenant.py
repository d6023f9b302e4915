"""SPEC §1 tenant settings: owner and admin only; secrets write-only; webhook key rotation."""

import pytest

from crm.models import Tenant
from crm.tests.factories import UserFactory


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owner_and_admin_read_settings(api_client, tenant, role):
    response = api_client(UserFactory(tenant=tenant, role=role)).get("/api/tenant")
    assert response.status_code == 200
    assert response.json() == {
        "id": tenant.id,
        "name": "Acme",
        "slug": "acme",
        "timezone": "Europe/Moscow",
        "phone_region": "RU",
        "webhook_key": tenant.webhook_key,
        "whatsapp_app_secret_set": False,
        "whatsapp_verify_token_set": False,
        "lead_distribution": "none",
        "distribution_user_ids": [],
        "renewal_notice_days": 30,
    }


@pytest.mark.parametrize("role", ["rop", "manager"])
def test_rop_and_manager_are_forbidden(api_client, tenant, role):
    client = api_client(UserFactory(tenant=tenant, role=role))
    assert client.get("/api/tenant").status_code == 403
    assert client.patch("/api/tenant", {"name": "X"}).status_code == 403
    response = client.post("/api/tenant/webhook-key/rotate")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    tenant.refresh_from_db()
    assert tenant.name == "Acme"


def test_patch_settings_and_write_only_secrets(owner_client, tenant):
    response = owner_client.patch(
        "/api/tenant",
        {
            "name": "Acme Ltd",
            "timezone": "Asia/Vladivostok",
            "phone_region": "KZ",
            "whatsapp_app_secret": "s3cret",
            "whatsapp_verify_token": "verify-me",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["whatsapp_app_secret_set"] is True
    assert body["whatsapp_verify_token_set"] is True
    assert "whatsapp_app_secret" not in body
    assert body["timezone"] == "Asia/Vladivostok"
    tenant.refresh_from_db()
    assert (tenant.name, tenant.phone_region, tenant.whatsapp_app_secret) == ("Acme Ltd", "KZ", "s3cret")


def test_empty_string_clears_a_secret(owner_client, tenant):
    tenant.whatsapp_app_secret = "s3cret"
    tenant.save()
    response = owner_client.patch("/api/tenant", {"whatsapp_app_secret": ""})
    assert response.json()["whatsapp_app_secret_set"] is False
    tenant.refresh_from_db()
    assert tenant.whatsapp_app_secret == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"phone_region": "XX"}, "phone_region"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"timezone": 5}, "timezone"),
        ({"lead_distribution": "random"}, "lead_distribution"),
        ({"lead_distribution": None}, "lead_distribution"),
        ({"distribution_user_ids": "1,2"}, "distribution_user_ids"),
        ({"distribution_user_ids": [True]}, "distribution_user_ids"),
        ({"distribution_user_ids": [0]}, "distribution_user_ids"),
        ({"distribution_user_ids": [999999]}, "distribution_user_ids"),
        ({"renewal_notice_days": 0}, "renewal_notice_days"),
        ({"renewal_notice_days": 366}, "renewal_notice_days"),
        ({"renewal_notice_days": "30 days"}, "renewal_notice_days"),
        ({"renewal_notice_days": 2**40}, "renewal_notice_days"),
    ],
)
def test_bad_settings_are_400_and_change_nothing(owner_client, tenant, body, field):
    before = Tenant.objects.values().get(pk=tenant.pk)
    response = owner_client.patch("/api/tenant", body)
    assert response.status_code == 400
    # A list item's error is named by its index: `distribution_user_ids.0`.
    assert any(key.split(".")[0] == field for key in response.json()["details"])
    assert Tenant.objects.values().get(pk=tenant.pk) == before


def test_rotate_webhook_key(owner_client, tenant):
    old_key = tenant.webhook_key
    response = owner_client.post("/api/tenant/webhook-key/rotate")
    assert response.status_code == 200
    new_key = response.json()["webhook_key"]
    assert new_key != old_key
    tenant.refresh_from_db()
    assert tenant.webhook_key == new_key


def test_each_tenant_sees_its_own_settings(api_client, foreign_owner, owner):
    assert api_client(foreign_owner).get("/api/tenant").json()["slug"] == "globex"
    assert api_client(owner).get("/api/tenant").json()["slug"] == "acme"


def test_distribution_and_renewal_settings(owner_client, tenant, owner, manager, other_manager):
    response = owner_client.patch(
        "/api/tenant",
        {
            "lead_distribution": "round_robin",
            "distribution_user_ids": [other_manager.pk, owner.pk],
            "renewal_notice_days": 365,
        },
    )

    assert response.status_code == 200
    body = response.json()
    # The order given is the order of the turns.
    assert (body["lead_distribution"], body["distribution_user_ids"], body["renewal_notice_days"]) == (
        "round_robin",
        [other_manager.pk, owner.pk],
        365,
    )
    tenant.refresh_from_db()
    assert (tenant.lead_distribution, tenant.distribution_user_ids, tenant.renewal_notice_days) == (
        "round_robin",
        [other_manager.pk, owner.pk],
        365,
    )
    assert owner_client.patch("/api/tenant", {"distribution_user_ids": []}).json()["distribution_user_ids"] == []


@pytest.mark.parametrize("whose", ["inactive", "foreign", "twice"])
def test_distribution_users_are_distinct_active_users_of_the_tenant(
    owner_client, tenant, manager, foreign_owner, whose
):
    ids = {
        "inactive": [UserFactory(tenant=tenant, role="manager", is_active=False).pk],
        "foreign": [manager.pk, foreign_owner.pk],
        "twice": [manager.pk, manager.pk],
    }[whose]

    response = owner_client.patch("/api/tenant", {"distribution_user_ids": ids, "lead_distribution": "round_robin"})

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "distribution_user_ids" in response.json()["details"]
    tenant.refresh_from_db()
    assert (tenant.lead_distribution, tenant.distribution_user_ids) == ("none", [])
