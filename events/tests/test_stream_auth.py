"""Who may open the stream: the 401/405 answers (no stream is opened, so no transactional database needed)."""

from datetime import timedelta

import pytest

from events.tests.conftest import token_for

URL = "/api/events/stream"
pytestmark = pytest.mark.django_db


def test_anonymous_gets_401_envelope(client):
    response = client.get(URL, HTTP_ACCEPT="text/event-stream")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "unauthorized",
        "message": "Authentication credentials were not provided.",
        "details": None,
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": "Bearer not-a-jwt"}, ""),
        ({"Authorization": "Token abc"}, ""),
        ({}, "?access_token=not-a-jwt"),
    ],
)
def test_invalid_token_gets_401(client, headers, query):
    response = client.get(URL + query, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_expired_token_gets_401(client, owner):
    token = token_for(owner, lifetime=timedelta(seconds=-5))

    response = client.get(URL, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_only_get_is_allowed(client, owner):
    response = client.post(URL, headers={"Authorization": f"Bearer {token_for(owner)}"})

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response["Allow"] == "GET"


def test_session_post_is_refused_before_anything_else(client, owner):
    client.force_login(owner)

    response = client.post(URL)

    assert response.status_code == 405
