"""Faults with real processes: PostgreSQL restarted under a running server, Redis gone (issue: proof under faults).

Each test runs its own PostgreSQL cluster / Redis on free ports, so the shared services are never disturbed.
"""

import httpx
import pytest

from crm.tests.live import PrivatePostgres, PrivateRedis, create_tenant, manage, running_server, server_env, token_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def private_postgres():
    try:
        postgres = PrivatePostgres()
        postgres.init()
        postgres.start()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"no private PostgreSQL cluster possible here: {exc}")
    yield postgres
    postgres.remove()


def _users(base_url, token):
    return httpx.get(f"{base_url}/api/users", headers={"Authorization": f"Bearer {token}"}, timeout=15)


def test_postgres_restart_gives_503_then_recovers_without_a_server_restart(private_postgres):
    env = server_env(DATABASE_URL=private_postgres.url, DB_POOL_MAX_SIZE="4", DB_POOL_TIMEOUT="2")
    manage(env, "migrate", "--noinput")
    tenant = create_tenant(env, "faulty")
    with running_server(env) as base_url:
        token = token_for(base_url, tenant["username"], tenant["password"])
        assert _users(base_url, token).status_code == 200

        private_postgres.stop()
        down = _users(base_url, token)
        assert down.status_code == 503
        assert down.json()["error"] == "service_unavailable"
        ready = httpx.get(f"{base_url}/readyz", timeout=15)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("error")

        private_postgres.start()
        # The pool drops its dead connections; within a few requests everything answers again.
        statuses = [_users(base_url, token).status_code for _ in range(5)]
        assert statuses[-1] == 200
        assert set(statuses) <= {200, 503}
        assert httpx.get(f"{base_url}/readyz", timeout=15).status_code == 200


def test_redis_down_keeps_the_api_working_and_readyz_says_why(private_postgres):
    redis = PrivateRedis()
    redis.start()
    env = server_env(DATABASE_URL=private_postgres.url, REDIS_URL=redis.url, DB_POOL_MAX_SIZE="4")
    manage(env, "migrate", "--noinput")
    tenant = create_tenant(env, "noredis")
    try:
        with running_server(env) as base_url:
            token = token_for(base_url, tenant["username"], tenant["password"])
            assert _users(base_url, token).status_code == 200
            redis.stop()
            assert _users(base_url, token).status_code == 200
            ready = httpx.get(f"{base_url}/readyz", timeout=15)
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"].startswith("error")
            redis.start()
            assert httpx.get(f"{base_url}/readyz", timeout=15).json()["checks"]["redis"] == "ok"
    finally:
        redis.stop()
