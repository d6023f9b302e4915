"""Admin isolation for managers (issue 17): a manager enters the back-office and reaches only their own work.

The world of the staff matrix (crm.tests.test_admin_isolation_matrix) plus a manager of the attacker's tenant who
holds one lead, one task and one deal. The owner's rows («Свой лид», «Своя задача», «Своя сделка») are a colleague's
to the manager: like the victim tenant's rows they never show, open or change. Every registered ModelAdmin and every
back-office URL needs a manager case here too, so a new page cannot open to managers by accident.
"""

import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from crm.models import IdempotencyKey, Tenant, User
from crm.tests import test_admin_isolation_matrix as staff_matrix
from crm.tests.factories import UserFactory
from crm.tests.test_admin_isolation_matrix import (
    BACKOFFICE_CASES,
    _get_request,
    _registered,
    _url,
    assert_no_leak,
    body_text,
    database_rows,
)
from deals.models import Calculation, Client, Deal, DealTask, Payment, Policy
from deals.tests.factories import DealFactory, PolicyFactory
from events.models import WebhookDelivery, WebhookSubscription
from pipelines.models import Lead, LossReason, Pipeline, Stage
from pipelines.services import lead_create
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory

# What a manager may do on each admin (on their own rows); every other page of it answers 403.
MANAGER_CASES = {
    Tenant: frozenset(),
    User: frozenset(),
    IdempotencyKey: frozenset(),
    Group: frozenset(),
    Pipeline: frozenset(),  # the board reads pipelines; their settings are a supervisor's
    Client: frozenset(),
    Lead: frozenset({"view", "add", "change"}),
    LeadTask: frozenset({"view", "add", "change"}),
    Deal: frozenset({"view", "change"}),
    # A deal's objects: on the pages of the manager's own deals, not pages of their own (tenant staff's).
    Calculation: frozenset(),
    Policy: frozenset(),
    Payment: frozenset(),
    DealTask: frozenset(),
    LossReason: frozenset(),  # the tenant's list is a supervisor's (SPEC §12)
    WebhookSubscription: frozenset(),  # owner and admin business (SPEC §14)
    WebhookDelivery: frozenset(),
}
COLLEAGUES = ("Свой лид", "Своя задача", "Своя сделка")
world = staff_matrix.world  # the fixture: both tenants with one row of every kind


@pytest.fixture
def manager_world(world, client):
    tenant = world.own[Tenant]
    manager = UserFactory(tenant=tenant, role="manager", username="mgr")
    lead = lead_create(tenant=tenant, name="Лид менеджера", phone=None, email="m@acme.test", assigned_to=manager)
    world.mine = {
        Lead: lead,
        LeadTask: LeadTaskFactory(lead=lead, note="Задача менеджера"),
        Deal: DealFactory(tenant=tenant, client=world.own[Client], sales_agent=manager, title="Сделка менеджера"),
    }
    world.manager = manager
    client.force_login(manager)
    return world


def assert_no_colleague(response) -> None:
    body = body_text(response)
    for text in COLLEAGUES:
        assert text not in body, f"{response.request['PATH_INFO']}: a colleague's «{text}» shown to a manager"


def test_every_registered_admin_has_a_manager_case():
    assert set(_registered()) == set(MANAGER_CASES)


@pytest.mark.parametrize("model", list(MANAGER_CASES), ids=lambda model: model._meta.label)
def test_manager_admin_isolation(client, manager_world, model):
    world, allowed = manager_world, MANAGER_CASES[model]
    before = database_rows()

    listing = client.get(_url(model, "changelist"), {"q": ""})
    assert listing.status_code == (200 if "view" in allowed else 403)
    assert_no_leak(listing, world)
    assert_no_colleague(listing)
    if "view" in allowed:
        assert {row.pk for row in listing.context["cl"].result_list} == {world.mine[model].pk}
    assert client.get(_url(model, "add")).status_code == (200 if "add" in allowed else 403)

    # The colleague's row and the victim's: not found (a redirect to the index saying so), never the page.
    for row in (world.own[model], world.victim[model]):
        for page in ("change", "history", "delete"):
            response = client.get(_url(model, page, row.pk))
            assert response.status_code in (302, 403, 404), (page, response.status_code)
            assert_no_leak(response, world)
            response = client.post(_url(model, page, row.pk), {"post": "yes", "name": "x", "title": "x"})
            assert response.status_code in (302, 403, 404), (page, response.status_code)
        for action in client_actions(model, world.manager):
            client.post(_url(model, "changelist"), {"action": action, "_selected_action": [row.pk]})
    assert database_rows() == before, "a manager's refused request changed the database"

    # Positive control: the manager's own row opens where the manager may look at all.
    if model in world.mine:
        assert client.get(_url(model, "change", world.mine[model].pk)).status_code == 200


def client_actions(model, user) -> list[str]:
    return [*_registered()[model].get_actions(_get_request(user)), "delete_selected"]


def test_a_manager_cannot_open_the_tenant_or_their_own_account(client, manager_world):
    assert client.get(_url(Tenant, "change", manager_world.own[Tenant].pk)).status_code == 403
    assert client.get(_url(User, "change", manager_world.manager.pk)).status_code == 403
    assert client.get(reverse("admin:auth_user_password_change", args=[manager_world.manager.pk])).status_code == 403


# ---------------------------------------------------------------- the back-office pages


