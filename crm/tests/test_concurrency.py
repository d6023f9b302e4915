"""Concurrency against a live server (`crm.serve`, 2 workers) on PostgreSQL, with real parallel HTTP requests.

Each scenario releases its requests at once from threads (one httpx client each) and then checks that there was
exactly one winner, no 5xx, and that history, journal and the stored realtime events (`django_eventstream_event`
rows, what the stream replays from) agree with what the responses say happened.
"""

import hashlib
import hmac
import threading
import uuid
from collections import Counter

import httpx
import pytest

from crm.tests.live_stack import live_stack, postgres_base_url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(postgres_base_url() is None, reason="needs DATABASE_URL on PostgreSQL (row locks, a server)"),
]

PARALLEL = 12


@pytest.fixture(scope="module")
def stack():
    with live_stack("concurrency", workers=2) as live:
        yield live


def fire(count: int, send) -> list[httpx.Response]:
    """Run `send(client, i)` in `count` threads released together; every response, none a 5xx."""
    barrier = threading.Barrier(count)
    responses: list[httpx.Response | None] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        with httpx.Client(timeout=60) as client:
            try:
                barrier.wait(timeout=30)
                responses[index] = send(client, index)
            except BaseException as exc:  # noqa: BLE001 - reported below, with every thread's outcome
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    server_errors = [(r.status_code, r.text[:300]) for r in responses if r.status_code >= 500]
    assert server_errors == []
    return responses


def lead_events(stack, tenant, lead_id: int) -> Counter:
    """Events stored on the tenant channel (supervisors' stream) for one lead, by type.

    The library stores `data` as a JSON string holding the JSON text of the envelope, hence the double decode.
    """
    rows = stack.sql(
        "SELECT type FROM django_eventstream_event WHERE channel = %s AND type IN ('lead_created', 'lead_updated') "
        "AND ((data::jsonb #>> '{}')::jsonb -> 'data' ->> 'lead_id') = %s",
        f"tenant-{tenant.id}",
        str(lead_id),
    )
    return Counter(row[0] for row in rows)


def test_concurrent_stage_moves_of_one_lead_serialise_into_one_history_chain(stack):
    tenant = stack.tenants["alpha"]
    base, owner = stack.base_url, tenant.headers()
    stages = httpx.get(f"{base}/api/pipelines", headers=owner, timeout=30).json()["pipelines"][0]["stages"]
    lead = httpx.post(f"{base}/api/leads", json={"name": "Гонка", "phone": "+79160001001"}, headers=owner, timeout=30)
    lead_id = lead.json()["id"]
    targets = [stages[1 + n % (len(stages) - 1)]["id"] for n in range(PARALLEL)]

    responses = fire(
        PARALLEL,
        lambda client, n: client.patch(
            f"{base}/api/leads/{lead_id}/stage", json={"stage_id": targets[n]}, headers=owner
        ),
    )

    assert {r.status_code for r in responses} == {200}
    history = httpx.get(f"{base}/api/leads/{lead_id}/history?limit=200", headers=owner, timeout=30).json()["history"]
    moves = [entry for entry in reversed(history) if entry["kind"] == "stage_changed"]
    # One unbroken chain: each move starts where the previous one ended, and the lead is where the last one ended.
    assert moves, history
    assert moves[0]["from_stage_id"] == stages[0]["id"]
    for previous, current in zip(moves, moves[1:], strict=False):
        assert current["from_stage_id"] == previous["to_stage_id"]
        assert current["from_stage_id"] != current["to_stage_id"]
    final = httpx.get(f"{base}/api/leads/{lead_id}", headers=owner, timeout=30).json()
    assert final["stage_id"] == moves[-1]["to_stage_id"]
    # Exactly one event per change: lead_created, then one lead_updated per recorded move.
    assert lead_events(stack, tenant, lead_id) == Counter({"lead_created": 1, "lead_updated": len(moves)})


def test_concurrent_default_pipeline_switches_leave_exactly_one_default(stack):
    tenant = stack.tenants["alpha"]
    base, owner = stack.base_url, tenant.headers("rop")
    created = [
        httpx.post(f"{base}/api/pipelines", json={"name": f"Воронка {n}"}, headers=owner, timeout=30).json()["id"]
        for n in range(4)
    ]

    switches = fire(
        PARALLEL,
        lambda client, n: client.patch(
            f"{base}/api/pipelines/{created[n % len(created)]}", json={"is_default": True}, headers=owner
        ),
    )
    creates = fire(
        PARALLEL // 2,
        lambda client, n: client.post(
            f"{base}/api/pipelines", json={"name": f"Новая основная {n}", "is_default": True}, headers=owner
        ),
    )

    assert {r.status_code for r in switches} == {200}
    assert {r.status_code for r in creates} == {201}
    pipelines = httpx.get(f"{base}/api/pipelines", headers=owner, timeout=30).json()["pipelines"]
    defaults = [pipeline["id"] for pipeline in pipelines if pipeline["is_default"]]
    assert len(defaults) == 1
    assert pipelines[0]["id"] == defaults[0]  # the default one is listed first
    # Nobody else's pipelines were touched: the other tenant still has its own single default.
    beta = stack.tenants["beta"]
    beta_pipelines = httpx.get(f"{base}/api/pipelines", headers=beta.headers(), timeout=30).json()["pipelines"]
    assert [pipeline["is_default"] for pipeline in beta_pipelines] == [True]
    # The new pipelines have no stages: give the default back to «Основная» so intake can land leads again.
    main = next(pipeline["id"] for pipeline in pipelines if pipeline["name"] == "Основная")
    restored = httpx.patch(f"{base}/api/pipelines/{main}", json={"is_default": True}, headers=owner, timeout=30)
    assert restored.status_code == 200


