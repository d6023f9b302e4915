"""SPEC §10: the OpenAPI document and Swagger UI/ReDoc work offline, with DEBUG off, straight after migrate."""

import re
from pathlib import Path

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


def _markdown_files():
    root = Path(__file__).resolve().parents[2]
    return [root / "README.md", root / "BENCHMARKS.md", *sorted((root / "docs").rglob("*.md"))]


@pytest.mark.parametrize("document", _markdown_files(), ids=lambda path: path.name)
def test_relative_links_in_the_docs_resolve_inside_the_repo(document):
    """A clone must be able to follow every reference: no link may point outside the repository or nowhere."""
    root = Path(__file__).resolve().parents[2]
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(root), f"{document.name} links outside the repo: {target}"
        assert resolved.exists(), f"{document.name} links to a missing file: {target}"
