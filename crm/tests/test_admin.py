"""The back-office shows staff owners and ROPs only their tenant; superusers see everything."""

import pytest

from crm.models import User
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


def test_manager_cannot_enter_the_admin(client, manager):
    client.login(username="manager", password=TEST_PASSWORD)
    response = client.get("/admin/")
    assert response.status_code == 302


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
