"""The raw floor of bench/floor_compare.py: a WSGI app without Django, one SQL statement per request, orjson.

    FLOOR_DATABASE_URL=postgres://… FLOOR_JWT_KEY=<the product's SECRET_KEY> \
        .venv/bin/gunicorn -w 2 -b 127.0.0.1:8001 --chdir bench floor_app:application

Each route answers the product's path with the same rows and columns the product returns, from one statement on one
psycopg connection per worker (opened on the worker's first request, autocommit, `application_name` `bench-floor`
so the bench can tell its PostgreSQL backends from the product's). What the product learns from the caller's token
(the tenant) the floor takes from `?tenant_id=`; only `/api/auth/me` decodes the token (PyJWT) because that is the
work it stands for. No auth, throttling, validation, history or events: what no framework can beat.
"""

import os
import re
from urllib.parse import parse_qs

import jwt
import orjson
import psycopg

ME = "SELECT id, uuid, username, email, tenant_id, role, full_name FROM crm_user WHERE id = %(user)s AND is_active"
DEALS = """SELECT d.id, d.client_id, c.full_name AS client_name, d.title, d.description, d.status, d.sales_agent_id,
       d.executor_id, d.expected_close_date, d.tags, d.folder_id, d.renews_policy_id, d.lead_id, d.version,
       d.created_at, d.updated_at
FROM deals_deal d JOIN deals_client c ON c.id = d.client_id
WHERE d.tenant_id = %(tenant)s ORDER BY d.created_at DESC, d.id DESC LIMIT %(limit)s"""
PAYMENTS = """SELECT id, deal_id, policy_id, payment_type, status, planned_date, amount::float8 AS amount, currency,
       external_ref, notes, received_at, paid_out_at, version, created_at, updated_at
FROM deals_payment WHERE tenant_id = %(tenant)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s"""
LEAD_TABLE = """SELECT l.id, l.name, l.phone, l.email, l.source, l.pipeline_id, p.name AS pipeline_name, l.stage_id,
       s.name AS stage_name, s.color AS stage_color, l.assigned_to_id AS assigned_to_user_id,
       COALESCE(NULLIF(u.full_name, ''), u.username) AS assigned_to_name, l.price::float8 AS price,
       (SELECT count(*) FROM tasks_leadtask t WHERE t.lead_id = l.id AND t.status = 'open') AS open_tasks_count,
       (SELECT t.due_at FROM tasks_leadtask t WHERE t.lead_id = l.id AND t.status = 'open' AND t.due_at IS NOT NULL
        ORDER BY t.due_at LIMIT 1) AS next_task_due_at,
       l.moved_to_stage_at, l.created_at, l.updated_at
FROM pipelines_lead l JOIN pipelines_pipeline p ON p.id = l.pipeline_id JOIN pipelines_stage s ON s.id = l.stage_id
LEFT JOIN crm_user u ON u.id = l.assigned_to_id
WHERE l.tenant_id = %(tenant)s ORDER BY l.created_at DESC, l.id DESC LIMIT %(limit)s"""
# «Today» on the tenant's wall clock, as the product computes it (tasks.selectors.due_bucket_q); the bounds are
# scalar subqueries, so PostgreSQL computes them once and scans the (tenant, status, due_at) index between them.
TASKS_TODAY = """WITH day AS (SELECT date_trunc('day', now() AT TIME ZONE timezone) AS midnight, timezone
             FROM crm_tenant WHERE id = %(tenant)s)
SELECT t.id, t.lead_id, t.type, t.status, t.due_at, t.note, t.assigned_to_id AS assigned_to_user_id,
       t.created_by_id AS created_by_user_id, t.completed_at, t.created_at, t.updated_at, t.version
FROM tasks_leadtask t
WHERE t.tenant_id = %(tenant)s AND t.status = 'open'
  AND t.due_at >= (SELECT midnight AT TIME ZONE timezone FROM day)
  AND t.due_at < (SELECT (midnight + interval '1 day') AT TIME ZONE timezone FROM day)
ORDER BY t.due_at ASC NULLS LAST, t.id LIMIT %(limit)s"""
LEAD_COLUMNS = """id, tenant_id, name, phone, email, source, external_id, comment, pipeline_id, stage_id,
       moved_to_stage_at, assigned_to_id AS assigned_to_user_id, price::float8 AS price, loss_reason_id, client_id,
       deal_id, created_at, updated_at, version, source_payload"""
