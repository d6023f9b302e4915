"""The raw floor of bench/floor_compare.py answers every route like the product: same status, row count and keys.

The floor (bench/floor_app.py) runs its SQL on the test's own connection, so it sees the rows the test made inside
its transaction. PostgreSQL only: the floor's SQL is PostgreSQL's.
"""

import io
import json
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from conftest import client_for
from crm.tokens import issue_token_pair
from deals.tests.factories import DealFactory, PaymentFactory, PolicyFactory
from pipelines.models import Stage
from tasks.tests.factories import LeadTaskFactory, make_lead

sys.path.insert(0, str(Path(__file__).resolve().parent))
import floor_app  # noqa: E402 - a sibling script

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the floor's SQL is PostgreSQL's")


@pytest.fixture
def floor(db, monkeypatch):
    """Call the floor app in-process on the test's connection: (method, path, body) -> (status, payload)."""
    connection.ensure_connection()
    monkeypatch.setattr(floor_app, "_connection", connection.connection)
    monkeypatch.setenv("FLOOR_JWT_KEY", settings.SIMPLE_JWT["SIGNING_KEY"])

    def call(method: str, path: str, body: dict | None = None, token: str = ""):
        path, _, query = path.partition("?")
        raw = json.dumps(body).encode() if body is not None else b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_LENGTH": str(len(raw)),
            "wsgi.input": io.BytesIO(raw),
            "HTTP_AUTHORIZATION": f"Bearer {token}",
        }
        answer = {}
        chunks = floor_app.application(environ, lambda status, headers: answer.update(status=int(status[:3])))
        return answer["status"], json.loads(b"".join(chunks))

    return call


def _shape(payload, rows_key: str | None):
    rows = payload if rows_key in (None, "") else payload[rows_key]
    rows = rows if isinstance(rows, list) else [rows]
    return len(rows), sorted(rows[0]) if rows else []


def test_every_route_answers_like_the_product(floor, tenant, owner):
    lead = make_lead(tenant=tenant, assigned_to=owner)
    LeadTaskFactory(lead=lead, due_at=timezone.now())
    PaymentFactory(policy=PolicyFactory(deal=DealFactory(tenant=tenant)))
    other_stage = Stage.objects.filter(pipeline=lead.pipeline, is_closed=False).exclude(pk=lead.stage_id).first()
    product, token = client_for(owner), issue_token_pair(owner)["access"]
    tenant_query = f"tenant_id={tenant.pk}"
    cases = [
        ("GET", "/api/auth/me", None, None, ""),
        ("GET", "/api/v1/deals?limit=25", None, "", f"&{tenant_query}"),
        ("GET", "/api/v1/payments", None, "", f"?{tenant_query}"),
        ("GET", "/api/v2/leads/table?limit=50", None, "rows", f"&{tenant_query}"),
        ("GET", "/api/tasks?status=open&due=today", None, "tasks", f"&{tenant_query}"),
        ("PATCH", f"/api/leads/{lead.pk}/stage", {"stage_id": other_stage.pk}, None, f"?{tenant_query}"),
        ("POST", f"/api/webhooks/site/{tenant.webhook_key}", {"name": "Site", "phone": "+79501234567"}, None, ""),
    ]
    for method, path, body, rows_key, floor_query in cases:
        answer = product.generic(method, path, json.dumps(body) if body else "", content_type="application/json")
        status, payload = floor(method, path + floor_query, body, token)
        assert (status, _shape(payload, rows_key)) == (answer.status_code, _shape(answer.json(), rows_key)), path
        assert _shape(payload, rows_key)[0] >= 1, path