def _deal(stack, tenant, title: str) -> str:
    base, owner = stack.base_url, tenant.headers()
    client = httpx.post(
        f"{base}/api/v1/clients",
        json={"type": "company", "full_name": f"ООО {title}", "status": "active"},
        headers=owner,
        timeout=30,
    ).json()
    deal = httpx.post(
        f"{base}/api/v1/deals",
        json={"client_id": client["id"], "title": title, "sales_agent_id": tenant.users["manager1"]["uuid"]},
        headers=owner,
        timeout=30,
    )
    assert deal.status_code == 201, deal.text
    return deal.json()["id"]


def test_concurrent_duplicate_policy_numbers_give_one_policy(stack):
    tenant = stack.tenants["alpha"]
    base, owner = stack.base_url, tenant.headers()
    deals = [_deal(stack, tenant, f"КАСКО гонка {n}") for n in range(2)]
    body = {
        "policy_number": "RACE-0001",
        "insurer": "Ингосстрах",
        "effective_from": "2025-01-01",
        "effective_to": "2025-12-31",
        "premium_amount": 12000.5,
        "status": "draft",
    }

    responses = fire(
        PARALLEL,
        lambda client, n: client.post(f"{base}/api/v1/deals/{deals[n % 2]}/policies", json=body, headers=owner),
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == Counter({201: 1, 409: PARALLEL - 1})
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"policy_conflict"}
    stored = stack.sql("SELECT count(*) FROM deals_policy WHERE policy_number = %s", "RACE-0001")
    assert stored == [(1,)]
    # Another tenant may use the same number: uniqueness is per tenant.
    beta = stack.tenants["beta"]
    beta_deal = _deal(stack, beta, "КАСКО бета")
    response = httpx.post(f"{base}/api/v1/deals/{beta_deal}/policies", json=body, headers=beta.headers(), timeout=30)
    assert response.status_code == 201, response.text


