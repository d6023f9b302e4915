"""Request limits (crm.api.throttling): user before tenant, one refusal counts nowhere, "" disables a limit.

Run against Redis (the Lua script) when the suite has REDIS_URL, and against the local-memory store always.
"""

import subprocess
import sys

import pytest
from django.core.cache import cache

from crm.redis_client import redis_client
from crm.tests.live import ROOT


@pytest.fixture(params=["redis", "memory"])
def store(request, settings):
    if request.param == "memory":
        settings.REDIS_URL = None
    elif not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    cache.clear()
    client = redis_client()
    if client is not None:
        client.flushdb()
    yield request.param
    cache.clear()


def _rates(settings, **rates):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, **rates}


def _assert_429(response):
    assert response.status_code == 429, response.content
    assert response.json()["error"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 60
    assert response["RateLimit-Remaining"] == "0"


def test_requests_refused_by_the_user_limit_do_not_spend_the_tenants_budget(
    store, settings, api_client, owner, manager
):
    _rates(settings, user="2/min", tenant="3/min")
    noisy = api_client(owner)
    assert [noisy.get("/api/auth/me").status_code for _ in range(2)] == [200, 200]
    for _ in range(20):
        _assert_429(noisy.get("/api/auth/me"))

    colleague = api_client(manager)
    first = colleague.get("/api/auth/me")
    assert first.status_code == 200  # the tenant counted 3 requests, not 22
    assert first["RateLimit-Limit"] == "3"
    assert first["RateLimit-Remaining"] == "0"
    _assert_429(colleague.get("/api/auth/me"))


def test_requests_refused_by_the_tenant_limit_do_not_spend_the_users_budget(
    store, settings, api_client, owner, manager
):
    _rates(settings, user="3/min", tenant="2/min")
    assert api_client(owner).get("/api/auth/me").status_code == 200
    assert api_client(manager).get("/api/auth/me").status_code == 200
    for _ in range(5):
        _assert_429(api_client(owner).get("/api/auth/me"))
    # Raising the tenant's limit shows what the user's window holds: one request, not six.
    _rates(settings, user="3/min", tenant="100/min")
    response = api_client(owner).get("/api/auth/me")
    assert response.status_code == 200
    assert response["RateLimit-Limit"] == "3"
    assert response["RateLimit-Remaining"] == "1"


def test_another_tenant_is_not_affected(store, settings, api_client, owner, foreign_owner):
    _rates(settings, user=None, tenant="1/min")
    assert api_client(owner).get("/api/auth/me").status_code == 200
    _assert_429(api_client(owner).get("/api/auth/me"))
    assert api_client(foreign_owner).get("/api/auth/me").status_code == 200


def test_a_disabled_limit_is_not_applied(store, settings, api_client, owner):
    _rates(settings, user=None, tenant=None)
    responses = [api_client(owner).get("/api/auth/me") for _ in range(5)]
    assert [response.status_code for response in responses] == [200] * 5
    assert "RateLimit-Limit" not in responses[-1]


def _settings_with_rates(env_value: str) -> subprocess.CompletedProcess:
    code = "from django.conf import settings; import django; django.setup(); print(settings.THROTTLE_RATES)"
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "SECRET_KEY": "x" * 60,
        "THROTTLE_USER_RATE": env_value,
        "THROTTLE_TENANT_RATE": env_value,
        "THROTTLE_WEBHOOK_RATE": env_value,
    }
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def test_an_empty_rate_in_the_environment_disables_the_limit():
    assert _settings_with_rates("").stdout.strip() == "{'user': None, 'tenant': None, 'webhook': None}"
    assert _settings_with_rates("5/min").stdout.strip() == "{'user': '5/min', 'tenant': '5/min', 'webhook': '5/min'}"


@pytest.mark.parametrize("rate", ["lots", "5", "5/fortnight", "/min"])
def test_a_malformed_rate_stops_the_server_at_startup_not_every_request(rate):
    result = _settings_with_rates(rate)
    assert result.returncode != 0
    assert "THROTTLE_USER_RATE must look like 600/min" in result.stderr
