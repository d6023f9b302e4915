"""SPEC §15 login limits: failed attempts per account and per client IP on /api/auth/token and /admin/login/."""

import datetime as dt
import threading

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection

from conftest import client_for
from crm.tests.factories import TEST_PASSWORD, UserFactory

TOKEN_URL = "/api/auth/token"
ADMIN_LOGIN_URL = "/admin/login/"
WINDOW = 15 * 60


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def api_login(client, username, password, ip="203.0.113.7", **extra):
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip, **extra)


def admin_login(client, username, password, ip="203.0.113.7"):
    return client.post(
        f"{ADMIN_LOGIN_URL}?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE="ru",
    )


def assert_rate_limited(response):
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "rate_limited"
    assert set(body) == {"error", "message", "details"}
    assert "access" not in body
    assert 0 < int(response["Retry-After"]) <= WINDOW


@pytest.fixture
def anon(api_client):
    return api_client(None)


def test_eleventh_attempt_is_refused_even_with_the_right_password_until_the_window_passes(owner, anon):
    for _ in range(10):
        response = api_login(anon, "owner", "wrong")
        assert response.status_code == 401
    refused = api_login(anon, "owner", TEST_PASSWORD)
    assert_rate_limited(refused)
    assert_rate_limited(api_login(anon, "owner", TEST_PASSWORD, ip="198.51.100.1"))  # the account, from anywhere

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=WINDOW + 1), tick=True):
        response = api_login(anon, "owner", TEST_PASSWORD)
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_the_window_is_still_closed_just_before_it_ends(owner, anon):
    for _ in range(10):
        api_login(anon, "owner", "wrong")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=WINDOW - 30), tick=True):
        refused = api_login(anon, "owner", TEST_PASSWORD)
    assert_rate_limited(refused)
    assert int(refused["Retry-After"]) <= 30


def test_unknown_usernames_are_limited_too(anon, db):
    for _ in range(10):
        assert api_login(anon, "Ghost", "guess").status_code == 401
    assert_rate_limited(api_login(anon, "ghost", "guess"))


def test_username_and_email_of_one_account_share_its_budget(owner, anon):
    for login in ["owner", "OWNER@example.com"] * 5:
        assert api_login(anon, login, "wrong").status_code == 401
    assert_rate_limited(api_login(anon, "owner@example.com", TEST_PASSWORD))
    assert_rate_limited(api_login(anon, "Owner", TEST_PASSWORD))


def test_successful_logins_do_not_count(owner, anon):
    for _ in range(15):
        assert api_login(anon, "owner", TEST_PASSWORD).status_code == 200
    for _ in range(10):
        assert api_login(anon, "owner", "wrong").status_code == 401
    assert_rate_limited(api_login(anon, "owner", TEST_PASSWORD))


def test_one_account_locked_leaves_the_others_alone(owner, manager, anon):
    for _ in range(11):
        api_login(anon, "owner", "wrong")
    assert api_login(anon, "manager", TEST_PASSWORD).status_code == 200


def test_fifty_failures_from_one_ip_close_it_for_every_account(owner, anon):
    for n in range(50):
        assert api_login(anon, f"guess{n}", "wrong").status_code == 401
    assert_rate_limited(api_login(anon, "owner", TEST_PASSWORD))
    assert api_login(anon, "owner", TEST_PASSWORD, ip="198.51.100.1").status_code == 200


def test_a_refusal_by_the_account_limit_does_not_spend_the_ip_budget(owner, anon, settings):
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_MAX_FAILURES_PER_IP = 8
    for _ in range(3):
        assert api_login(anon, "owner", "wrong").status_code == 401
    for _ in range(10):
        assert_rate_limited(api_login(anon, "owner", "wrong"))
    # 3 failures spent so far: 5 more failures are still answered, the 6th is refused.
    for n in range(5):
        assert api_login(anon, f"other{n}", "wrong").status_code == 401
    assert_rate_limited(api_login(anon, "other9", "wrong"))


def test_x_forwarded_for_is_not_trusted_by_default(owner, anon):
    for n in range(50):
        api_login(anon, f"guess{n}", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    assert_rate_limited(api_login(anon, "owner", TEST_PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9"))


def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_appended(owner, anon, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "127.0.0.1"
    for n in range(50):
        # The client forges a first entry each time; nginx appends the address it really saw.
        forged = f"10.0.0.{n}, 192.0.2.10"
        assert api_login(anon, f"guess{n}", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR=forged).status_code == 401
    assert_rate_limited(api_login(anon, "owner", TEST_PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.10"))
    ok = api_login(anon, "owner", TEST_PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.11")
    assert ok.status_code == 200


def test_ipv6_clients_are_counted_per_64(owner, anon):
    for n in range(50):
        api_login(anon, f"guess{n}", "wrong", ip=f"2001:db8:1:2::{n + 1:x}")
    assert_rate_limited(api_login(anon, "owner", TEST_PASSWORD, ip="2001:db8:1:2:ffff::1"))
    assert api_login(anon, "owner", TEST_PASSWORD, ip="2001:db8:1:3::1").status_code == 200


def test_bad_input_is_not_a_failed_attempt(owner, anon):
    for _ in range(15):
        response = anon.post(TOKEN_URL, {"username": "owner", "password": ""}, format="json")
        assert response.status_code == 400
    assert api_login(anon, "owner", TEST_PASSWORD).status_code == 200


def test_admin_login_is_limited_and_says_so_in_russian(owner, client):
    for _ in range(10):
        response = admin_login(client, "owner", "wrong")
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
    refused = admin_login(client, "owner", TEST_PASSWORD)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= WINDOW
    assert "Слишком много неудачных попыток входа" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=WINDOW + 1), tick=True):
        response = admin_login(client, "owner", TEST_PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_api_and_admin_share_one_budget(owner, anon, client):
    for _ in range(5):
        assert api_login(anon, "owner", "wrong").status_code == 401
        assert admin_login(client, "owner", "wrong").status_code == 200
    assert_rate_limited(api_login(anon, "owner", TEST_PASSWORD))
    assert admin_login(client, "owner", TEST_PASSWORD).status_code == 429


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="parallel connections need PostgreSQL")
def test_parallel_guesses_cannot_overshoot_the_account_limit(tenant):
    UserFactory(tenant=tenant, username="target")
    count = 16
    barrier = threading.Barrier(count)
    statuses, errors = [], []

    def guess():
        client = client_for(None)
        try:
            barrier.wait(timeout=10)
            statuses.append(api_login(client, "target", "wrong").status_code)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(statuses) == [401] * 10 + [429] * 6
