"""The back-office shows staff owners and ROPs only their tenant; superusers see everything."""

import uuid

import pytest

from crm.models import IdempotencyKey, Tenant, User
from crm.tests.factories import TEST_PASSWORD, UserFactory


@pytest.fixture
def staff_client(client, owner):
    client.login(username="owner", password=TEST_PASSWORD)
    return client


def test_owner_sees_only_own_tenant_users(staff_client, manager, foreign_owner):
    response = staff_client.get("/admin/crm/user/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "manager" in content
    assert "foreign_owner" not in content


def test_owner_cannot_open_a_foreign_user_or_tenant(staff_client, foreign_owner):
    assert staff_client.get(f"/admin/crm/user/{foreign_owner.pk}/change/").status_code in (302, 404)
    assert staff_client.get(f"/admin/crm/tenant/{foreign_owner.tenant_id}/change/").status_code in (302, 404)


def test_owner_sees_only_own_tenant(staff_client, tenant, other_tenant):
    content = staff_client.get("/admin/crm/tenant/").content.decode()
    assert "Acme" in content
    assert "Globex" not in content


def _add_user(client, tenant_id):
    form = {"username": "fresh", "password": "Admin-made-pass1", "full_name": "Фёдор", "email": "", "role": "rop"}
    return client.post("/admin/crm/user/add/", {**form, "tenant": tenant_id})


def test_owner_creates_a_user_in_own_tenant_through_the_service(staff_client, tenant):
    assert _add_user(staff_client, tenant.pk).status_code == 302
    created = User.objects.get(username="fresh")
    assert created.tenant_id == tenant.id
    assert created.is_staff  # set by user_create for ROPs
    assert created.check_password("Admin-made-pass1")


def test_owner_cannot_create_a_user_in_another_tenant(staff_client, tenant, other_tenant):
    assert _add_user(staff_client, other_tenant.pk).status_code == 302
    assert User.objects.get(username="fresh").tenant_id == tenant.id  # the posted tenant is ignored


def test_a_manager_enters_the_admin_but_not_tenant_settings_or_users(client, manager, tenant):
    client.login(username="manager", password=TEST_PASSWORD)
    assert client.get("/admin/").status_code == 200
    for url in ("/admin/crm/tenant/", f"/admin/crm/tenant/{tenant.pk}/change/", "/admin/crm/user/"):
        assert client.get(url).status_code == 403, url
    assert client.get(f"/admin/crm/user/{manager.pk}/change/").status_code == 403


def test_superuser_sees_all_tenants(client, tenant, other_tenant):
    UserFactory(tenant=None, username="root", is_superuser=True, is_staff=True)
    client.login(username="root", password=TEST_PASSWORD)
    content = client.get("/admin/crm/tenant/").content.decode()
    assert "Acme" in content
    assert "Globex" in content


@pytest.mark.parametrize("rows", [10, 100])
def test_user_changelist_query_count(staff_client, tenant, django_assert_max_num_queries, rows):
    UserFactory.create_batch(rows, tenant=tenant)
    with django_assert_max_num_queries(8):
        assert staff_client.get("/admin/crm/user/").status_code == 200


# ---------------------------------------------------------------- tenant settings and secrets (SPEC §1, §15)


def _tenant_row(tenant) -> tuple:
    return tuple(Tenant.objects.filter(pk=tenant.pk).values_list(*_TENANT_COLUMNS).get())


_TENANT_COLUMNS = ("name", "timezone", "webhook_key", "whatsapp_app_secret", "whatsapp_verify_token")


@pytest.fixture
def tenant_with_secrets(tenant):
    tenant.whatsapp_app_secret, tenant.whatsapp_verify_token = "app-secret-XYZ", "verify-token-XYZ"
    tenant.save()
    return tenant


def _tenant_form(tenant, **extra) -> dict:
    return {
        "name": tenant.name,
        "timezone": tenant.timezone,
        "phone_region": tenant.phone_region,
        "lead_distribution": tenant.lead_distribution,
        "renewal_notice_days": tenant.renewal_notice_days,
        **extra,
    }


def test_a_rop_may_not_read_or_change_tenant_settings(client, rop, tenant_with_secrets):
    tenant = tenant_with_secrets
    client.force_login(rop)
    before = _tenant_row(tenant)
    change_url = f"/admin/crm/tenant/{tenant.pk}/change/"

    responses = [
        client.get("/admin/crm/tenant/"),
        client.get(change_url),
        client.get(f"/admin/crm/tenant/{tenant.pk}/history/"),
        client.post(change_url, _tenant_form(tenant, new_whatsapp_app_secret="rop-was-here")),
        client.post("/admin/crm/tenant/", {"action": "rotate_webhook_key", "_selected_action": [tenant.pk]}),
    ]

    assert [response.status_code for response in responses] == [403] * 5
    assert all(tenant.webhook_key not in response.content.decode() for response in responses)
    assert _tenant_row(tenant) == before
    assert "/admin/crm/tenant/" not in client.get("/admin/").content.decode()


def test_the_owner_sees_the_webhook_key_but_never_a_secret(staff_client, tenant_with_secrets):
    tenant = tenant_with_secrets

    page = staff_client.get(f"/admin/crm/tenant/{tenant.pk}/change/").content.decode()

    assert tenant.webhook_key in page
    assert "app-secret-XYZ" not in page
    assert "verify-token-XYZ" not in page
    assert page.count("Сейчас: задан.") == 2


@pytest.mark.parametrize(
    ("posted", "expected"),
    [
        ({}, ("app-secret-XYZ", "verify-token-XYZ")),  # empty inputs keep both
        ({"new_whatsapp_app_secret": "fresh"}, ("fresh", "verify-token-XYZ")),
        ({"clear_whatsapp_verify_token": "on"}, ("app-secret-XYZ", "")),
    ],
)
def test_the_owner_writes_secrets_blind(staff_client, tenant_with_secrets, posted, expected):
    tenant = tenant_with_secrets

    response = staff_client.post(f"/admin/crm/tenant/{tenant.pk}/change/", _tenant_form(tenant, **posted))

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.whatsapp_app_secret, tenant.whatsapp_verify_token) == expected


