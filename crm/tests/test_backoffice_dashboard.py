"""The back-office dashboard page: every panel drawn as SVG, own tenant only, constant query count."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.tests.factories import TEST_PASSWORD, UserFactory
from deals.tests.factories import DealFactory, PaymentFactory, PolicyFactory
from pipelines import services as pipeline_services
from tasks.tests.factories import LeadTaskFactory

URL = "/admin/dashboard/"


@pytest.fixture
def staff(client, owner):
    client.login(username=owner.username, password=TEST_PASSWORD)
    return client


def fill(tenant, user, size: int) -> None:
    """`size` leads with a task each, deals and payments this month."""
    pipeline, _ = pipeline_services.default_pipeline_ensure(tenant=tenant)
    stages = list(pipeline.stages.order_by("order_index"))
    for index in range(size):
        lead = pipeline_services.lead_create(
            tenant=tenant, name=f"Лид {index}", phone=f"+7916{index:07d}", source="site", assigned_to=user
        )
        pipeline_services.lead_move_to_stage(lead=lead, stage=stages[index % 3])
        LeadTaskFactory(lead=lead, due_at=earlier_today(tenant))
    deal = DealFactory(tenant=tenant, sales_agent=user, status="active")
    policy = PolicyFactory(deal=deal)
    for _ in range(size):
        PaymentFactory(policy=policy, amount=Decimal("1000.00"), planned_date=timezone.localdate(), status="received")


def test_dashboard_draws_every_panel(staff, tenant, owner):
    fill(tenant, owner, 3)
    response = staff.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for title in ["Воронка «Основная»", "Новые лиды по источникам", "Задачи менеджеров", "Сделки по статусам"]:
        assert title in html
    assert "Премии клиентов" in html
    assert "Комиссия" in html
    assert html.count('<svg class="chart"') == 5  # commissions have no payments yet: an «empty» note instead of a chart
    assert "Нет данных за период" in html
    assert reverse("admin:pipelines_pipeline_board", args=[tenant_default_pipeline(tenant)]) in html


def earlier_today(tenant) -> datetime.datetime:
    """A moment both overdue and due today on the tenant's clock, whatever the hour the test runs at."""
    now = timezone.now().astimezone(tenant.tzinfo)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + (now - midnight) / 2


def tenant_default_pipeline(tenant) -> int:
    return pipeline_services.default_pipeline_ensure(tenant=tenant)[0].pk


def test_dashboard_counts_only_the_own_tenant(staff, tenant, owner, other_tenant, foreign_owner):
    fill(tenant, owner, 2)
    fill(other_tenant, foreign_owner, 5)
    panels = {panel.title: panel for panel in staff.get(URL).context["panels"]}
    funnel = panels["Воронка «Основная»"]
    assert funnel.table_rows[0][2] == "2"  # reached «Новые»
    tasks = next(panel for title, panel in panels.items() if title.startswith("Задачи менеджеров"))
    assert tasks.table_rows == [(owner.display_name, "2", "2", "2")]


def test_an_empty_tenant_gets_empty_charts_not_errors(staff):
    response = staff.get(URL)
    assert response.status_code == 200
    assert "Нет данных за период" in response.content.decode()


def test_funnel_panel_follows_the_chosen_pipeline(staff, tenant):
    pipeline_services.default_pipeline_ensure(tenant=tenant)
    second = pipeline_services.pipeline_create(tenant=tenant, name="Корпоративные")
    pipeline_services.stage_create(pipeline=second, name="Заявка")
    html = staff.get(URL + f"?pipeline={second.pk}").content.decode()
    assert "Воронка «Корпоративные»" in html
    assert "Заявка" in html


def test_a_foreign_pipeline_id_falls_back_to_the_own_default(staff, tenant, other_tenant):
    pipeline_services.default_pipeline_ensure(tenant=tenant)
    foreign, _ = pipeline_services.default_pipeline_ensure(tenant=other_tenant)
    pipeline_services.pipeline_update(pipeline=foreign, name="Чужая")
    html = staff.get(URL + f"?pipeline={foreign.pk}").content.decode()
    assert "Чужая" not in html
    assert "Воронка «Основная»" in html


@pytest.mark.parametrize("size", [10, 100])
def test_dashboard_query_count_does_not_grow(staff, tenant, owner, size, django_assert_max_num_queries):
    fill(tenant, owner, size)
    with django_assert_max_num_queries(13):  # 12 before the renewals panel's one query
        assert staff.get(URL).status_code == 200


def test_managers_may_not_open_the_dashboard(client, manager):
    assert client.get(URL).status_code == 302  # anonymous: the login
    client.login(username=manager.username, password=TEST_PASSWORD)
    assert client.get(URL).status_code == 403


def test_superuser_picks_a_tenant(client, tenant, other_tenant):
    UserFactory(tenant=None, username="root", is_superuser=True, is_staff=True)
    client.login(username="root", password=TEST_PASSWORD)
    response = client.get(URL + f"?tenant={other_tenant.pk}")
    assert response.status_code == 200
    assert response.context["tenant"] == other_tenant


def test_dashboard_is_linked_from_every_admin_page(staff):
    assert URL in staff.get("/admin/").content.decode()
