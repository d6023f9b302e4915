"""SPEC §3: every response the project can produce under /api is the envelope, never an HTML page."""

import math
import time

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import path
from rest_framework.views import APIView

from crm import urls as project_urls


class Boom(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("unexpected")


def plain_boom(request):
    raise RuntimeError("unexpected outside DRF")


urlpatterns = [
    path("api/boom", Boom.as_view()),
    path("api/plain-boom", plain_boom),
    *project_urls.urlpatterns,
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


def _assert_envelope(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code
    return body


def test_unknown_route_is_404_not_found(client, db):
    _assert_envelope(client.get("/api/no/such/route"), 404, "not_found")
    _assert_envelope(client.post("/api/v1/nothing-here"), 404, "not_found")


def test_unknown_route_outside_api_is_json_too(client, db):
    _assert_envelope(client.get("/no-such-page"), 404, "not_found")


@override_settings(ROOT_URLCONF=__name__)
def test_unhandled_exception_in_drf_view_is_500_without_trace(db):
    body = _assert_envelope(Client(raise_request_exception=False).get("/api/boom"), 500, "internal_error")
    assert "unexpected" not in body["message"]


@override_settings(ROOT_URLCONF=__name__)
def test_unhandled_exception_outside_drf_is_500_envelope(db):
    response = Client(raise_request_exception=False).get("/api/plain-boom")
    _assert_envelope(response, 500, "internal_error")


def test_method_not_allowed(owner_client):
    _assert_envelope(owner_client.put("/api/auth/me", {}), 405, "method_not_allowed")


def test_wrong_content_type_is_415(owner_client):
    response = owner_client.generic("POST", "/api/users", "username=x", content_type="text/plain")
    _assert_envelope(response, 415, "unsupported_media_type")


def test_body_over_one_mebibyte_is_413(owner_client):
    big = '{"username": "' + "x" * (1024 * 1024 + 10) + '"}'
    response = owner_client.generic("POST", "/api/users", big, content_type="application/json")
    _assert_envelope(response, 413, "payload_too_large")


def test_throttled_requests_are_429_with_retry_after(owner_client, settings):
    cache.clear()
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user": "2/min"}
    try:
        assert owner_client.get("/api/auth/me").status_code == 200
        second = owner_client.get("/api/auth/me")
        response = owner_client.get("/api/auth/me")
    finally:
        cache.clear()
    assert second.status_code == 200
    assert second["RateLimit-Limit"] == "2"
    assert second["RateLimit-Remaining"] == "0"
    _assert_envelope(response, 429, "rate_limited")
    assert 0 < int(response["Retry-After"]) <= 60
    assert 0 < int(response["RateLimit-Reset"]) <= 60


@pytest.mark.parametrize("into_the_window", [0.0, 0.3, 59.7])
def test_retry_after_never_points_past_the_window(owner_client, settings, into_the_window):
    """A minute's limit is open again within 60 s at most, wherever in the minute the refusal falls (it said 61 in
    the first second of a minute)."""
    minute = (int(time.time()) // 60 + 2) * 60
    cache.clear()
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user": "1/min"}
    try:
        with time_machine.travel(minute + into_the_window, tick=False):
            owner_client.get("/api/auth/me")
            response = owner_client.get("/api/auth/me")
    finally:
        cache.clear()
    _assert_envelope(response, 429, "rate_limited")
    expected = str(math.ceil(60 - into_the_window))
    assert response["Retry-After"] == response["RateLimit-Reset"] == expected


def test_tenant_limit_is_shared_by_its_users(api_client, owner, manager, foreign_owner, settings):
    cache.clear()
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "tenant": "2/min"}
    try:
        assert api_client(owner).get("/api/auth/me").status_code == 200
        assert api_client(manager).get("/api/auth/me").status_code == 200
        refused = api_client(owner).get("/api/auth/me")
        other_tenant = api_client(foreign_owner).get("/api/auth/me")
    finally:
        cache.clear()
    _assert_envelope(refused, 429, "rate_limited")
    assert other_tenant.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints(client, db, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_names_the_database(client, db):
    assert response_checks(client)["database"] == "ok"


def response_checks(client):
    return client.get("/readyz").json()["checks"]
