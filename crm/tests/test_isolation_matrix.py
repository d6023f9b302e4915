"""Isolation matrix: every routed /api and /api/v1 pattern × method, checked for tenancy and roles (issue 8).

The routes are read from the URL resolver and `CASES` must name each one, so a new endpoint (or a new method
on an old one) without a case fails `test_every_routed_endpoint_has_a_case`. Each case checks what applies:
- anonymous → 401 `unauthorized` (the public endpoints say why in `Case.public`);
- a supervisor on another tenant's object → 404 with the family's code (`not_found`, or the v1 specific ones);
- a manager on a colleague's object, or on an action the spec keeps for supervisors → 403 `forbidden`;
- a foreign id in the body → 400 naming the field (or the seed's own 404s);
- lists: another tenant's rows never appear, nor a colleague's for a manager where the spec hides them;
- a positive control last: the same request on the caller's own object succeeds, so no denial is an accident.
Every refused request must leave the database exactly as it was (all rows of the project's apps are compared).
"""

import datetime
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import client_for
from crm.tests.factories import TEST_PASSWORD, UserFactory
from crm.tokens import issue_token_pair
from deals.tests.factories import (
    CalculationFactory,
    DealFactory,
    DealTaskFactory,
    PaymentFactory,
    PolicyFactory,
)
from events.models import WebhookSubscription
from pipelines.models import Lead, LossReason
from pipelines.services import default_pipeline_ensure
from pipelines.tests.factories import StageFactory
from tasks.tests.factories import LeadTaskFactory, make_lead

OWN, COLLEAGUE, FOREIGN = "own", "colleague", "foreign"
_PROJECT_APPS = ("crm", "pipelines", "tasks", "deals", "events")
_IGNORED_METHODS = {"head", "options"}


# ---------------------------------------------------------------- routes from the resolver


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _template(route: str) -> str:
    """`api/v1/^deals/(?P<deal_id>[^/.]+)$` and `api/leads/<int:lead_id>/tasks` → `/api/v1/deals/{deal_id}`…"""
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    return "/" + route


