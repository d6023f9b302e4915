"""SPEC §15 identity: login strings no tenant can take from another, and token revocation.

Emails are unique among active users (any case, enforced by the database); usernames and emails are one namespace,
so a user of one tenant cannot claim another tenant's login string; "taken" answers never name the holder's tenant.
A password, role or activity change revokes the user's access and refresh tokens at once, ours and the Gateway's.
"""

import datetime as dt

import jwt
import pytest
import time_machine
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from crm.models import User
from crm.tests.factories import TEST_PASSWORD, TenantFactory, UserFactory
from crm.tokens import issue_token_pair

STRONG = "Another-str0ng-pass!"
SECRET = "test-only-secret-key-0123456789abcdef0123456789abcdef"


@pytest.fixture
def beta(db):
    """Tenant B of the issue: its ROP signs in as `B_ROP@beta.test`, its manager as `b_manager@beta.test`."""
    tenant = TenantFactory(name="Beta", slug="beta")
    return {
        "tenant": tenant,
        "rop": UserFactory(tenant=tenant, role="rop", username="b_rop", email="B_ROP@beta.test"),
        "manager": UserFactory(tenant=tenant, username="b_manager@beta.test", email=""),
    }


def _token(api_client, login, password=TEST_PASSWORD):
    return api_client(None).post("/api/auth/token", {"username": login, "password": password})


def _me(api_client, access):
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/auth/me")


def _snapshot():
    return list(User.objects.order_by("pk").values_list("pk", "username", "email", "is_active", "role"))


# --- login strings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"username": "a.squatter", "email": "b_rop@BETA.test"}, "email", "The email «b_rop@beta.test» is taken."),
        ({"username": "B_MANAGER@beta.test"}, "username", "The username «B_MANAGER@beta.test» is taken."),
        ({"username": "B_ROP@beta.test"}, "username", "The username «B_ROP@beta.test» is taken."),
        (
            {"username": "a.squatter", "email": "b_manager@beta.test"},
            "email",
            "The email «b_manager@beta.test» is taken.",
        ),
    ],
)
def test_a_tenant_cannot_create_a_user_with_another_tenants_login_string(
    owner_client, owner, beta, api_client, body, field, message
):
    before = _snapshot()
    response = owner_client.post("/api/users", {"password": STRONG, "role": "manager", **body})
    assert response.status_code == 400
    assert response.json() == {"error": "validation_error", "message": message, "details": {field: [message]}}
    assert _snapshot() == before
    # The login strings still name tenant B's people.
    assert _me(api_client, _token(api_client, "b_rop@beta.test").json()["access"]).json()["username"] == "b_rop"
    me = _me(api_client, _token(api_client, "B_MANAGER@beta.test").json()["access"]).json()
    assert me["tenant_id"] == beta["tenant"].id


def test_a_tenant_cannot_change_an_email_to_another_tenants_login_string(owner_client, manager, beta):
    before = _snapshot()
    for email in ("B_ROP@beta.test", "b_manager@BETA.TEST"):
        response = owner_client.patch(f"/api/users/{manager.id}", {"email": email})
        assert response.status_code == 400
        # Django normalises the domain part of an email to lower case.
        assert response.json()["details"] == {"email": [f"The email «{email.split('@')[0]}@beta.test» is taken."]}
    assert _snapshot() == before


def test_taken_answers_are_the_same_for_the_own_and_another_tenant(owner_client, manager, beta):
    own = owner_client.post(
        "/api/users", {"username": "x1", "password": STRONG, "role": "manager", "email": "MANAGER@example.com"}
    )
    other = owner_client.post(
        "/api/users", {"username": "x2", "password": STRONG, "role": "manager", "email": "B_ROP@beta.test"}
    )
    assert own.status_code == other.status_code == 400
    assert own.json()["message"].replace("MANAGER@example.com", "…") == other.json()["message"].replace(
        "B_ROP@beta.test", "…"
    )
    own_name = owner_client.post("/api/users", {"username": "Manager", "password": STRONG, "role": "manager"})
    other_name = owner_client.post("/api/users", {"username": "B_ROP", "password": STRONG, "role": "manager"})
    assert own_name.json()["message"].replace("Manager", "…") == other_name.json()["message"].replace("B_ROP", "…")
    for response in (other, other_name):
        assert "beta" not in response.content.decode().lower().replace("b_rop@beta.test", "")


