"""SPEC §1 users API: who may list, read, create and change users, and what bad input does."""

import pytest
from django.utils import timezone

from crm.api.serializers import MeSerializer, UserSerializer
from crm.models import User
from crm.tests.factories import UserFactory

STRONG = "Another-str0ng-pass!"


def test_any_role_lists_the_tenant_users_only(manager_client, owner, manager, foreign_owner):
    response = manager_client.get("/api/users")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    assert [user["username"] for user in body["users"]] == ["owner", "manager"]
    assert set(body["users"][0]) == {
        "id",
        "uuid",
        "username",
        "email",
        "full_name",
        "role",
        "is_active",
        "tenant_id",
        "created_at",
    }


def test_users_list_renders_datetimes_in_the_tenant_timezone(owner_client, owner):
    created_at = owner_client.get("/api/users").json()["users"][0]["created_at"]
    assert created_at.endswith("+03:00")  # Europe/Moscow, the tenant default


@pytest.mark.parametrize("page_size", [5, 50])
def test_users_list_query_count_is_constant(owner_client, tenant, django_assert_max_num_queries, page_size):
    UserFactory.create_batch(60, tenant=tenant)
    with django_assert_max_num_queries(3):
        response = owner_client.get(f"/api/users?limit={page_size}")
    assert len(response.json()["users"]) == page_size
    assert response.json()["total"] == 61


