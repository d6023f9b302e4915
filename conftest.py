"""Fixtures shared by every app's tests: tenants, users of each role, authenticated API clients."""

import pytest
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import translation
from rest_framework.test import APIClient

from crm.auth_rows import close_listener
from crm.tests.factories import TenantFactory, UserFactory
from crm.tokens import issue_token_pair
from events.tests.recording import EventRecorder


@pytest.fixture(scope="session", autouse=True)
def _no_login_failures_of_earlier_runs():
    """The login limits (crm.login_limits) count failures in the cache, which is Redis and outlives a run when
    REDIS_URL is set: the failed logins of the last runs' tests must not lock this run's test users out."""
    cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's, and then the token-row cache's LISTEN connection closed before the test database is
    dropped: it is a session of that database too (crm.auth_rows)."""
    yield
    close_listener()


@pytest.fixture(autouse=True)
def _close_the_async_tests_orm_connection():
    """An async test's `sync_to_async` ORM calls run in asgiref's one shared thread, whose connection nothing else
    closes: left open, it keeps the test database from being dropped at the end of the run."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the project's language: a request's LocaleMiddleware leaves its language active in the
    thread, and an earlier test's English must not decide what a later one reads."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def tenant(db):
    return TenantFactory(name="Acme", slug="acme")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(name="Globex", slug="globex")


@pytest.fixture
def owner(tenant):
    return UserFactory(tenant=tenant, role="owner", username="owner")


@pytest.fixture
def rop(tenant):
    return UserFactory(tenant=tenant, role="rop", username="rop")


@pytest.fixture
def admin_user(tenant):
    return UserFactory(tenant=tenant, role="admin", username="admin")


@pytest.fixture
def manager(tenant):
    return UserFactory(tenant=tenant, role="manager", username="manager")


@pytest.fixture
def other_manager(tenant):
    return UserFactory(tenant=tenant, role="manager", username="manager2")


@pytest.fixture
def foreign_owner(other_tenant):
    return UserFactory(tenant=other_tenant, role="owner", username="foreign_owner")


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token_pair(user)['access']}")
    return client


@pytest.fixture
def api_client():
    """Build an authenticated client: `api_client(owner)`; `api_client(None)` is anonymous."""
    return client_for


@pytest.fixture
def owner_client(owner):
    return client_for(owner)


@pytest.fixture
def manager_client(manager):
    return client_for(manager)


@pytest.fixture
def events(monkeypatch, django_capture_on_commit_callbacks):
    """Lead events delivered after commit: patches only the outside-world boundary `events.services._deliver`."""
    recorder = EventRecorder(capture_on_commit=django_capture_on_commit_callbacks)
    monkeypatch.setattr("events.services._deliver", recorder.deliver)
    return recorder
