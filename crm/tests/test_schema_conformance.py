"""Regressions found by the schemathesis run (crm/tests/test_fuzz.py), checked in-process on every database.

Each test sends a real request and validates the response against the project's own OpenAPI document.
"""

import datetime

import httpx
import pytest
import schemathesis

from crm.tests.factories import UserFactory
from crm.tests.test_fuzz import project_schema
from pipelines.services import default_pipeline_ensure

SCHEMA = schemathesis.openapi.from_dict(project_schema())


def assert_conforms(path_template: str, method: str, response) -> None:
    converted = httpx.Response(
        response.status_code,
        headers=dict(response.headers),
        content=response.content,
        request=httpx.Request(method, f"http://testserver{response.wsgi_request.get_full_path()}"),
    )
    converted.elapsed = datetime.timedelta(0)
    SCHEMA[path_template][method].validate_response(converted)


@pytest.mark.parametrize(("path", "template"), [("/api/auth/me", "/api/auth/me"), ("/api/users", "/api/users")])
def test_users_without_an_email_conform_to_the_schema(api_client, tenant, path, template):
    """Fuzz finding: `email` was documented as `format: email`, but a user may have none ("")."""
    user = UserFactory(tenant=tenant, role="owner", username="no-mail", email="")
    response = api_client(user).get(path)
    assert response.status_code == 200
    assert_conforms(template, "GET", response)


def test_one_user_without_an_email_conforms_to_the_schema(api_client, owner, tenant):
    colleague = UserFactory(tenant=tenant, username="silent", email="")
    response = api_client(owner).get(f"/api/users/{colleague.pk}")
    assert response.json()["email"] == ""
    assert_conforms("/api/users/{id}", "GET", response)


def test_the_pipeline_list_is_documented_as_the_object_it_is(api_client, owner, tenant):
    """Fuzz finding: the schema said the list was an array of `{"pipelines", "total"}` objects."""
    default_pipeline_ensure(tenant=tenant)
    response = api_client(owner).get("/api/pipelines")
    assert set(response.json()) == {"pipelines", "total"}
    assert_conforms("/api/pipelines", "GET", response)


def test_the_lead_table_is_documented_as_the_object_it_is(api_client, owner, tenant):
    """Fuzz finding: the schema said the table was an array of `{"rows", "total"}` objects."""
    default_pipeline_ensure(tenant=tenant)
    response = api_client(owner).get("/api/v2/leads/table")
    assert set(response.json()) == {"rows", "total"}
    assert_conforms("/api/v2/leads/table", "GET", response)