def test_users_list_paging(owner_client, tenant):
    UserFactory.create_batch(4, tenant=tenant)
    body = owner_client.get("/api/users?limit=2&offset=3").json()
    assert body["total"] == 5
    assert len(body["users"]) == 2


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "offset=-1", "offset=y"])
def test_users_list_rejects_bad_paging(owner_client, query):
    response = owner_client.get(f"/api/users?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_get_user_of_own_tenant_for_any_role(manager_client, owner):
    response = manager_client.get(f"/api/users/{owner.id}")
    assert response.status_code == 200
    assert response.json()["username"] == "owner"


@pytest.mark.parametrize("path_id", ["999999", "abc", "99999999999999999999999"])
def test_unknown_user_is_404(owner_client, path_id):
    response = owner_client.get(f"/api/users/{path_id}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_user_of_another_tenant_is_404(owner_client, foreign_owner):
    assert owner_client.get(f"/api/users/{foreign_owner.id}").status_code == 404
    response = owner_client.patch(f"/api/users/{foreign_owner.id}", {"full_name": "Hacked"})
    assert response.status_code == 404
    foreign_owner.refresh_from_db()
    assert foreign_owner.full_name != "Hacked"


@pytest.mark.parametrize("creator_role", ["owner", "admin"])
def test_owner_and_admin_create_users(api_client, tenant, creator_role):
    creator = UserFactory(tenant=tenant, role=creator_role)
    body = {
        "username": "new.manager",
        "password": STRONG,
        "email": "n@example.com",
        "full_name": "Нина",
        "role": "manager",
    }
    response = api_client(creator).post("/api/users", body)
    assert response.status_code == 201
    created = User.objects.get(username="new.manager")
    assert response.json()["id"] == created.id
    assert created.tenant == tenant
    assert created.check_password(STRONG)
    assert not created.is_staff


def test_new_rop_is_back_office_staff(owner_client):
    owner_client.post("/api/users", {"username": "boss", "password": STRONG, "role": "rop"})
    assert User.objects.get(username="boss").is_staff


@pytest.mark.parametrize("role", ["manager", "rop"])
def test_manager_and_rop_cannot_create_users(api_client, tenant, role):
    user = UserFactory(tenant=tenant, role=role)
    response = api_client(user).post("/api/users", {"username": "x", "password": STRONG, "role": "manager"})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert not User.objects.filter(username="x").exists()


def test_admin_cannot_create_or_promote_an_owner(api_client, admin_user, manager):
    client = api_client(admin_user)
    response = client.post("/api/users", {"username": "own2", "password": STRONG, "role": "owner"})
    assert response.status_code == 403
    assert not User.objects.filter(username="own2").exists()
    response = client.patch(f"/api/users/{manager.id}", {"role": "owner"})
    assert response.status_code == 403
    manager.refresh_from_db()
    assert manager.role == "manager"


def test_owner_promotes_an_owner(owner_client, manager):
    response = owner_client.patch(f"/api/users/{manager.id}", {"role": "owner"})
    assert response.status_code == 200
    manager.refresh_from_db()
    assert manager.role == "owner"
    assert manager.is_staff


def test_admin_cannot_change_an_owner(api_client, admin_user, owner):
    response = api_client(admin_user).patch(f"/api/users/{owner.id}", {"is_active": False})
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.is_active


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "a", "password": STRONG, "role": "boss"}, "role"),
        ({"username": "a", "password": STRONG}, "role"),
        ({"username": "a", "password": "", "role": "manager"}, "password"),
        ({"username": "a", "password": "123", "role": "manager"}, "password"),
        ({"username": "a", "password": "password", "role": "manager"}, "password"),
        ({"username": "", "password": STRONG, "role": "manager"}, "username"),
        ({"username": "has space", "password": STRONG, "role": "manager"}, "username"),
        ({"username": "a", "password": STRONG, "role": "manager", "email": "not-an-email"}, "email"),
        ({"username": "a", "password": STRONG, "role": "manager", "full_name": "x" * 256}, "full_name"),
        ({"username": ["a"], "password": STRONG, "role": "manager"}, "username"),
        ({"username": "OWNER", "password": STRONG, "role": "manager"}, "username"),
    ],
)
def test_create_user_bad_input_is_400_and_stores_nothing(owner_client, owner, body, field):
    response = owner_client.post("/api/users", body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "validation_error"
    assert field in payload["details"]
    assert User.objects.count() == 1


@pytest.mark.parametrize("raw", ["{bad json", "[1, 2]", '"text"', "null"])
def test_create_user_malformed_body(owner_client, owner, raw):
    response = owner_client.generic("POST", "/api/users", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert User.objects.count() == 1


def test_patch_user_fields_and_password(owner_client, manager, api_client):
    response = owner_client.patch(
        f"/api/users/{manager.id}", {"full_name": "Пётр", "email": "p@example.com", "password": STRONG}
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "Пётр"
    manager.refresh_from_db()
    assert manager.check_password(STRONG)


def test_deactivated_user_is_kept_and_cannot_call_the_api(owner_client, manager, api_client):
    client = api_client(manager)
    assert owner_client.patch(f"/api/users/{manager.id}", {"is_active": False}).status_code == 200
    assert User.objects.filter(pk=manager.pk, is_active=False).exists()
    assert client.get("/api/auth/me").status_code == 401


def test_users_cannot_be_deleted(owner_client, manager):
    response = owner_client.delete(f"/api/users/{manager.id}")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert User.objects.filter(pk=manager.pk).exists()


def test_last_owner_cannot_be_deactivated_or_demoted(owner_client, owner):
    for body in ({"is_active": False}, {"role": "manager"}):
        response = owner_client.patch(f"/api/users/{owner.id}", body)
        assert response.status_code == 400
    owner.refresh_from_db()
    assert owner.is_active
    assert owner.role == "owner"


@pytest.mark.parametrize(
    "body",
    [{"role": "king"}, {"is_active": "perhaps"}, {"email": "nope"}, {"password": "1"}, {"full_name": 5 * "x" * 52}],
)
def test_patch_user_bad_input_changes_nothing(owner_client, manager, body):
    before = User.objects.values().get(pk=manager.pk)
    response = owner_client.patch(f"/api/users/{manager.id}", body)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert User.objects.values().get(pk=manager.pk) == before


def test_manager_cannot_patch_users(manager_client, manager):
    response = manager_client.patch(f"/api/users/{manager.id}", {"role": "owner"})
    assert response.status_code == 403
    manager.refresh_from_db()
    assert manager.role == "manager"


def test_patch_ignores_fields_that_are_not_editable(owner_client, manager):
    response = owner_client.patch(f"/api/users/{manager.id}", {"username": "renamed", "tenant_id": 999})
    assert response.status_code == 200
    manager.refresh_from_db()
    assert manager.username == "manager"


def test_the_hand_shaped_user_bodies_equal_the_declared_fields(owner, manager, tenant):
    User.objects.filter(pk=manager.pk).update(email="", full_name="Пётр «Менеджер»", is_active=False)
    users = list(User.objects.order_by("pk"))
    with timezone.override(tenant.tzinfo):
        assert [UserSerializer.present(user) for user in users] == UserSerializer(users, many=True).data
        assert [MeSerializer.present(user) for user in users] == MeSerializer(users, many=True).data