def _methods(callback) -> set[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        # DRF adds "head" to a viewset's shared actions dict once it has served a GET.
        return {method.upper() for method in actions if method not in _IGNORED_METHODS}
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    return {
        method.upper()
        for method in view_class.http_method_names
        if method not in _IGNORED_METHODS and hasattr(view_class, method)
    }


def routed_endpoints() -> set[tuple[str, str]]:
    return {
        (_template(route), method)
        for route, callback in _walk(get_resolver().url_patterns)
        if route.startswith("api/")
        for method in _methods(callback)
    }


# ---------------------------------------------------------------- the world: two tenants, two managers


@dataclass
class World:
    objects: dict[str, dict[str, object]]
    owner: object
    manager: object
    other_manager: object
    foreign_owner: object

    def __getitem__(self, kind):
        return self.objects[kind]


@pytest.fixture
def world(tenant, other_tenant, owner, manager, other_manager, foreign_owner) -> World:
    tenant.whatsapp_app_secret = "wa-secret-acme"
    tenant.whatsapp_verify_token = "verify-acme"
    tenant.save()
    other_tenant.whatsapp_app_secret = "wa-secret-globex"
    other_tenant.whatsapp_verify_token = "verify-globex"
    other_tenant.save()
    pipeline, _ = default_pipeline_ensure(tenant=tenant)
    foreign_pipeline, _ = default_pipeline_ensure(tenant=other_tenant)
    stages = list(pipeline.stages.order_by("order_index"))
    foreign_stages = list(foreign_pipeline.stages.order_by("order_index"))
    # Empty stages: a foreign DELETE must be refused for tenancy, not hidden behind 409 stage_has_leads.
    empty_stage = StageFactory(pipeline=pipeline, name="Пустая", order_index=90)
    foreign_empty_stage = StageFactory(pipeline=foreign_pipeline, name="Чужая пустая", order_index=90)
    # The default pipeline brings each tenant its default loss reasons (SPEC §12).
    loss_reason = LossReason.objects.filter(tenant=tenant).first()
    foreign_loss_reason = LossReason.objects.filter(tenant=other_tenant).first()

    leads = {
        OWN: make_lead(tenant=tenant, assigned_to=manager, name="Мой лид"),
        COLLEAGUE: make_lead(tenant=tenant, assigned_to=other_manager, name="Лид коллеги"),
        FOREIGN: make_lead(tenant=other_tenant, assigned_to=foreign_owner, name="Чужой лид"),
    }
    lead_tasks = {which: LeadTaskFactory(lead=lead) for which, lead in leads.items()}

    deals = {
        OWN: DealFactory(tenant=tenant, sales_agent=manager, title="Моя сделка"),
        COLLEAGUE: DealFactory(tenant=tenant, sales_agent=other_manager, title="Сделка коллеги"),
        FOREIGN: DealFactory(tenant=other_tenant, sales_agent=foreign_owner, title="Чужая сделка"),
    }
    calculations = {which: CalculationFactory(deal=deal) for which, deal in deals.items()}
    policies = {
        which: PolicyFactory(deal=deal, calculation=calculations[which], policy_number=f"POL-{which}")
        for which, deal in deals.items()
    }
    payments = {which: PaymentFactory(policy=policy) for which, policy in policies.items()}
    deal_tasks = {
        which: DealTaskFactory(tenant=deal.tenant, deal=deal, assignee=deal.sales_agent)
        for which, deal in deals.items()
    }
    subscriptions = {
        which: WebhookSubscription.objects.create(
            tenant=owner_tenant, url=_WEBHOOK_RECEIVER, events=["lead_created"], secret="whsec_dGVzdC1zZWNyZXQ="
        )
        for which, owner_tenant in ((OWN, tenant), (FOREIGN, other_tenant))
    }
    return World(
        objects={
            "tenant": {OWN: tenant, COLLEAGUE: tenant, FOREIGN: other_tenant},
            "webhook_subscription": {**subscriptions, COLLEAGUE: subscriptions[OWN]},
            "user": {OWN: manager, COLLEAGUE: other_manager, FOREIGN: foreign_owner},
            "pipeline": {OWN: pipeline, COLLEAGUE: pipeline, FOREIGN: foreign_pipeline},
            "stage": {OWN: stages[1], COLLEAGUE: stages[1], FOREIGN: foreign_stages[1]},
            "empty_stage": {OWN: empty_stage, COLLEAGUE: empty_stage, FOREIGN: foreign_empty_stage},
            "loss_reason": {OWN: loss_reason, COLLEAGUE: loss_reason, FOREIGN: foreign_loss_reason},
            "lead": leads,
            "lead_task": lead_tasks,
            "client": {which: deal.client for which, deal in deals.items()},
            "deal": deals,
            "calculation": calculations,
            "policy": policies,
            "payment": payments,
            "deal_task": deal_tasks,
        },
        owner=owner,
        manager=manager,
        other_manager=other_manager,
        foreign_owner=foreign_owner,
    )


def database_rows() -> dict[str, list[dict]]:
    """Every row of the project's apps: a refused request must leave all of them as they were."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for label in _PROJECT_APPS
        for model in apps.get_app_config(label).get_models()
    }


# ---------------------------------------------------------------- cases


@dataclass(frozen=True)
class BodyProbe:
    """A body field set to a value that must be refused: `value(world)` → JSON value."""

    name: str
    value: Callable[[World], object]
    status: int
    error: str


@dataclass(frozen=True)
class Case:
    path: str  # a template: `{kind}` is replaced by the pk (or uuid for v1) of world[kind][which]
    ok: int | None  # the owner on their own object (None: no positive control, e.g. an endless stream)
    body: Callable[[World], dict] | None = None
    not_found: str | None = None  # the error code for another tenant's object in the path
    manager_role_denied: bool = False  # the spec keeps this action for supervisors: a manager gets 403
    colleague_denied: bool = False  # a manager on a colleague's object gets 403
    foreign_body: tuple[BodyProbe, ...] = ()  # as the owner: another tenant's ids in the body
    manager_body: tuple[BodyProbe, ...] = ()  # as a manager: a colleague's ids where the spec forbids them
    list_rows: str | None = None  # the kind of the listed rows: foreign ones must never appear
    manager_scoped: bool = False  # a manager's list hides a colleague's rows
    public: str | None = None  # why no token is needed (then the positive control runs anonymously)
    checks: Callable | None = None  # endpoint-specific checks: checks(world, request)
    headers: dict = field(default_factory=dict)


def _key(obj) -> str:
    return str(getattr(obj, "uuid", None) or obj.pk) if obj.__class__.__name__ == "User" else str(obj.pk)


def _uuid(kind):
    return lambda w: str(w[kind][FOREIGN].pk)


def _foreign_user_uuid(w):
    return str(w.foreign_owner.uuid)


def _foreign_user_id(w):
    return w.foreign_owner.pk


def _colleague_uuid(w):
    return str(w.other_manager.uuid)


def _own(kind):
    return lambda w: str(w[kind][OWN].pk)


def _sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _whatsapp_body(message_id: str) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "contacts": [{"wa_id": "79161234567", "profile": {"name": "Анна"}}],
                            "messages": [
                                {
                                    "from": "79161234567",
                                    "id": message_id,
                                    "timestamp": "1700000000",
                                    "type": "text",
                                    "text": {"body": "Здравствуйте"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def _lead_count(tenant) -> int:
    return Lead.objects.filter(tenant=tenant).count()


def _webhook_checks(kind: str, body: Callable[[World], dict]):
    """An unknown key → 404 `not_found`; tenant A's key makes a lead in A and nothing in B."""

    def check(world: World, request):
        before = database_rows()
        response = request(None, "POST", f"/api/webhooks/{kind}/not-a-key", body(world))
        assert_error(response, 404, "not_found")
        assert database_rows() == before
        tenant, foreign = world["tenant"][OWN], world["tenant"][FOREIGN]
        foreign_count = _lead_count(foreign)
        response = request(None, "POST", f"/api/webhooks/{kind}/{tenant.webhook_key}", body(world))
        assert response.status_code in (200, 201), response.content
        lead_id = response.json()["lead_id"]
        assert Lead.objects.get(pk=lead_id).tenant_id == tenant.pk
        assert _lead_count(foreign) == foreign_count

    return check


def _whatsapp_post_checks(world: World, request):
    """A notification signed with another tenant's secret is refused (401) and stores nothing."""
    before = database_rows()
    tenant, foreign = world["tenant"][OWN], world["tenant"][FOREIGN]
    raw = json.dumps(_whatsapp_body("wamid.cross")).encode()
    response = request(
        None,
        "POST",
        f"/api/webhooks/whatsapp/{tenant.webhook_key}",
        raw,
        headers={"X-Hub-Signature-256": _sign(foreign.whatsapp_app_secret, raw)},
    )
    assert_error(response, 401, "unauthorized")
    response = request(None, "POST", "/api/webhooks/whatsapp/not-a-key", raw, headers={"X-Hub-Signature-256": "x"})
    assert_error(response, 404, "not_found")
    assert database_rows() == before


def _whatsapp_get_checks(world: World, request):
    """Another tenant's verify token does not open this tenant's handshake; an unknown key is 404."""
    tenant, foreign = world["tenant"][OWN], world["tenant"][FOREIGN]
    query = f"hub.mode=subscribe&hub.challenge=42&hub.verify_token={foreign.whatsapp_verify_token}"
    response = request(None, "GET", f"/api/webhooks/whatsapp/{tenant.webhook_key}?{query}")
    assert_error(response, 403, "forbidden")
    response = request(None, "GET", f"/api/webhooks/whatsapp/not-a-key?{query}")
    assert_error(response, 404, "not_found")


def _own_policy_becomes_renewable(world: World, request):
    """The refusals above ran on draft policies (tenancy answers first); the positive control renews an active one."""
    policy = world["policy"][OWN]
    policy.status = "active"
    policy.save(update_fields=["status"])


def _pipelines_tenant_param(world: World, request):
    """SPEC §5: `?tenant_id=` of another tenant → 403."""
    response = request(world.owner, "GET", f"/api/pipelines?tenant_id={world['tenant'][FOREIGN].pk}")
    assert_error(response, 403, "forbidden")


def _summary_counts_what_the_caller_sees(world: World, request):
    """SPEC §12: a manager's stage counts are their own leads; the owner's, the whole tenant's."""
    pipeline = world["pipeline"][OWN]

    def counted(user) -> int:
        response = request(user, "GET", f"/api/pipelines/{pipeline.pk}/summary")
        assert response.status_code == 200
        return sum(row["leads"] for row in response.json()["stages"])

    in_pipeline = Lead.objects.filter(pipeline=pipeline)
    assert counted(world.manager) == in_pipeline.filter(assigned_to=world.manager).count() == 1
    assert counted(world.owner) == in_pipeline.count() > 1


def _convert_checks(world: World, request):
    """SPEC §12: a foreign agent in the nested deal is a 400 naming `deal.sales_agent_id`; a manager may not make a
    colleague the agent of their own lead's deal (403). Nothing is stored."""
    before = database_rows()
    path = f"/api/leads/{world['lead'][OWN].pk}/convert"
    response = request(world.owner, "POST", path, {"deal": {"sales_agent_id": _foreign_user_uuid(world)}})
    assert_error(response, 400, "validation_error", "deal.sales_agent_id")
    response = request(world.manager, "POST", path, {"deal": {"sales_agent_id": _colleague_uuid(world)}})
    assert_error(response, 403, "forbidden")
    assert database_rows() == before


def _own_tenant_only(path: str):
    def check(world: World, request):
        response = request(world.owner, "GET", path)
        body = response.json()
        assert body.get("tenant_id", body.get("id")) == world["tenant"][OWN].pk

    return check


def _stream_token_checks(world: World, request):
    """The stream's query-string token is checked like the header: garbage → 401."""
    response = request(None, "GET", "/api/events/stream?access_token=not-a-jwt")
    assert_error(response, 401, "unauthorized")


# A public address written as an IP: the URL check needs no DNS in the test sandbox.
_WEBHOOK_RECEIVER = "https://93.184.215.14/hooks"


def _subscriptions_list_checks(world: World, request):
    """The owner's list holds the tenant's subscriptions, never another tenant's."""
    ids = _row_ids(request(world.owner, "GET", "/api/webhook-subscriptions"))
    assert ids == {str(world["webhook_subscription"][OWN].pk)}


def _replay_checks(world: World, request):
    """Another tenant's event id (or an unknown one) is a 400 naming the field and changes nothing. The positive
    control is in events/tests/test_webhooks_out.py: positions are given at commit, and this matrix never commits."""
    before = database_rows()
    foreign_event = f"evt_{world['tenant'][FOREIGN].pk}_1"
    path = f"/api/webhook-subscriptions/{world['webhook_subscription'][OWN].pk}/replay"
    for since in (foreign_event, "evt_x", 12):
        response = request(world.owner, "POST", path, {"since_event_id": since})
        assert_error(response, 400, "validation_error", "since_event_id")
    assert database_rows() == before


def _refresh_body(world: World) -> dict:
    return {"refresh": issue_token_pair(world.owner)["refresh"]}


_TODAY = datetime.date(2025, 3, 1).isoformat()

CASES: dict[tuple[str, str], Case] = {
    # --- crm: auth, tenant, users
    ("/api/schema", "GET"): Case("/api/schema", 200, public="the OpenAPI document is public (SPEC §2: docs)"),
    ("/api/auth/token", "POST"): Case(
        "/api/auth/token",
        200,
        body=lambda w: {"username": w.owner.username, "password": TEST_PASSWORD},
        public="it is how a token is obtained",
    ),
    ("/api/auth/token/refresh", "POST"): Case(
        "/api/auth/token/refresh", 200, body=_refresh_body, public="the refresh token in the body is the credential"
    ),
    ("/api/auth/me", "GET"): Case("/api/auth/me", 200, checks=_own_tenant_only("/api/auth/me")),
    ("/api/tenant", "GET"): Case("/api/tenant", 200, manager_role_denied=True, checks=_own_tenant_only("/api/tenant")),
    ("/api/tenant", "PATCH"): Case("/api/tenant", 200, body=lambda w: {"name": "Acme 2"}, manager_role_denied=True),
    ("/api/tenant/webhook-key/rotate", "POST"): Case("/api/tenant/webhook-key/rotate", 200, manager_role_denied=True),
    ("/api/users", "GET"): Case("/api/users", 200, list_rows="user"),
    ("/api/users", "POST"): Case(
        "/api/users",
        201,
        body=lambda w: {"username": "newbie", "password": "Fresh-pass-2025!", "role": "manager"},
        manager_role_denied=True,
    ),
    ("/api/users/{pk}", "GET"): Case("/api/users/{user}", 200, not_found="not_found"),
    ("/api/users/{pk}", "PATCH"): Case(
        "/api/users/{user}",
        200,
        body=lambda w: {"full_name": "Renamed"},
        not_found="not_found",
        manager_role_denied=True,
    ),
    # --- pipelines, stages
    ("/api/pipelines", "GET"): Case("/api/pipelines", 200, list_rows="pipeline", checks=_pipelines_tenant_param),
    ("/api/pipelines", "POST"): Case(
        "/api/pipelines", 201, body=lambda w: {"name": "Вторая"}, manager_role_denied=True
    ),
    ("/api/pipelines/{pk}", "GET"): Case("/api/pipelines/{pipeline}", 200, not_found="not_found"),
    ("/api/pipelines/{pk}/summary", "GET"): Case(
        "/api/pipelines/{pipeline}/summary", 200, not_found="not_found", checks=_summary_counts_what_the_caller_sees
    ),
    ("/api/pipelines/{pk}", "PATCH"): Case(
        "/api/pipelines/{pipeline}",
        200,
        body=lambda w: {"name": "Переименована"},
        not_found="not_found",
        manager_role_denied=True,
    ),
    ("/api/pipelines/{pk}/stages", "POST"): Case(
        "/api/pipelines/{pipeline}/stages",
        201,
        body=lambda w: {"name": "Новый этап"},
        not_found="not_found",
        manager_role_denied=True,
    ),
    ("/api/pipelines/stages/{pk}", "PATCH"): Case(
        "/api/pipelines/stages/{empty_stage}",
        200,
        body=lambda w: {"name": "Этап"},
        not_found="not_found",
        manager_role_denied=True,
    ),
    ("/api/pipelines/stages/{pk}", "DELETE"): Case(
        "/api/pipelines/stages/{empty_stage}", 204, not_found="not_found", manager_role_denied=True
    ),
    # --- loss reasons (SPEC §12)
    ("/api/loss-reasons", "GET"): Case("/api/loss-reasons", 200, list_rows="loss_reason"),
    ("/api/loss-reasons", "POST"): Case(
        "/api/loss-reasons", 201, body=lambda w: {"name": "Новая причина"}, manager_role_denied=True
    ),
    ("/api/loss-reasons/{pk}", "PATCH"): Case(
        "/api/loss-reasons/{loss_reason}",
        200,
        body=lambda w: {"name": "Другая причина"},
        not_found="not_found",
        manager_role_denied=True,
    ),
    # --- leads
    ("/api/leads", "GET"): Case("/api/leads", 200, list_rows="lead", manager_scoped=True),
    ("/api/leads", "POST"): Case(
        "/api/leads",
        201,
        body=lambda w: {"name": "Новый", "phone": "+79160000001"},
        foreign_body=(
            BodyProbe("pipeline_id", lambda w: w["pipeline"][FOREIGN].pk, 400, "validation_error"),
            BodyProbe("stage_id", lambda w: w["stage"][FOREIGN].pk, 400, "validation_error"),
            BodyProbe("assigned_to_user_id", _foreign_user_id, 400, "validation_error"),
        ),
        manager_body=(BodyProbe("assigned_to_user_id", lambda w: w.other_manager.pk, 403, "forbidden"),),
    ),
    ("/api/leads/{pk}", "GET"): Case("/api/leads/{lead}", 200, not_found="not_found", colleague_denied=True),
    ("/api/leads/{pk}", "PATCH"): Case(
        "/api/leads/{lead}",
        200,
        body=lambda w: {"name": "Переименован"},
        not_found="not_found",
        colleague_denied=True,
        foreign_body=(BodyProbe("assigned_to_user_id", _foreign_user_id, 400, "validation_error"),),
        manager_body=(BodyProbe("assigned_to_user_id", lambda w: w.other_manager.pk, 403, "forbidden"),),
    ),
    ("/api/leads/{pk}", "DELETE"): Case("/api/leads/{lead}", 204, not_found="not_found", manager_role_denied=True),
    ("/api/leads/{pk}/merge", "POST"): Case(
        "/api/leads/{lead}/merge",
        200,
        body=lambda w: {"from_lead_id": w["lead"][COLLEAGUE].pk},
        not_found="not_found",
        colleague_denied=True,
        foreign_body=(BodyProbe("from_lead_id", lambda w: w["lead"][FOREIGN].pk, 400, "validation_error"),),
        # The manager's own lead with a colleague's as the duplicate: both must be theirs (SPEC §12).
        manager_body=(BodyProbe("from_lead_id", lambda w: w["lead"][COLLEAGUE].pk, 403, "forbidden"),),
    ),
    ("/api/leads/{pk}/history", "GET"): Case(
        "/api/leads/{lead}/history", 200, not_found="not_found", colleague_denied=True
    ),
    ("/api/leads/{pk}/stage", "PATCH"): Case(
        "/api/leads/{lead}/stage",
        200,
        body=lambda w: {"stage_id": w["stage"][OWN].pk},
        not_found="not_found",
        colleague_denied=True,
        foreign_body=(BodyProbe("stage_id", lambda w: w["stage"][FOREIGN].pk, 400, "validation_error"),),
    ),
    ("/api/leads/{pk}/convert", "POST"): Case(
        "/api/leads/{lead}/convert",
        201,
        body=lambda w: {},
        not_found="not_found",
        colleague_denied=True,
        foreign_body=(BodyProbe("client_id", _uuid("client"), 400, "validation_error"),),
        checks=_convert_checks,
    ),
    ("/api/v2/leads/table", "GET"): Case("/api/v2/leads/table", 200, list_rows="lead", manager_scoped=True),
    # --- lead tasks
    ("/api/tasks", "GET"): Case("/api/tasks", 200, list_rows="lead_task", manager_scoped=True),
    ("/api/leads/tasks/{pk}", "GET"): Case(
        "/api/leads/tasks/{lead_task}", 200, not_found="not_found", colleague_denied=True
    ),
    ("/api/leads/tasks/{pk}", "PATCH"): Case(
        "/api/leads/tasks/{lead_task}",
        200,
        body=lambda w: {"note": "Перезвонить завтра"},
        not_found="not_found",
        colleague_denied=True,
        foreign_body=(BodyProbe("assigned_to_user_id", _foreign_user_id, 400, "validation_error"),),
    ),
    ("/api/leads/{lead_id}/tasks", "GET"): Case(
        "/api/leads/{lead}/tasks", 200, not_found="not_found", colleague_denied=True, list_rows="lead_task"
    ),
    ("/api/leads/{lead_id}/tasks", "POST"): Case(
        "/api/leads/{lead}/tasks",
        201,
        body=lambda w: {"type": "call", "note": "Позвонить"},
        not_found="not_found",
        colleague_denied=True,
        foreign_body=(BodyProbe("assigned_to_user_id", _foreign_user_id, 400, "validation_error"),),
    ),
    # --- webhooks (the key in the path is the credential)
    ("/api/webhooks/site/{webhook_key}", "POST"): Case(
        "/api/webhooks/site/{tenant}",
        201,
        body=lambda w: {"name": "С сайта", "phone": "+79160000002"},
        public="a site form posts with the tenant's secret webhook key in the URL",
        checks=_webhook_checks("site", lambda w: {"name": "С сайта", "phone": "+79160000003"}),
    ),
    ("/api/webhooks/chatflow/{webhook_key}", "POST"): Case(
        "/api/webhooks/chatflow/{tenant}",
        201,
        body=lambda w: {"chat_id": "c-1", "contact": {"phone": "+79160000004"}, "message": "Привет"},
        public="the chat-bot posts with the tenant's secret webhook key in the URL",
        checks=_webhook_checks(
            "chatflow", lambda w: {"chat_id": "c-2", "contact": {"phone": "+79160000005"}, "message": "Hi"}
        ),
    ),
    ("/api/webhooks/whatsapp/{webhook_key}", "GET"): Case(
        "/api/webhooks/whatsapp/{tenant}?hub.mode=subscribe&hub.challenge=42&hub.verify_token=verify-acme",
        200,
        public="Meta's handshake: the webhook key and hub.verify_token are the credentials",
        checks=_whatsapp_get_checks,
    ),
    ("/api/webhooks/whatsapp/{webhook_key}", "POST"): Case(
        "/api/webhooks/whatsapp/{tenant}",
        200,
        body=lambda w: _whatsapp_body("wamid.own"),
        public="Meta posts with the webhook key in the URL and an X-Hub-Signature-256 of the tenant's secret",
        checks=_whatsapp_post_checks,
    ),
    # --- events
    ("/api/events/stream", "GET"): Case("/api/events/stream", None, checks=_stream_token_checks),
    # --- /api/v1 clients
    ("/api/v1/clients", "GET"): Case("/api/v1/clients", 200, list_rows="client"),
    ("/api/v1/clients", "POST"): Case(
        "/api/v1/clients", 201, body=lambda w: {"type": "company", "full_name": "ООО Новый", "status": "active"}
    ),
    ("/api/v1/clients/{client_id}", "GET"): Case("/api/v1/clients/{client}", 200, not_found="client_not_found"),
    ("/api/v1/clients/{client_id}", "PATCH"): Case(
        "/api/v1/clients/{client}",
        200,
        body=lambda w: {"notes": "Важный клиент"},
        not_found="client_not_found",
        colleague_denied=True,
    ),
    # --- deals
    ("/api/v1/deals", "GET"): Case("/api/v1/deals", 200, list_rows="deal", manager_scoped=True),
    ("/api/v1/deals", "POST"): Case(
        "/api/v1/deals",
        201,
        body=lambda w: {"client_id": _own("client")(w), "title": "Новая сделка", "sales_agent_id": str(w.manager.uuid)},
        foreign_body=(
            BodyProbe("client_id", _uuid("client"), 404, "client_not_found"),
            BodyProbe("sales_agent_id", _foreign_user_uuid, 400, "validation_error"),
            BodyProbe("executor_id", _foreign_user_uuid, 400, "validation_error"),
        ),
        manager_body=(BodyProbe("sales_agent_id", _colleague_uuid, 403, "forbidden"),),
    ),
    ("/api/v1/deals/{deal_id}", "GET"): Case(
        "/api/v1/deals/{deal}", 200, not_found="deal_not_found", colleague_denied=True
    ),
    ("/api/v1/deals/{deal_id}", "PATCH"): Case(
        "/api/v1/deals/{deal}",
        200,
        body=lambda w: {"description": "Обновлено"},
        not_found="deal_not_found",
        colleague_denied=True,
        foreign_body=(
            BodyProbe("sales_agent_id", _foreign_user_uuid, 400, "validation_error"),
            BodyProbe("executor_id", _foreign_user_uuid, 400, "validation_error"),
        ),
    ),
    ("/api/v1/deals/{deal_id}/journal", "GET"): Case(
        "/api/v1/deals/{deal}/journal", 200, not_found="deal_not_found", colleague_denied=True
    ),
    ("/api/v1/deals/{deal_id}/journal", "POST"): Case(
        "/api/v1/deals/{deal}/journal",
        201,
        body=lambda w: {"text": "Позвонили клиенту"},
        not_found="deal_not_found",
        colleague_denied=True,
    ),
    ("/api/v1/deals/{deal_id}/calculations", "GET"): Case(
        "/api/v1/deals/{deal}/calculations",
        200,
        not_found="deal_not_found",
        colleague_denied=True,
        list_rows="calculation",
    ),
    ("/api/v1/deals/{deal_id}/calculations", "POST"): Case(
        "/api/v1/deals/{deal}/calculations",
        201,
        body=lambda w: {"insurance_company": "Согаз", "calculation_date": _TODAY},
        not_found="deal_not_found",
        colleague_denied=True,
    ),
    ("/api/v1/deals/{deal_id}/policies", "GET"): Case(
        "/api/v1/deals/{deal}/policies", 200, not_found="deal_not_found", colleague_denied=True, list_rows="policy"
    ),
    ("/api/v1/deals/{deal_id}/policies", "POST"): Case(
        "/api/v1/deals/{deal}/policies",
        201,
        body=lambda w: {
            "policy_number": "POL-NEW",
            "insurer": "Согаз",
            "effective_from": "2025-01-01",
            "effective_to": "2025-12-31",
            "premium_amount": 1000,
            "status": "draft",
        },
        not_found="deal_not_found",
        colleague_denied=True,
        foreign_body=(BodyProbe("calculation_id", _uuid("calculation"), 400, "validation_error"),),
    ),
    # --- policies, payments
    ("/api/v1/policies", "GET"): Case("/api/v1/policies", 200, list_rows="policy", manager_scoped=True),
    ("/api/v1/policies/{policy_id}/renew", "POST"): Case(
        "/api/v1/policies/{policy}/renew",
        201,
        not_found="policy_not_found",
        colleague_denied=True,
        checks=_own_policy_becomes_renewable,
    ),
    ("/api/v1/policies/{policy_id}", "GET"): Case(
        "/api/v1/policies/{policy}", 200, not_found="policy_not_found", colleague_denied=True
    ),
    ("/api/v1/policies/{policy_id}", "PATCH"): Case(
        "/api/v1/policies/{policy}",
        200,
        body=lambda w: {"documents": ["scan.pdf"]},
        not_found="policy_not_found",
        colleague_denied=True,
    ),
    ("/api/v1/payments", "GET"): Case("/api/v1/payments", 200, list_rows="payment", manager_scoped=True),
    ("/api/v1/payments", "POST"): Case(
        "/api/v1/payments",
        201,
        body=lambda w: {
            "deal_id": _own("deal")(w),
            "policy_id": _own("policy")(w),
            "payment_type": "client_premium",
            "amount": 500,
            "currency": "RUB",
        },
        foreign_body=(
            BodyProbe("deal_id", _uuid("deal"), 404, "deal_not_found"),
            BodyProbe("policy_id", _uuid("policy"), 404, "policy_not_found"),
        ),
        manager_body=(BodyProbe("deal_id", lambda w: str(w["deal"][COLLEAGUE].pk), 403, "forbidden"),),
    ),
    ("/api/v1/payments/{payment_id}", "GET"): Case(
        "/api/v1/payments/{payment}", 200, not_found="payment_not_found", colleague_denied=True
    ),
    ("/api/v1/payments/{payment_id}", "PATCH"): Case(
        "/api/v1/payments/{payment}",
        200,
        body=lambda w: {"notes": "Счёт выставлен"},
        not_found="payment_not_found",
        colleague_denied=True,
    ),
    # --- outbound webhook subscriptions (SPEC §14: owner and admin only)
    ("/api/webhook-subscriptions", "GET"): Case(
        "/api/webhook-subscriptions", 200, manager_role_denied=True, checks=_subscriptions_list_checks
    ),
    ("/api/webhook-subscriptions", "POST"): Case(
        "/api/webhook-subscriptions",
        201,
        body=lambda w: {"url": _WEBHOOK_RECEIVER, "events": ["lead_created", "lead_updated"]},
        manager_role_denied=True,
    ),
    ("/api/webhook-subscriptions/{pk}", "GET"): Case(
        "/api/webhook-subscriptions/{webhook_subscription}", 200, not_found="not_found", manager_role_denied=True
    ),
    ("/api/webhook-subscriptions/{pk}", "PATCH"): Case(
        "/api/webhook-subscriptions/{webhook_subscription}",
        200,
        body=lambda w: {"description": "Склад данных", "is_active": False},
        not_found="not_found",
        manager_role_denied=True,
    ),
    ("/api/webhook-subscriptions/{pk}", "DELETE"): Case(
        "/api/webhook-subscriptions/{webhook_subscription}", 204, not_found="not_found", manager_role_denied=True
    ),
    ("/api/webhook-subscriptions/{pk}/deliveries", "GET"): Case(
        "/api/webhook-subscriptions/{webhook_subscription}/deliveries",
        200,
        not_found="not_found",
        manager_role_denied=True,
    ),
    ("/api/webhook-subscriptions/{pk}/replay", "POST"): Case(
        "/api/webhook-subscriptions/{webhook_subscription}/replay",
        None,
        body=lambda w: {"since_event_id": f"evt_{w['tenant'][OWN].pk}_1"},
        not_found="not_found",
        manager_role_denied=True,
        checks=_replay_checks,
    ),
    # --- v1 tasks
    ("/api/v1/tasks", "GET"): Case("/api/v1/tasks", 200, list_rows="deal_task", manager_scoped=True),
    ("/api/v1/tasks", "POST"): Case(
        "/api/v1/tasks",
        201,
        body=lambda w: {
            "subject": "Позвонить",
            "description": "Уточнить дату",
            "assignee_id": str(w.manager.uuid),
            "deal_id": _own("deal")(w),
        },
        foreign_body=(
            BodyProbe("deal_id", _uuid("deal"), 404, "deal_not_found"),
            BodyProbe("policy_id", _uuid("policy"), 400, "validation_error"),
            BodyProbe("payment_id", _uuid("payment"), 400, "validation_error"),
            BodyProbe("assignee_id", _foreign_user_uuid, 400, "validation_error"),
        ),
        manager_body=(
            BodyProbe("assignee_id", _colleague_uuid, 403, "forbidden"),
            BodyProbe("deal_id", lambda w: str(w["deal"][COLLEAGUE].pk), 403, "forbidden"),
        ),
    ),
    ("/api/v1/tasks/{task_id}", "GET"): Case(
        "/api/v1/tasks/{deal_task}", 200, not_found="task_not_found", colleague_denied=True
    ),
    ("/api/v1/tasks/{task_id}", "PATCH"): Case(
        "/api/v1/tasks/{deal_task}",
        200,
        body=lambda w: {"subject": "Перезвонить"},
        not_found="task_not_found",
        colleague_denied=True,
        foreign_body=(BodyProbe("assignee_id", _foreign_user_uuid, 400, "validation_error"),),
    ),
}


# ---------------------------------------------------------------- the checks


def assert_error(response, status: int, code: str, field_name: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error", "message", "details"}, body
    assert body["error"] == code, body
    if field_name is not None:
        assert field_name in (body["details"] or {}), body
    return body


def _requester():
    clients = {}

    def request(user, method, url, body=None, *, headers=None):
        if user not in clients:
            clients[user] = client_for(user)
        client = clients[user]
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()}
        if isinstance(body, bytes):
            return client.generic(method, url, body, content_type="application/json", **extra)
        if body is None:
            return client.generic(method, url, **extra)
        return client.generic(method, url, json.dumps(body), content_type="application/json", **extra)

    return request


def _row_ids(response) -> set[str]:
    body = response.json()
    rows = body if isinstance(body, list) else next(value for value in body.values() if isinstance(value, list))
    return {str(row["id"]) for row in rows}


def _path_for(world: World, case: Case, which: str) -> str:
    def fill(match):
        kind = match.group(1)
        obj = world[kind][which]
        if kind == "tenant":
            return obj.webhook_key
        if kind == "user" and "/api/v1/" in case.path:
            return str(obj.uuid)
        return str(obj.pk)

    return re.sub(r"\{(\w+)\}", fill, case.path)


def _request_headers(world: World, case: Case, body) -> dict:
    if case.path.startswith("/api/webhooks/whatsapp/") and isinstance(body, dict):
        raw = json.dumps(body).encode()
        return {"X-Hub-Signature-256": _sign(world["tenant"][OWN].whatsapp_app_secret, raw)}
    return dict(case.headers)


def _send(request, world, case, method, user, which, body):
    url = _path_for(world, case, which)
    headers = _request_headers(world, case, body)
    if headers and isinstance(body, dict):
        body = json.dumps(body).encode()
    return request(user, method, url, body, headers=headers)


def test_every_routed_endpoint_has_a_case():
    routed = routed_endpoints()
    assert sorted(routed - CASES.keys()) == [], "routed endpoints without an isolation case"
    assert sorted(CASES.keys() - routed) == [], "cases for endpoints that are no longer routed"


@pytest.mark.parametrize(("route", "method"), sorted(CASES), ids=[f"{m} {r}" for r, m in sorted(CASES)])
def test_isolation(world, route, method):
    case = CASES[(route, method)]
    request = _requester()
    body = case.body(world) if case.body else None
    before = database_rows()

    def unchanged():
        assert database_rows() == before, "a refused request changed the database"

    if case.public is None:
        assert_error(_send(request, world, case, method, None, OWN, body), 401, "unauthorized")
        unchanged()

    if case.not_found is not None:
        assert_error(_send(request, world, case, method, world.owner, FOREIGN, body), 404, case.not_found)
        unchanged()
        if not case.manager_role_denied:
            assert_error(_send(request, world, case, method, world.manager, FOREIGN, body), 404, case.not_found)
            unchanged()

    if case.manager_role_denied:
        assert_error(_send(request, world, case, method, world.manager, OWN, body), 403, "forbidden")
        unchanged()
    if case.colleague_denied:
        assert_error(_send(request, world, case, method, world.manager, COLLEAGUE, body), 403, "forbidden")
        unchanged()

    for probe in case.foreign_body:
        probed = {**body, probe.name: probe.value(world)}
        field_name = probe.name if probe.error == "validation_error" else None
        assert_error(
            _send(request, world, case, method, world.owner, OWN, probed), probe.status, probe.error, field_name
        )
        unchanged()
    for probe in case.manager_body:
        probed = {**body, probe.name: probe.value(world)}
        assert_error(_send(request, world, case, method, world.manager, OWN, probed), probe.status, probe.error)
        unchanged()

    if case.list_rows is not None:
        foreign_id = _key(world[case.list_rows][FOREIGN])
        for user in (world.owner, world.manager):
            response = _send(request, world, case, method, user, OWN, None)
            assert response.status_code == 200, response.content[:500]
            ids = _row_ids(response)
            assert foreign_id not in ids
            if case.manager_scoped:
                colleague_id = _key(world[case.list_rows][COLLEAGUE])
                assert (colleague_id in ids) is (user is world.owner)
                assert _key(world[case.list_rows][OWN]) in ids

    if case.checks is not None:
        case.checks(world, request)

    if case.ok is not None:
        user = None if case.public else world.owner
        response = _send(request, world, case, method, user, OWN, body)
        assert response.status_code == case.ok, response.content[:500]


def test_a_manager_reads_colleagues_where_the_spec_allows_it(world):
    """Users, pipelines and clients are shared inside a tenant: a manager reads a colleague's (SPEC §1, §9)."""
    request = _requester()
    for path in (
        f"/api/users/{world.other_manager.pk}",
        f"/api/pipelines/{world['pipeline'][OWN].pk}",
        f"/api/v1/clients/{world['client'][COLLEAGUE].pk}",
    ):
        assert request(world.manager, "GET", path).status_code == 200, path


def test_a_deactivated_colleague_cannot_be_named(world):
    """A foreign-looking id of the own tenant — a deactivated user — is refused like a foreign one."""
    gone = UserFactory(tenant=world["tenant"][OWN], role="manager", username="gone", is_active=False)
    request = _requester()
    before = database_rows()
    body = {"client_id": str(world["client"][OWN].pk), "title": "X", "sales_agent_id": str(gone.uuid)}
    assert_error(request(world.owner, "POST", "/api/v1/deals", body), 400, "validation_error", "sales_agent_id")
    assert database_rows() == before