def _board(client, world):
    own_pipeline, victim = world.own[Pipeline], world.victim
    board = client.get(reverse("admin:pipelines_pipeline_board", args=[own_pipeline.pk]))
    yield board, 200
    assert [card["id"] for column in board.context["columns"] for card in column.cards] == [world.mine[Lead].pk]
    yield client.get(reverse("admin:pipelines_pipeline_board", args=[victim[Pipeline].pk])), 404
    summary = client.get(reverse("admin:pipelines_pipeline_board_summary", args=[own_pipeline.pk]))
    yield summary, 200
    assert sum(column["leads"] for column in summary.json()["columns"]) == 1  # world.mine only
    yield client.get(reverse("admin:pipelines_pipeline_board_summary", args=[victim[Pipeline].pk])), 404
    card = "admin:pipelines_pipeline_board_card"
    yield client.get(reverse(card, args=[own_pipeline.pk, world.own[Lead].pk])), 404
    yield client.get(reverse(card, args=[own_pipeline.pk, world.mine[Lead].pk])), 200
    move = "admin:pipelines_pipeline_board_move"
    stage = world.own[Stage].pipeline.stages.order_by("order_index").last()
    body = json.dumps({"stage_id": stage.pk})
    yield client.post(reverse(move, args=[own_pipeline.pk, world.own[Lead].pk]), body, "application/json"), 404
    yield client.post(reverse(move, args=[victim[Pipeline].pk, victim[Lead].pk]), body, "application/json"), 404


def _default_board(client, world):
    response = client.get(reverse("admin:pipelines_default_board"))
    yield response, 302
    assert response["Location"] == reverse("admin:pipelines_pipeline_board", args=[world.own[Pipeline].pk])


def _deal_work(client, world):
    for deal in (world.own[Deal], world.victim[Deal]):  # a colleague's deal and another tenant's: not found
        for name in ("deals_deal_status", "deals_deal_journal"):
            yield client.post(reverse(f"admin:{name}", args=[deal.pk]), {"status": "closed", "text": "x"}), 404
    yield client.get(reverse("admin:deals_deal_status", args=[world.mine[Deal].pk])), 405


def _dashboard(client, world):
    yield client.get(reverse("admin:backoffice_dashboard")), 403


def _exports(client, world):
    # A manager's list exports what the list shows: their own leads and deals; clients are not theirs to list.
    for name, status in (("pipelines_lead", 200), ("deals_deal", 200), ("deals_client", 403)):
        yield client.get(reverse(f"admin:{name}_export", args=["csv"])), status


def _imports(client, world):
    for name in ("pipelines_lead", "deals_client"):
        yield client.get(reverse(f"admin:{name}_import")), 403


MANAGER_PAGE_CASES = {
    "backoffice_dashboard": _dashboard,
    "pipelines_default_board": _default_board,
    "pipelines_pipeline_board": _board,
    "pipelines_pipeline_board_card": _board,
    "pipelines_pipeline_board_summary": _board,
    "pipelines_pipeline_board_move": _board,
    "deals_deal_status": _deal_work,
    "deals_deal_journal": _deal_work,
    "pipelines_lead_export": _exports,
    "deals_client_export": _exports,
    "deals_deal_export": _exports,
    "pipelines_lead_import": _imports,
    "deals_client_import": _imports,
}


def test_every_backoffice_url_has_a_manager_case():
    assert set(MANAGER_PAGE_CASES) == set(BACKOFFICE_CASES)


@pytest.mark.parametrize("pages", sorted(set(MANAGER_PAGE_CASES.values()), key=lambda pages: pages.__name__))
def test_manager_backoffice_pages(client, manager_world, pages):
    before = database_rows()
    for response, status in pages(client, manager_world):
        assert response.status_code == status, (response.request["PATH_INFO"], response.status_code)
        assert_no_leak(response, manager_world)
        assert_no_colleague(response)
    assert database_rows() == before


def test_the_manager_start_page_links_their_work(client, manager_world):
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    body = page.content.decode()
    for label in ("Доска", "Мои лиды", "Задачи на сегодня", "Мои сделки"):
        assert label in body
    assert reverse("admin:backoffice_dashboard") not in body
    assert reverse("admin:crm_tenant_changelist") not in body
    assert reverse("admin:crm_user_changelist") not in body


def test_a_manager_converts_only_their_own_lead(client, manager_world):
    """«Создать сделку» (SPEC §12) over the manager's lead, a colleague's and another tenant's: only theirs."""
    world = manager_world
    leads = (world.mine[Lead], world.own[Lead], world.victim[Lead])
    data = {"action": "convert_to_deals", "_selected_action": [lead.pk for lead in leads]}

    response = client.post(_url(Lead, "changelist"), data, follow=True)

    assert response.status_code == 200
    assert_no_leak(response, world)
    assert_no_colleague(response)
    assert [Lead.objects.get(pk=lead.pk).deal_id is not None for lead in leads] == [True, False, False]
    assert Deal.objects.get(lead_id=world.mine[Lead].pk).sales_agent_id == world.manager.uuid


def test_a_manager_cannot_start_a_renewal_in_the_back_office(client, manager_world):
    """«Начать продление» is on the policies list, which is tenant staff's: a manager's own policy stays as it is."""
    world = manager_world
    policy = PolicyFactory(deal=world.mine[Deal], status="active")
    data = {"action": "start_renewal", "_selected_action": [policy.pk]}

    response = client.post(_url(Policy, "changelist"), data)

    assert response.status_code == 403
    assert client.get(_url(Policy, "changelist"), {"renewal": "30"}).status_code == 403
    assert not Deal.objects.filter(renews_policy=policy).exists()
