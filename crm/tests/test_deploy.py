"""Deployment (SPEC §15): the WSGI app refuses the stream, `SECURE_SSL=1` passes `check --deploy`, the compose file
holds no secret and loads no demo data on its production path."""

import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django_eventstream.views import get_listener_manager

from crm.tests.live import ROOT
from events.tests.conftest import token_for

STREAM_APPS = ["crm", "pipelines", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"]


def _wsgi_get(path: str, headers: dict | None = None):
    from crm.wsgi import application

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()},
    }
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started.update(status=status, headers=dict(response_headers))

    body = b"".join(application(environ, start_response))
    return started["status"], started["headers"], body


@pytest.mark.django_db(transaction=True, available_apps=STREAM_APPS)
def test_the_wsgi_application_refuses_the_stream_naming_the_asgi_server(owner):
    status, headers, body = _wsgi_get("/api/events/stream", {"Authorization": f"Bearer {token_for(owner)}"})

    assert status.startswith("404")
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["error"] == "not_found"
    assert "python -m crm.serve" in payload["message"]
    assert get_listener_manager().listeners_by_channel == {}


@pytest.mark.django_db
def test_the_wsgi_application_serves_everything_else():
    status, _, body = _wsgi_get("/healthz")
    assert status.startswith("200")
    assert json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize("entry_point", ["crm.wsgi", "crm.asgi"])
def test_the_servers_entry_points_load_every_view_and_freeze_the_start_up_heap(entry_point):
    probe = f"import gc, sys, {entry_point}; print(gc.get_freeze_count(), 'deals.api.views.deals' in sys.modules)"
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_SETTINGS")}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "crm.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    frozen, views_loaded = done.stdout.split()
    # Out of the collector's walks (crm/warmup.py): the whole start-up heap, i.e. far more than Django's own modules.
    assert int(frozen) > 100_000
    assert views_loaded == "True"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("SECURE_", "DJANGO_SETTINGS"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "crm.settings", **env},
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_with_secure_ssl():
    result = _manage("check", "--deploy", SECURE_SSL="1", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_without_secure_ssl_the_site_is_plain_http():
    """`make run` on a laptop: no redirect, no HSTS, cookies over http (check --deploy says so)."""
    result = _manage("check", "--deploy", "--fail-level", "ERROR", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr
    for warning in ("security.W004", "security.W008", "security.W012"):
        assert warning in result.stderr + result.stdout


@pytest.mark.django_db
def test_secure_ssl_redirects_to_https_except_the_probes(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz)$"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    client = Client()

    redirected = client.get("/api/auth/me")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/api/auth/me"
    assert client.get("/healthz").status_code == 200
    behind_proxy = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy["Strict-Transport-Security"].startswith("max-age=3600")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _environment_values(compose: dict):
    app = compose["x-app"]["environment"]
    yield from app.items()
    for service in compose["services"].values():
        yield from (service.get("environment") or {}).items()


def test_compose_holds_no_literal_secret():
    compose = _compose()
    for name, value in _environment_values(compose):
        if any(word in name for word in ("SECRET", "PASSWORD", "KEY", "TOKEN")):
            assert str(value).startswith("${"), f"{name} must come from the environment"
            assert ":?" in str(value), f"{name} must be required"
    assert ":?" in compose["x-app"]["environment"]["DATABASE_URL"]  # its password too
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
    example = Path(ROOT / ".env.example").read_text()
    assert "SECRET_KEY=\n" in example
    assert "POSTGRES_PASSWORD=\n" in example


def test_compose_production_path_loads_no_demo_data():
    services = _compose()["services"]
    for name, service in services.items():
        command = " ".join(service.get("command") or [])
        if "demo_data" in command:
            assert service.get("profiles") == ["demo"], f"{name} loads demo data outside the demo profile"
    assert "demo_data" not in " ".join(services["migrate"]["command"])
    assert "crm.wsgi" in " ".join(services["api"]["command"])
    assert "crm.serve" in " ".join(services["events"]["command"])
