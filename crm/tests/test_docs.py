"""SPEC §10: the OpenAPI document and Swagger UI/ReDoc work offline, with DEBUG off, straight after migrate."""

import re

import pytest
from django.core.management import call_command


def test_schema_is_served_and_valid(client, db):
    response = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/auth/token" in schema["paths"]


def test_schema_validates_without_warnings(db, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_local_assets_only(client, db, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_admin_static_is_served(client, db):
    assert client.get("/static/admin/css/base.css").status_code == 200
