"""The per-process cache of token users' rows (crm.auth_rows): read once while nothing changes, and forgotten at once
on any change, however it is written (issue 18; revocation, SPEC §15).

Committed data (transaction=True): the cache serves only callers outside a transaction, and PostgreSQL notifies only
what commits. A notification reaches the listening socket asynchronously, microseconds after the COMMIT returns; the
tests wait for it rather than race it.
"""

import select

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conftest import client_for
from crm import auth_rows
from crm.models import Tenant, User

ME_URL = "/api/auth/me"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="notifications are PostgreSQL's"),
]


def _statements_of(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(ME_URL)
    return response.status_code, [query["sql"] for query in queries.captured_queries]


def _reads_the_user(statements: list[str]) -> bool:
    return any('FROM "crm_user"' in sql for sql in statements)


def _delivered() -> bool:
    """Wait up to 2 s for a notification to reach this process's listening socket."""
    listening = auth_rows._listener._connection
    assert listening is not None
    readable, _, _ = select.select([listening.pgconn.socket], [], [], 2.0)
    return bool(readable)


@pytest.fixture
def warm_client(owner):
    client = client_for(owner)
    status, statements = _statements_of(client)
    assert status == 200
    assert _reads_the_user(statements)
    return client


def test_the_users_row_is_read_once_while_nothing_changes(warm_client, owner):
    for _ in range(3):
        status, statements = _statements_of(warm_client)
        assert status == 200
        assert statements == []


def test_a_queryset_update_deactivating_the_user_refuses_the_next_request(warm_client, owner):
    User.objects.filter(pk=owner.pk).update(is_active=False)  # no save(), no signal: the trigger notifies
    assert _delivered()

    assert warm_client.get(ME_URL).status_code == 401


def test_a_role_change_revokes_the_token_at_once(warm_client, owner):
    owner.role = "manager"
    owner.save()
    assert _delivered()

    assert warm_client.get(ME_URL).status_code == 401


def test_a_change_to_the_tenant_makes_the_next_request_read_the_row(warm_client, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(timezone="Asia/Almaty")
    assert _delivered()

    status, statements = _statements_of(warm_client)
    assert status == 200
    assert _reads_the_user(statements)


def test_the_round_robin_cursor_alone_does_not_invalidate(warm_client, tenant, manager):
    # Written on every distributed lead, and nothing about access: it must not empty every process's cache.
    Tenant.objects.filter(pk=tenant.pk).update(distribution_cursor_user_id=manager.pk)
    assert not _delivered()

    status, statements = _statements_of(warm_client)
    assert status == 200
    assert statements == []


def test_inside_a_transaction_the_row_is_read(warm_client, owner):
    with transaction.atomic():
        User.objects.filter(pk=owner.pk).update(is_active=False)  # uncommitted: nothing is notified yet
        assert warm_client.get(ME_URL).status_code == 401
        transaction.set_rollback(True)

    assert warm_client.get(ME_URL).status_code == 200


def test_a_lost_listening_connection_forgets_the_rows(warm_client, owner):
    listening_pid = auth_rows._listener._connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [listening_pid])
    # Unheard: the listener is gone.
    User.objects.filter(pk=owner.pk).update(is_active=False)

    assert warm_client.get(ME_URL).status_code == 401

    User.objects.filter(pk=owner.pk).update(is_active=True)
    status, statements = _statements_of(warm_client)
    assert status == 200
    assert _reads_the_user(statements)  # listening again, and empty: nothing from before the loss is trusted
    assert auth_rows._listener._connection.info.backend_pid != listening_pid


def test_a_row_older_than_its_max_age_is_read_again(warm_client, monkeypatch):
    monkeypatch.setattr(auth_rows, "MAX_AGE", 0.0)

    status, statements = _statements_of(warm_client)
    assert status == 200
    assert _reads_the_user(statements)


def test_with_the_cache_off_every_request_reads_the_row(warm_client, settings):
    settings.AUTH_ROW_CACHE = False

    for _ in range(2):
        status, statements = _statements_of(warm_client)
        assert status == 200
        assert _reads_the_user(statements)
