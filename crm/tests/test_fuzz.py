"""Schemathesis against the live server (`crm.serve` on PostgreSQL) from the project's own `/api/schema`.

Every operation but the endless SSE stream is fuzzed (valid and invalid inputs), each generated request sent as a
supervisor of tenant «alpha» and as a manager of tenant «beta». Path ids are the caller's real objects (so bodies
reach the services) and, once more, the other tenant's (which must never answer 2xx). Checks: no 5xx, responses
(status, content type, headers, body) conform to the schema, and nothing of the other tenant ever shows up: no
`tenant_id` but the caller's, none of its ids, webhook key or marker texts, also for what it created during the run.

Bounded in `make test` (FUZZ_MAX_EXAMPLES, default 10 per operation, derandomised, no coverage phase);
`make fuzz` runs it longer (FUZZ_MAX_EXAMPLES=200 FUZZ_RANDOM=1 FUZZ_PHASES=examples,coverage,fuzzing).
"""

import json
import os
import re

import httpx
import pytest
import schemathesis
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
)

from crm.i18n import API_LANGUAGE
from crm.tests.live_stack import live_stack, postgres_base_url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(postgres_base_url() is None, reason="fuzzes a live server on PostgreSQL (DATABASE_URL)"),
]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "") == ""
# The coverage phase (every boundary of every schema) alone sends thousands of requests: `make fuzz` adds it.
PHASES = os.environ.get("FUZZ_PHASES", "examples,fuzzing").split(",")
ACTORS = (("alpha", "owner"), ("beta", "manager1"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, response_headers_conformance]
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Tenancy:
    """What each tenant owns (seeded and created during the run), to spot it in the other tenant's answers."""

    def __init__(self, stack):
        self.stack = stack
        self.marker = {slug: f"{slug.upper()}-SECRET" for slug in stack.tenants}
        self.uuids: dict[str, set[str]] = {slug: set() for slug in stack.tenants}
        self.ids: dict[str, dict[str, str]] = {slug: {} for slug in stack.tenants}
        for slug, tenant in stack.tenants.items():
            self.uuids[slug].update(user["uuid"] for user in tenant.users.values())
            self._seed(slug, tenant)

    def _post(self, tenant, path: str, body: dict, kind: str) -> dict:
        response = httpx.post(f"{self.stack.base_url}{path}", json=body, headers=tenant.headers(), timeout=30)
        assert response.status_code == 201, (path, response.text)
        created = response.json()
        self.ids[tenant.slug][kind] = str(created["id"])
        if _UUID.fullmatch(str(created["id"])):
            self.uuids[tenant.slug].add(created["id"])
        return created

    def _seed(self, slug: str, tenant) -> None:
        marker, manager = self.marker[slug], tenant.users["manager1"]
        pipelines = httpx.get(f"{self.stack.base_url}/api/pipelines", headers=tenant.headers(), timeout=30).json()
        pipeline = pipelines["pipelines"][0]
        self.ids[slug]["pipeline"] = str(pipeline["id"])
        self.ids[slug]["stage"] = str(pipeline["stages"][1]["id"])
        self.ids[slug]["user"] = str(tenant.users["manager2"]["id"])
        self.ids[slug]["webhook_key"] = tenant.webhook_key
        lead = self._post(
            tenant,
            "/api/leads",
            {"name": f"{marker} lead", "email": f"{slug}@example.com", "assigned_to_user_id": manager["id"]},
            "lead",
        )
        self._post(tenant, f"/api/leads/{lead['id']}/tasks", {"note": f"{marker} task"}, "lead_task")
        client = self._post(
            tenant,
            "/api/v1/clients",
            {"type": "company", "full_name": f"{marker} client", "status": "active"},
            "client",
        )
        deal = self._post(
            tenant,
            "/api/v1/deals",
            {"client_id": client["id"], "title": f"{marker} deal", "sales_agent_id": manager["uuid"]},
            "deal",
        )
        policy = self._post(
            tenant,
            f"/api/v1/deals/{deal['id']}/policies",
            {
                "policy_number": f"{marker}-1",
                "insurer": "Ингосстрах",
                "effective_from": "2025-01-01",
                "effective_to": "2025-12-31",
                "premium_amount": 1000,
                "status": "draft",
            },
            "policy",
        )
        self._post(
            tenant,
            "/api/v1/payments",
            {
                "deal_id": deal["id"],
                "policy_id": policy["id"],
                "payment_type": "client_premium",
                "amount": 10,
                "currency": "RUB",
            },
            "payment",
        )
        self._post(
            tenant,
            "/api/v1/tasks",
            {"subject": f"{marker} v1 task", "description": "-", "assignee_id": manager["uuid"], "deal_id": deal["id"]},
            "deal_task",
        )

    def other(self, slug: str) -> str:
        return next(name for name in self.stack.tenants if name != slug)

    def remember(self, slug: str, response) -> None:
        """Ids and keys the caller's tenant got during the run become things the other tenant must never see."""
        if response.status_code not in (200, 201) or "json" not in response.headers.get("Content-Type", ""):
            return
        text = response.text
        self.uuids[slug].update(_UUID.findall(text))
        key = response.json().get("webhook_key") if text.startswith("{") else None
        if key:
            self.ids[slug]["webhook_key"] = key

    def leaks(self, slug: str, response, sent: str = "") -> list[str]:
        """Everything of the other tenant in `response` (empty when the response is clean).

        What the request itself carried (a foreign id in the path, echoed by "Deal … not found") is not a leak.
        """
        other = self.other(slug)
        text = response.text
        found = [self.marker[other]] if self.marker[other] in text else []
        found += sorted((self.uuids[other] & set(_UUID.findall(text))) - set(_UUID.findall(sent)))
        if self.ids[other]["webhook_key"] in text and self.ids[other]["webhook_key"] not in sent:
            found.append("webhook_key")
        if "json" in response.headers.get("Content-Type", ""):
            own_id = self.stack.tenants[slug].id
            found += [f"tenant_id={value}" for value in _tenant_ids(response.json()) if value != own_id]
        return found


def _tenant_ids(data):
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "tenant_id" and isinstance(value, int):
                yield value
            else:
                yield from _tenant_ids(value)
    elif isinstance(data, list):
        for item in data:
            yield from _tenant_ids(item)


# Which object a path parameter names, by path (`id` means different things on different paths).
_PATH_KINDS = {
    "/api/users/{id}": "user",
    "/api/pipelines/{id}": "pipeline",
    "/api/pipelines/{id}/stages": "pipeline",
    "/api/pipelines/stages/{id}": "stage",
    "/api/leads/{id}": "lead",
    "/api/leads/{id}/history": "lead",
    "/api/leads/{id}/stage": "lead",
    "/api/leads/{lead_id}/tasks": "lead",
    "/api/leads/tasks/{id}": "lead_task",
    "/api/v1/clients/{client_id}": "client",
    "/api/v1/deals/{deal_id}": "deal",
    "/api/v1/deals/{deal_id}/calculations": "deal",
    "/api/v1/deals/{deal_id}/journal": "deal",
    "/api/v1/deals/{deal_id}/policies": "deal",
    "/api/v1/payments/{payment_id}": "payment",
    "/api/v1/policies/{policy_id}": "policy",
    "/api/v1/tasks/{task_id}": "deal_task",
    "/api/webhooks/chatflow/{webhook_key}": "webhook_key",
    "/api/webhooks/site/{webhook_key}": "webhook_key",
    "/api/webhooks/whatsapp/{webhook_key}": "webhook_key",
}


@pytest.fixture(scope="module")
def stack():
    with live_stack("fuzz", workers=2) as live:
        yield live


@pytest.fixture(scope="module")
def tenancy(stack):
    return Tenancy(stack)


def project_schema() -> dict:
    """The document `/api/schema` serves, built in-process so pytest collects one test per operation.

    (schemathesis' lazy `from_fixture` loader does not work under pytest 9; the live document is compared below.)
    """
    with translation.override(API_LANGUAGE):  # as the API serves it, whatever language the test run left active
        document = SchemaGenerator().get_schema(request=None, public=True)
        return json.loads(OpenApiJsonRenderer().render(document))


schema = schemathesis.openapi.from_dict(project_schema())
schema.config.generation.update(modes=["positive", "negative"], database="none")
schema.config.phases.update(phases=PHASES)
# The SSE stream never ends: its behaviour is proven by events/tests/test_e2e.py and the load run.
schema = schema.exclude(path="/api/events/stream")


def _send(case, base_url, headers, tenancy, slug):
    response = case.call(base_url=base_url, headers=headers, timeout=30)
    case.validate_response(response, checks=CHECKS, headers=headers)
    sent = f"{case.formatted_path} {case.query!r} {case.body!r}"
    assert tenancy.leaks(slug, response, sent) == [], (case.method, case.formatted_path, response.text[:500])
    return response


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_fuzz(case, stack, tenancy):
    kind = _PATH_KINDS.get(case.path)
    for slug, role in ACTORS:
        headers = stack.tenants[slug].headers(role)
        if kind is not None:
            (name,) = case.path_parameters
            case.path_parameters = {**case.path_parameters, name: tenancy.ids[slug][kind]}
        response = _send(case, stack.base_url, headers, tenancy, slug)
        tenancy.remember(slug, response)
        if kind is not None:
            # The other tenant's real object: never found, whatever the body (403 where the role comes first, 401
            # when schemathesis dropped the token on purpose, 405/415 when the method or the body's media type is
            # refused before any lookup: none of them says whether the object exists). OPTIONS describes the
            # endpoint; DRF leaves out what needs the object when its lookup fails, as for an id that never existed.
            case.path_parameters = {name: tenancy.ids[tenancy.other(slug)][kind]}
            foreign = _send(case, stack.base_url, headers, tenancy, slug)
            unscoped = case.path.startswith("/api/webhooks/") or case.method == "OPTIONS"
            assert unscoped or foreign.status_code in (400, 401, 403, 404, 405, 415) or _key_reused(foreign), (
                case.method,
                case.path,
                foreign.text[:300],
            )


def _key_reused(response) -> bool:
    """The same Idempotency-Key was just used on the caller's own object: refused before any lookup (SPEC §9)."""
    return response.status_code == 409 and response.json()["error"] == "idempotency_key_reused"


LIST_PATHS = (
    "/api/users",
    "/api/pipelines",
    "/api/leads",
    "/api/v2/leads/table",
    "/api/tasks",
    "/api/v1/clients",
    "/api/v1/deals",
    "/api/v1/payments",
    "/api/v1/tasks",
)


def test_the_live_server_serves_the_fuzzed_schema(stack):
    live = httpx.get(f"{stack.base_url}/api/schema?format=json", timeout=30)
    assert live.status_code == 200
    assert live.json() == project_schema()


def test_after_the_fuzz_no_list_shows_the_other_tenants_rows(stack, tenancy):
    """Whatever the run created in one tenant, the other tenant's lists (as a supervisor) never show it."""
    for slug in stack.tenants:
        headers = stack.tenants[slug].headers()
        for path in LIST_PATHS:
            response = httpx.get(f"{stack.base_url}{path}?limit=200", headers=headers, timeout=30)
            assert response.status_code == 200, (path, response.text[:300])
            assert tenancy.leaks(slug, response) == [], path
