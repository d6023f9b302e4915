"""The user and tenant behind every API request: one statement, and the same objects the ORM would build."""

import datetime as dt

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from crm.models import Tenant, User
from crm.tokens import issue_token_pair, user_for_access_token


def _field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_an_authenticated_request_reads_the_user_and_tenant_in_one_statement(
    owner, api_client, django_assert_num_queries
):
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token_pair(owner)['access']}")
    with django_assert_num_queries(1):
        response = client.get("/api/auth/me")
    assert response.status_code == 200
    assert response.json()["id"] == owner.id


def test_the_token_user_and_tenant_equal_the_orms_field_by_field(owner, manager, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(distribution_user_ids=[manager.pk, owner.pk], whatsapp_app_secret="s3")
    User.objects.filter(pk=owner.pk).update(tokens_revoked_at=timezone.now() - dt.timedelta(hours=1), full_name="Ёлка")
    orm_user = User.objects.select_related("tenant").get(pk=owner.pk)
    by_id, _ = user_for_access_token(issue_token_pair(orm_user)["access"])
    now = dt.datetime.now(dt.UTC)
    gateway = {"sub": str(owner.uuid), "tenant_id": tenant.pk, "iat": now, "exp": now + dt.timedelta(minutes=5)}
    by_uuid, _ = user_for_access_token(jwt.encode(gateway, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256"))

    for loaded in (by_id, by_uuid):
        assert _field_values(loaded) == _field_values(orm_user)
        assert {name: type(value) for name, value in _field_values(loaded).items()} == {
            name: type(value) for name, value in _field_values(orm_user).items()
        }
        assert _field_values(loaded.tenant) == _field_values(orm_user.tenant)
        assert loaded.tenant.distribution_user_ids == [manager.pk, owner.pk]
        assert loaded._state.adding is False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_token_read_is_prepared_once_it_repeats(owner, api_client):
    """DB_PREPARE_THRESHOLD (settings): a statement run that often on a connection is planned once, not per request."""
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token_pair(owner)['access']}")
    table = connection.ops.quote_name(User._meta.db_table)

    for _ in range(settings.DB_PREPARE_THRESHOLD + 1):
        assert client.get("/api/auth/me").status_code == 200

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert [statement for statement in prepared if f"FROM {table} u JOIN" in statement]