def test_the_owner_sets_distribution_and_renewal_notice(staff_client, tenant, manager, other_manager, foreign_owner):
    url = f"/admin/crm/tenant/{tenant.pk}/change/"
    page = staff_client.get(url).content.decode()
    assert f'value="{manager.pk}"' in page
    assert f'value="{foreign_owner.pk}"' not in page  # only the tenant's users to choose from

    form = _tenant_form(tenant, lead_distribution="round_robin", renewal_notice_days="45")
    form["distribution_users"] = [str(manager.pk), str(other_manager.pk)]
    response = staff_client.post(url, form)

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.lead_distribution, sorted(tenant.distribution_user_ids), tenant.renewal_notice_days) == (
        "round_robin",
        sorted([manager.pk, other_manager.pk]),
        45,
    )

    refused = _tenant_form(tenant, renewal_notice_days="400")
    refused["distribution_users"] = [str(foreign_owner.pk)]
    response = staff_client.post(url, refused)
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"renewal_notice_days", "distribution_users"}
    tenant.refresh_from_db()
    assert tenant.renewal_notice_days == 45


def test_a_new_secret_and_clear_together_are_refused(staff_client, tenant_with_secrets):
    tenant = tenant_with_secrets
    before = _tenant_row(tenant)
    form = _tenant_form(tenant, name="Другое", new_whatsapp_app_secret="fresh", clear_whatsapp_app_secret="on")

    response = staff_client.post(f"/admin/crm/tenant/{tenant.pk}/change/", form)

    assert response.status_code == 200
    assert "Либо новое значение, либо очистить." in response.content.decode()
    assert "fresh" not in response.content.decode()
    assert _tenant_row(tenant) == before


def test_the_owner_rotates_the_webhook_key(staff_client, tenant):
    old_key = tenant.webhook_key

    response = staff_client.post(
        "/admin/crm/tenant/", {"action": "rotate_webhook_key", "_selected_action": [tenant.pk]}
    )

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.webhook_key != old_key


# ---------------------------------------------------------------- internal tables


@pytest.mark.parametrize("role", ["owner", "rop"])
def test_tenant_staff_never_reach_idempotency_keys(client, tenant, owner, rop, manager, role):
    stored = IdempotencyKey.objects.create(
        tenant=tenant, user=manager, key=uuid.uuid4(), request_fingerprint="f" * 64, response_body={"n": "colleague"}
    )
    client.force_login(owner if role == "owner" else rop)
    base = "/admin/crm/idempotencykey/"

    responses = [
        client.get(base),
        client.get(f"{base}{stored.pk}/change/"),
        client.get(f"{base}{stored.pk}/history/"),
        client.get(f"{base}{stored.pk}/delete/"),
        client.post(f"{base}{stored.pk}/delete/", {"post": "yes"}),
    ]

    assert [response.status_code for response in responses] == [403] * 5
    assert all("colleague" not in response.content.decode() for response in responses)
    assert IdempotencyKey.objects.filter(pk=stored.pk).exists()


def test_a_superuser_reads_idempotency_keys(client, tenant, manager):
    stored = IdempotencyKey.objects.create(
        tenant=tenant, user=manager, key=uuid.uuid4(), request_fingerprint="f" * 64, response_body={"n": "colleague"}
    )
    client.force_login(UserFactory(tenant=None, username="root", is_superuser=True, is_staff=True))

    assert client.get(f"/admin/crm/idempotencykey/{stored.pk}/change/").status_code == 200


def test_the_front_door_is_the_back_office_with_its_icon(client, owner):
    assert client.get("/")["Location"] == "/admin/"
    assert client.get("/favicon.ico")["Location"] == "/static/crm/favicon.svg"
    client.force_login(owner)
    page = client.get("/admin/").content.decode()
    assert '<link rel="icon" type="image/svg+xml" href="/static/crm/favicon.svg">' in page
    assert "Открыть сайт" not in page
    assert "View site" not in page