def test_a_deactivated_users_email_is_free_and_reactivating_the_old_holder_is_refused(owner_client, manager, tenant):
    assert owner_client.patch(f"/api/users/{manager.id}", {"is_active": False}).status_code == 200
    created = owner_client.post(
        "/api/users", {"username": "successor", "password": STRONG, "role": "manager", "email": "Manager@Example.com"}
    )
    assert created.status_code == 201

    response = owner_client.patch(f"/api/users/{manager.id}", {"is_active": True})
    assert response.status_code == 400
    assert response.json()["details"] == {"email": ["The email «manager@example.com» is taken."]}
    manager.refresh_from_db()
    assert not manager.is_active


def test_the_database_refuses_a_second_active_holder_of_an_email(owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="raw", email="OWNER@EXAMPLE.COM", tenant=owner.tenant)
    User.objects.create(username="raw-inactive", email="owner@example.com", tenant=owner.tenant, is_active=False)
    User.objects.create(username="no-mail-1", email="", tenant=owner.tenant)
    User.objects.create(username="no-mail-2", email="", tenant=owner.tenant)


def test_login_by_email_matches_only_the_active_holder(api_client, tenant, manager):
    manager.is_active = False
    manager.save()
    assert _token(api_client, "manager@example.com").status_code == 401
    UserFactory(tenant=tenant, username="heir", email="MANAGER@example.com")
    response = _token(api_client, "manager@example.com")
    assert response.status_code == 200
    assert _me(api_client, response.json()["access"]).json()["username"] == "heir"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="drops and rebuilds a partial index inside the test")
def test_the_migration_clears_conflicting_emails_of_deployed_rows(tenant):
    """Rows from before the index: the first active holder keeps an email; later ones and username clashes lose it."""
    from importlib import import_module

    migration = import_module("crm.migrations.0002_user_token_version_and_unique_active_email")
    constraint = next(c for c in User._meta.constraints if c.name == "crm_user_active_email_ci_unique")
    with connection.schema_editor() as editor:
        editor.remove_constraint(User, constraint)
    first = UserFactory(tenant=tenant, username="first", email="same@example.com")
    later = UserFactory(tenant=tenant, username="later", email="SAME@example.com")
    inactive = UserFactory(tenant=tenant, username="gone", email="same@example.com", is_active=False)
    UserFactory(tenant=tenant, username="clash@example.com", email="")
    squatter = UserFactory(tenant=tenant, username="squatter", email="Clash@example.com")

    migration.clear_conflicting_emails(apps, None)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # PostgreSQL builds no index with deferred checks pending
    with connection.schema_editor() as editor:
        editor.add_constraint(User, constraint)

    emails = dict(User.objects.filter(pk__in=[first.pk, later.pk, inactive.pk, squatter.pk]).values_list("pk", "email"))
    assert emails == {first.pk: "same@example.com", later.pk: "", inactive.pk: "same@example.com", squatter.pk: ""}


def test_create_tenant_and_demo_users_keep_distinct_emails(db):
    from crm.demo import demo_data_load

    demo, created = demo_data_load()
    assert created
    emails = [user.email.lower() for user in User.objects.filter(tenant=demo.tenant)]
    assert len(emails) == len(set(emails)) == 4


# --- revocation --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"password": STRONG}, id="password"),
        pytest.param({"is_active": False}, id="deactivation"),
        pytest.param({"role": "rop"}, id="role"),
    ],
)
def test_a_credential_change_revokes_access_and_refresh_tokens_at_once(owner_client, manager, api_client, change):
    pair = issue_token_pair(manager)
    assert _me(api_client, pair["access"]).status_code == 200

    assert owner_client.patch(f"/api/users/{manager.id}", change).status_code == 200

    stale = _me(api_client, pair["access"])
    assert stale.status_code == 401
    assert stale.json()["error"] == "unauthorized"
    refreshed = api_client(None).post("/api/auth/token/refresh", {"refresh": pair["refresh"]})
    assert refreshed.status_code == 401
    assert refreshed.json()["error"] == "unauthorized"


def test_reactivation_does_not_revive_old_tokens(owner_client, manager, api_client):
    pair = issue_token_pair(manager)
    owner_client.patch(f"/api/users/{manager.id}", {"is_active": False})
    owner_client.patch(f"/api/users/{manager.id}", {"is_active": True})
    assert _me(api_client, pair["access"]).status_code == 401
    assert api_client(None).post("/api/auth/token/refresh", {"refresh": pair["refresh"]}).status_code == 401