STAGE_MOVE = f"""UPDATE pipelines_lead SET stage_id = %(stage)s, moved_to_stage_at = now(), updated_at = now(),
       version = version + 1
WHERE id = %(lead)s AND tenant_id = %(tenant)s
RETURNING {LEAD_COLUMNS}"""
# The webhook key names the tenant; the lead lands in the first stage of its default pipeline, as in the product.
INTAKE = """INSERT INTO pipelines_lead (tenant_id, name, phone, email, source, comment, pipeline_id, stage_id,
                            moved_to_stage_at, source_payload, created_at, updated_at, version)
SELECT t.id, %(name)s, %(phone)s, %(email)s, 'site', %(message)s, p.id, s.id, now(), %(payload)s, now(), now(), 1
FROM crm_tenant t JOIN pipelines_pipeline p ON p.tenant_id = t.id AND p.is_default,
     LATERAL (SELECT id FROM pipelines_stage WHERE pipeline_id = p.id ORDER BY order_index, id LIMIT 1) AS s
WHERE t.webhook_key = %(key)s
RETURNING id"""

_connection: psycopg.Connection | None = None


def _cursor() -> psycopg.Cursor:
    """A cursor on this worker's one connection (opened after gunicorn forked the worker)."""
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["FLOOR_DATABASE_URL"], autocommit=True, application_name="bench-floor")
    return _connection.cursor()


def _rows(sql: str, params: dict) -> list[dict]:
    with _cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _query(environ) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _list(sql: str, default_limit: int, envelope=None):
    def view(environ, match):
        query = _query(environ)
        rows = _rows(sql, {"tenant": int(query["tenant_id"]), "limit": int(query.get("limit", default_limit))})
        return 200, envelope(rows) if envelope else rows

    return view


def me(environ, match):
    token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
    claims = jwt.decode(token, os.environ["FLOOR_JWT_KEY"], algorithms=["HS256"])
    rows = _rows(ME, {"user": int(claims["user_id"])})
    return (200, rows[0]) if rows else (401, {"error": "unauthorized"})


def stage_move(environ, match):
    body = orjson.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    params = {"stage": int(body["stage_id"]), "lead": int(match["lead"]), "tenant": int(_query(environ)["tenant_id"])}
    rows = _rows(STAGE_MOVE, params)
    return (200, rows[0]) if rows else (404, {"error": "not_found"})


def intake(environ, match):
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    body = orjson.loads(raw)
    params = {
        "key": match["key"],
        "name": body.get("name") or "",
        "phone": body.get("phone"),
        "email": body.get("email"),
        "message": body.get("message") or "",
        "payload": raw.decode(),
    }
    rows = _rows(INTAKE, params)
    return (201, {"lead_id": rows[0]["id"], "created": True}) if rows else (404, {"error": "not_found"})


def healthz(environ, match):
    return 200, {"status": "ok"}


ROUTES = [
    ("GET", re.compile(r"/healthz"), healthz),
    ("GET", re.compile(r"/api/auth/me"), me),
    ("GET", re.compile(r"/api/v1/deals"), _list(DEALS, 25)),
    ("GET", re.compile(r"/api/v1/payments"), _list(PAYMENTS, 25)),
    ("GET", re.compile(r"/api/v2/leads/table"), _list(LEAD_TABLE, 50, lambda rows: {"rows": rows})),
    ("GET", re.compile(r"/api/tasks"), _list(TASKS_TODAY, 50, lambda rows: {"tasks": rows})),
    ("PATCH", re.compile(r"/api/leads/(?P<lead>\d+)/stage"), stage_move),
    ("POST", re.compile(r"/api/webhooks/site/(?P<key>[^/]+)"), intake),
]
_REASONS = {200: "200 OK", 201: "201 Created", 401: "401 Unauthorized", 404: "404 Not Found"}


def application(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    status, payload = 404, {"error": "not_found"}
    for route_method, pattern, view in ROUTES:
        if method == route_method and (match := pattern.fullmatch(path)):
            status, payload = view(environ, match)
            break
    body = orjson.dumps(payload)
    start_response(_REASONS[status], [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
