"""Input that cannot be stored or parsed is a 400 `validation_error` on every endpoint, never a 500 (SPEC §15).

NUL characters (PostgreSQL text cannot hold U+0000), JSON nested deeper than 100 levels (a few thousand levels
crashed Python's json module with RecursionError), numbers beyond a 64-bit integer (Python refuses int() over
4,300 digits; ids beyond bigint), in JSON and form bodies, query values, paths and headers. The routed /api and
/api/v1 endpoints are read from the isolation matrix (itself checked against the URL resolver), so a new endpoint
is covered here too; every refused request must leave every row of the project as it was.
"""

import base64
import hashlib
import hmac
import json

import orjson
import pytest

from conftest import client_for
from crm.api.parsers import MAX_JSON_DEPTH, parse_json
from crm.errors import ValidationFailed
from crm.tests.test_isolation_matrix import CASES, OWN, _path_for, assert_error, database_rows
from pipelines.models import InboundDelivery, Lead

ENDPOINTS = sorted(CASES)
ENDPOINT_IDS = [f"{method} {route}" for route, method in ENDPOINTS]

POISONED_JSON = {
    "nesting 5,000 deep": b"[" * 5000 + b"]" * 5000,
    "nesting 101 deep": b'{"name": ' + b"[" * (MAX_JSON_DEPTH) + b"]" * (MAX_JSON_DEPTH) + b"}",
    "NUL in a value": b'{"name": "a\\u0000b", "phone": "+79160000001", "username": "x\\u0000"}',
    "NUL in a key": b'{"name": "ok", "extra": {"k\\u0000": 1}}',
    "5,000-digit number": b'{"name": "ok", "stage_id": ' + b"9" * 5000 + b"}",
    "integer beyond bigint": b'{"name": "ok", "stage_id": 9223372036854775808}',
    "integer below bigint": b'{"name": "ok", "offset": -9223372036854775809}',
    "number beyond a double": b'{"name": "ok", "amount": 1e400}',
    "float beyond bigint": b'{"name": "ok", "stage_id": 1e19}',
    "lone surrogate": b'{"name": "\\ud800"}',
    "not JSON": b'{"name": ',
}


def _url(world, route, method, *, which=OWN) -> str:
    return _path_for(world, CASES[(route, method)], which)


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def assert_refused(response, field: str | None = None) -> dict:
    body = assert_error(response, 400, "validation_error")
    if field is not None:
        assert field in body["details"], body
    return body


# ---------------------------------------------------------------- the parser's own limits


def test_parse_json_accepts_the_limits_themselves():
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    edges = b'{"a": [-9223372036854775808, 9223372036854775807, 1.5e18, "\\u00e9"]}'

    assert parse_json(nested) is not None
    assert parse_json(edges) == {"a": [-(2**63), 2**63 - 1, 1.5e18, "é"]}


@pytest.mark.parametrize("raw", list(POISONED_JSON.values()), ids=list(POISONED_JSON))
def test_parse_json_refuses_each_poison(raw):
    with pytest.raises(ValidationFailed):
        parse_json(raw)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"name": "a\\u0000"}', "name"),
        (b'{"contact": {"phone": 99999999999999999999}}', "contact.phone"),
        (b'{"contacts": [{"type": "phone"}, {"value": "\\u0000"}]}', "contacts.1.value"),
        (b'{"contact": {"k\\u0000": 1}}', "contact"),
        (b'["\\u0000"]', "0"),
        (b'"\\u0000"', "body"),
        (b"[" * 101 + b"]" * 101, "body"),
        (b"{", "body"),
    ],
)
def test_the_refusal_names_the_field_at_fault(raw, field):
    with pytest.raises(ValidationFailed) as caught:
        parse_json(raw)

    assert list(caught.value.details) == [field]
    assert caught.value.message.startswith(f"{field}: " if field != "body" else "Malformed request body: ")


# ---------------------------------------------------------------- every routed endpoint