def test_a_new_login_after_a_password_change_works_and_carries_the_new_role(owner_client, manager, api_client):
    owner_client.patch(f"/api/users/{manager.id}", {"password": STRONG, "role": "rop"})
    assert _token(api_client, "manager").status_code == 401  # the old password
    pair = _token(api_client, "manager", STRONG).json()
    assert jwt.decode(pair["access"], SECRET, algorithms=["HS256"])["role"] == "rop"
    assert _me(api_client, pair["access"]).json()["role"] == "rop"
    refreshed = api_client(None).post("/api/auth/token/refresh", {"refresh": pair["refresh"]})
    assert _me(api_client, refreshed.json()["access"]).status_code == 200


def test_other_changes_keep_tokens_valid(owner_client, manager, api_client):
    pair = issue_token_pair(manager)
    response = owner_client.patch(f"/api/users/{manager.id}", {"full_name": "Новое имя", "email": "new@example.com"})
    assert response.status_code == 200
    assert _me(api_client, pair["access"]).status_code == 200


def test_the_admin_password_form_revokes_too(client, owner, manager, api_client):
    pair = issue_token_pair(manager)
    client.login(username="owner", password=TEST_PASSWORD)
    response = client.post(
        f"/admin/crm/user/{manager.pk}/password/",
        {"password1": STRONG, "password2": STRONG, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    manager.refresh_from_db()
    assert manager.check_password(STRONG)
    assert _me(api_client, pair["access"]).status_code == 401


def test_any_save_of_a_changed_password_revokes(manager, api_client):
    pair = issue_token_pair(manager)
    user = User.objects.get(pk=manager.pk)
    user.set_password(STRONG)
    user.save(update_fields=["password"])
    assert _me(api_client, pair["access"]).status_code == 401
    assert _me(api_client, issue_token_pair(user)["access"]).status_code == 200


def test_parallel_revocations_are_never_lost(manager):
    """The version moves with an UPDATE … SET token_version = token_version + 1, not with a stale read."""
    first, second = User.objects.get(pk=manager.pk), User.objects.get(pk=manager.pk)
    first.set_password(STRONG)
    first.save()
    second.role = "rop"
    second.save()
    manager.refresh_from_db()
    assert manager.token_version == 2


def _gateway_token(user, **claims):
    now = dt.datetime.now(dt.UTC)
    payload = {"sub": str(user.uuid), "tenant_id": user.tenant_id, "exp": now + dt.timedelta(minutes=5), "iat": now}
    payload.update(claims)
    return jwt.encode({key: value for key, value in payload.items() if value is not None}, SECRET, algorithm="HS256")


def test_gateway_tokens_issued_before_a_revocation_are_refused(owner_client, manager, api_client):
    old = _gateway_token(manager, iat=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10))
    no_iat = _gateway_token(manager, iat=None)
    assert _me(api_client, old).status_code == 200
    assert _me(api_client, no_iat).status_code == 200  # never revoked: nothing to compare with

    assert owner_client.patch(f"/api/users/{manager.id}", {"password": STRONG}).status_code == 200

    assert _me(api_client, old).status_code == 401
    assert _me(api_client, no_iat).status_code == 401
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2), tick=True):
        assert _me(api_client, _gateway_token(manager)).status_code == 200


@pytest.mark.parametrize("version", [7, "0", True, 0.5])
def test_a_token_version_other_than_the_users_is_refused(manager, api_client, version):
    token = _gateway_token(manager, token_version=version)
    assert _me(api_client, token).status_code == 401


def test_the_admin_cannot_take_another_tenants_login_string_either(client, owner, manager, beta):
    client.login(username="owner", password=TEST_PASSWORD)
    before = _snapshot()
    form = {"username": "manager", "full_name": "M", "role": "manager", "is_active": "on"}
    for email in ("b_rop@beta.test", "b_manager@beta.test"):
        response = client.post(f"/admin/crm/user/{manager.pk}/change/", {**form, "email": email}, follow=True)
        assert response.status_code == 200
        assert "уже занят" in response.content.decode()  # the service's message, in the back-office's Russian
        assert "Beta" not in response.content.decode()
    added = client.post(
        "/admin/crm/user/add/",
        {"username": "B_MANAGER@beta.test", "password": STRONG, "full_name": "", "email": "", "role": "manager"},
        follow=True,
    )
    assert "Это имя пользователя уже занято." in added.content.decode()
    assert _snapshot() == before