def test_concurrent_requests_with_one_idempotency_key_create_one_object(stack):
    tenant = stack.tenants["alpha"]
    base, manager = stack.base_url, tenant.headers("manager1")
    key = str(uuid.uuid4())
    body = {"type": "individual", "full_name": "Иван Идемпотентов", "status": "potential", "tax_number": "500100732259"}

    responses = fire(
        PARALLEL,
        lambda client, n: client.post(f"{base}/api/v1/clients", json=body, headers={**manager, "Idempotency-Key": key}),
    )

    created = [r for r in responses if r.status_code == 201]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_progress) == PARALLEL, [(r.status_code, r.text) for r in responses]
    assert {r.json()["error"] for r in in_progress} <= {"idempotency_request_in_progress"}
    originals = [r for r in created if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(originals) == 1
    assert {r.json()["id"] for r in created} == {originals[0].json()["id"]}
    assert stack.sql("SELECT count(*) FROM deals_client WHERE tax_number = %s", "500100732259") == [(1,)]
    # Once the first has finished, every retry is a replay of it.
    replay = httpx.post(f"{base}/api/v1/clients", json=body, headers={**manager, "Idempotency-Key": key}, timeout=30)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == originals[0].json()


def test_concurrent_deliveries_of_one_webhook_message_make_one_lead(stack):
    tenant = stack.tenants["alpha"]
    url = f"{stack.base_url}/api/webhooks/chatflow/{tenant.webhook_key}"
    body = {"chat_id": "race-chat-1", "contact": {"name": "Гонщик", "phone": "+79160002002"}, "message": "Хочу КАСКО"}

    responses = fire(PARALLEL, lambda client, n: client.post(url, json=body))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == Counter({201: 1, 200: PARALLEL - 1}), responses[0].text
    lead_ids = {r.json()["lead_id"] for r in responses}
    assert len(lead_ids) == 1
    assert [r.json()["created"] for r in responses].count(True) == 1
    lead_id = lead_ids.pop()
    history = httpx.get(f"{stack.base_url}/api/leads/{lead_id}/history", headers=tenant.headers(), timeout=30).json()[
        "history"
    ]
    assert [entry["kind"] for entry in history] == ["created"]
    assert lead_events(stack, tenant, lead_id) == Counter({"lead_created": 1})


def test_concurrent_first_messages_from_one_phone_make_one_lead_with_the_others_in_its_history(stack):
    tenant = stack.tenants["alpha"]
    url = f"{stack.base_url}/api/webhooks/chatflow/{tenant.webhook_key}"

    responses = fire(
        PARALLEL,
        lambda client, n: client.post(
            url, json={"chat_id": f"phone-race-{n}", "contact": {"phone": "+79160003003"}, "message": f"Вопрос {n}"}
        ),
    )

    assert Counter(r.status_code for r in responses) == Counter({201: 1, 200: PARALLEL - 1})
    lead_ids = {r.json()["lead_id"] for r in responses}
    assert len(lead_ids) == 1
    lead_id = lead_ids.pop()
    history = httpx.get(f"{stack.base_url}/api/leads/{lead_id}/history", headers=tenant.headers(), timeout=30).json()[
        "history"
    ]
    assert Counter(entry["kind"] for entry in history) == Counter({"created": 1, "message": PARALLEL - 1})
    assert lead_events(stack, tenant, lead_id) == Counter({"lead_created": 1, "lead_updated": PARALLEL - 1})


def test_concurrent_whatsapp_retries_of_one_message_make_one_lead(stack):
    tenant = stack.tenants["beta"]
    base, owner = stack.base_url, tenant.headers()
    httpx.patch(f"{base}/api/tenant", json={"whatsapp_app_secret": "race-secret"}, headers=owner, timeout=30)
    raw = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":'
        b'{"messaging_product":"whatsapp","contacts":[{"wa_id":"79160004004","profile":{"name":"WA"}}],'
        b'"messages":[{"from":"79160004004","id":"wamid.RACE1","timestamp":"1700000000","type":"text",'
        b'"text":{"body":"Hello"}}]}}]}]}'
    )
    signature = "sha256=" + hmac.new(b"race-secret", raw, hashlib.sha256).hexdigest()
    url = f"{base}/api/webhooks/whatsapp/{tenant.webhook_key}"
    headers = {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}

    responses = fire(PARALLEL, lambda client, n: client.post(url, content=raw, headers=headers))

    assert {r.status_code for r in responses} == {200}
    leads = httpx.get(f"{base}/api/leads?search=79160004004", headers=owner, timeout=30).json()
    assert leads["total"] == 1
    lead_id = leads["leads"][0]["id"]
    assert lead_events(stack, tenant, lead_id) == Counter({"lead_created": 1})


def test_concurrent_task_creation_and_stage_moves_emit_one_event_each(stack):
    """Mixed writes on one lead (tasks and moves) from a supervisor and the assigned manager at once."""
    tenant = stack.tenants["alpha"]
    base = stack.base_url
    owner, manager = tenant.headers(), tenant.headers("manager1")
    stages = httpx.get(f"{base}/api/pipelines", headers=owner, timeout=30).json()["pipelines"]
    stages = next(p for p in stages if p["name"] == "Основная")["stages"]
    lead = httpx.post(
        f"{base}/api/leads",
        json={"name": "Смесь", "phone": "+79160005005", "assigned_to_user_id": tenant.users["manager1"]["id"]},
        headers=owner,
        timeout=30,
    ).json()

    def send(client, n):
        if n % 2:
            return client.post(f"{base}/api/leads/{lead['id']}/tasks", json={"type": "call"}, headers=manager)
        return client.patch(
            f"{base}/api/leads/{lead['id']}/stage", json={"stage_id": stages[1 + (n // 2) % 3]["id"]}, headers=owner
        )

    responses = fire(PARALLEL, send)

    assert Counter(r.status_code for r in responses) == Counter({201: PARALLEL // 2, 200: PARALLEL // 2})
    history = httpx.get(f"{base}/api/leads/{lead['id']}/history?limit=200", headers=owner, timeout=30).json()
    kinds = Counter(entry["kind"] for entry in history["history"])
    assert kinds["task"] == PARALLEL // 2
    assert lead_events(stack, tenant, lead["id"]) == Counter(
        {"lead_created": 1, "lead_updated": kinds["task"] + kinds["stage_changed"]}
    )
    # The manager's personal channel got the same events as the tenant channel.
    manager_rows = stack.sql(
        "SELECT count(*) FROM django_eventstream_event WHERE channel = %s AND type IN ('lead_created', 'lead_updated') "
        "AND ((data::jsonb #>> '{}')::jsonb -> 'data' ->> 'lead_id') = %s",
        f"tenant-{tenant.id}-user-{tenant.users['manager1']['id']}",
        str(lead["id"]),
    )
    assert manager_rows == [(1 + kinds["task"] + kinds["stage_changed"],)]