@pytest.mark.parametrize(("route", "method"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_every_endpoint_refuses_unparseable_json(world, route, method):
    client = client_for(world.owner)
    url = _url(world, route, method)
    before = database_rows()

    for name, raw in POISONED_JSON.items():
        response = client.generic(method, url, raw, content_type="application/json")
        assert response.status_code == 400, (name, response.status_code, response.content[:300])
        assert_refused(response)

    assert database_rows() == before


@pytest.mark.parametrize(("route", "method"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_every_endpoint_refuses_nul_in_the_query_path_and_headers(world, route, method):
    client = client_for(world.owner)
    url = _url(world, route, method)
    before = database_rows()

    assert_refused(client.generic(method, _with_query(url, "search=a%00b")), "search")
    assert_refused(client.generic(method, _with_query(url, "unknown=%00")), "unknown")
    assert_refused(client.generic(method, url, HTTP_IDEMPOTENCY_KEY="key\x00"), "Idempotency-Key")
    assert_refused(client_for(None).generic(method, url, HTTP_AUTHORIZATION="Bearer \x00"), "Authorization")
    assert_refused(client.generic(method, url.replace("/", "/%00", 2)), "path")

    assert database_rows() == before


# ---------------------------------------------------------------- bodies: webhooks and auth


def test_auth_token_refuses_deep_json_and_nul(world):
    client = client_for(None)

    deep = client.generic("POST", "/api/auth/token", b"[" * 3000 + b"]" * 3000, content_type="application/json")
    nul = client.post("/api/auth/token", {"username": "owner\x00", "password": "x"}, format="json")

    assert_refused(deep, "body")
    assert_refused(nul, "username")


@pytest.mark.parametrize(
    "body",
    [
        "phone=%2B79160000001&name=a%00b",
        "phone=%2B79160000001&junk%00=1",
        "phone=%2B79160000001&name=a\x00b",
    ],
)
def test_site_form_with_nul_is_400_and_stores_nothing(world, body):
    url = f"/api/webhooks/site/{world['tenant'][OWN].webhook_key}"

    response = client_for(None).generic("POST", url, body, content_type="application/x-www-form-urlencoded")

    assert_refused(response, "body")
    assert not Lead.objects.filter(phone="+79160000001").exists()
    assert not InboundDelivery.objects.exists()


def test_site_form_text_percent_zero_zero_is_not_a_nul(world):
    url = f"/api/webhooks/site/{world['tenant'][OWN].webhook_key}"
    body = "phone=%2B79160000001&message=100%2500"

    response = client_for(None).generic("POST", url, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 201
    assert Lead.objects.get(phone="+79160000001").comment == "100%00"


def test_signed_whatsapp_notification_with_nul_is_400(world):
    tenant = world["tenant"][OWN]
    raw = (
        b'{"entry": [{"changes": [{"value": {"messages": [{"from": "79160000009", "id": "wamid.N", "type": "text",'
        b' "text": {"body": "a\\u0000"}}]}}]}]}'
    )
    signature = "sha256=" + hmac.new(tenant.whatsapp_app_secret.encode(), raw, hashlib.sha256).hexdigest()

    response = client_for(None).generic(
        "POST",
        f"/api/webhooks/whatsapp/{tenant.webhook_key}",
        raw,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )

    assert_refused(response, "entry.0.changes.0.value.messages.0.text.body")
    assert not InboundDelivery.objects.exists()


def test_too_many_query_parameters_are_a_400_in_the_envelope(world):
    query = "&".join(f"p{n}=1" for n in range(1500))

    assert_refused(client_for(world.owner).get(f"/api/leads?{query}"), "query")


# ---------------------------------------------------------------- numbers beyond range in query values


@pytest.mark.parametrize(
    "url",
    [
        "/api/leads?stage_id=" + "9" * 5000,
        "/api/leads?pipeline_id=9223372036854775808",
        "/api/leads?limit=" + "9" * 5000,
        "/api/leads?offset=" + "9" * 5000,
        "/api/v2/leads/table?assigned_to_user_id=" + "9" * 5000,
        "/api/v2/leads/table?offset=-" + "9" * 5000,
        "/api/tasks?limit=" + "9" * 5000,
        "/api/v1/clients?limit=" + "9" * 5000,
        "/api/v1/deals?offset=" + "9" * 5000,
        "/api/pipelines?tenant_id=" + "9" * 5000,
    ],
    ids=lambda url: url.split("?")[0] + "?" + url.split("?")[1][:24],
)
def test_numbers_beyond_range_in_query_values_are_400(world, url):
    assert_refused(client_for(world.owner).get(url))


@pytest.mark.parametrize(
    "url",
    ["/api/leads/" + "9" * 5000, "/api/leads/9223372036854775808/history", "/api/pipelines/" + "9" * 30],
)
def test_ids_beyond_range_in_a_path_are_not_found(world, url):
    # An id that cannot exist is an unknown object (SPEC §3: 404), like a malformed UUID under /api/v1.
    assert_error(client_for(world.owner).get(url), 404, "not_found")


# ---------------------------------------------------------------- the lead table's cursor and search


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def _raw_cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("ordering", "cursor"),
    [
        ("name", _cursor(["name", "a\x00", 1])),
        ("-created_at", _cursor(["-created_at", "2025-01-01T00:00:00\x00", 1])),
        ("-id", _cursor(["-id", 1, 2**64 - 1])),
        ("-id", _cursor(["-id", 2**63, 1])),
        ("-id", _raw_cursor(b'["-id", 1, ' + b"9" * 5000 + b"]")),
        ("-id", _raw_cursor(b"[" * 5000 + b"]" * 5000)),
        ("-id", _raw_cursor(b'["-id", ' + b"[" * 200 + b"]" * 200 + b", 1]")),
        ("-id", _cursor(["-id", 1])),
        ("-id", _cursor({"ordering": "-id"})),
        ("-id", _cursor(["-created_at", 1, 1])),
        ("-created_at", _cursor(["-created_at", "not a date", 1])),
        ("-created_at", _cursor(["-created_at", 12, 1])),
        ("-id", "%%%not-base64"),
        ("-id", _raw_cursor(b"\xff\xfe")),
    ],
)
def test_malformed_lead_table_cursors_are_400(world, ordering, cursor):
    response = client_for(world.owner).get("/api/v2/leads/table", {"ordering": ordering, "cursor": cursor})

    assert_refused(response, "cursor")


def test_a_valid_cursor_still_pages(world):
    client = client_for(world.owner)
    first = client.get("/api/v2/leads/table", {"ordering": "name", "cursor": "", "limit": 1}).json()

    second = client.get("/api/v2/leads/table", {"ordering": "name", "cursor": first["next_cursor"], "limit": 1})

    assert second.status_code == 200
    assert second.json()["rows"][0]["id"] != first["rows"][0]["id"]


@pytest.mark.parametrize("search", ["a\x00", "\x00", "+7916\x00"])
def test_lead_table_search_with_nul_is_400(world, search):
    assert_refused(client_for(world.owner).get("/api/v2/leads/table", {"search": search}), "search")


# ---------------------------------------------------------------- outside the API


def test_the_board_move_refuses_deep_json_in_the_envelope(world, client):
    from crm.tests.factories import TEST_PASSWORD

    client.login(username=world.owner.username, password=TEST_PASSWORD)
    lead = world["lead"][OWN]
    url = f"/admin/pipelines/pipeline/{lead.pipeline_id}/board/cards/{lead.pk}/move/"
    stage_before = lead.stage_id

    response = client.generic("POST", url, b"[" * 5000 + b"]" * 5000, content_type="application/json")

    assert_refused(response, "body")
    lead.refresh_from_db()
    assert lead.stage_id == stage_before


def test_the_admin_answers_nul_in_a_search_with_its_own_400_page(world, client):
    from crm.tests.factories import TEST_PASSWORD

    client.login(username=world.owner.username, password=TEST_PASSWORD)

    response = client.get("/admin/pipelines/lead/", {"q": "a\x00"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_request_error_is_one_envelope_json(world):
    response = client_for(world.owner).generic("POST", "/api/leads", b"[" * 200 + b"]" * 200, "application/json")

    assert json.loads(response.content) == {
        "error": "validation_error",
        "message": f"Malformed request body: Nested deeper than {MAX_JSON_DEPTH} levels.",
        "details": {"body": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]},
    }
