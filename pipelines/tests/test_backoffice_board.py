"""The pipeline board in the admin: columns and cards, filters, moves through the service, tenant safety, CSRF."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.tests.factories import TEST_PASSWORD, UserFactory
from pipelines import services
from pipelines.board import PER_COLUMN
from pipelines.models import HistoryKind, Lead, LeadHistory
from pipelines.tests.factories import LeadFactory, StageFactory
from tasks.models import LeadTask


@pytest.fixture
def staff(client, owner):
    client.login(username=owner.username, password=TEST_PASSWORD)
    return client


def board_url(pipeline, **query):
    url = reverse("admin:pipelines_pipeline_board", args=[pipeline.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def card_url(pipeline, lead):
    return reverse("admin:pipelines_pipeline_board_card", args=[pipeline.pk, lead.pk])


def move(client, pipeline, lead, stage_id, **extra):
    url = reverse("admin:pipelines_pipeline_board_move", args=[pipeline.pk, lead.pk])
    return client.post(url, json.dumps({"stage_id": stage_id}), content_type="application/json", **extra)


def test_board_shows_a_column_per_stage_in_order_with_cards(staff, pipeline, stages, make_lead, manager):
    make_lead(name="Анна Смирнова", assigned_to=manager, phone="+79161112233")
    make_lead(name="Борис Орлов", stage=stages[1], source="site")
    response = staff.get(board_url(pipeline))
    assert response.status_code == 200
    html = response.content.decode()
    positions = [html.index(f'data-stage-id="{stage.pk}"') for stage in stages]
    assert positions == sorted(positions)
    assert "Анна Смирнова" in html
    assert "+79161112233" in html
    assert manager.display_name in html
    assert "Борис Орлов" in html
    assert "Сайт" in html
    assert 'src="/static/pipelines/board.js"' in html


def test_card_shows_next_open_task_and_time_in_stage(staff, pipeline, make_lead, owner):
    lead = make_lead(name="Вера", moved_to_stage_at=timezone.now() - timedelta(days=3))
    due = timezone.now() - timedelta(hours=2)
    LeadTask.objects.create(tenant=lead.tenant, lead=lead, assigned_to=owner, due_at=due)
    card = staff.get(card_url(pipeline, lead)).json()
    assert card["stage_id"] == lead.stage_id
    assert "overdue" in card["html"]
    assert "3" in card["html"].split("card-age")[1]


def test_filters_by_assignee_source_and_search(staff, pipeline, make_lead, manager, other_manager):
    make_lead(name="Мой лид", assigned_to=manager, source="site")
    make_lead(name="Чужой лид", assigned_to=other_manager, source="whatsapp")
    html = staff.get(board_url(pipeline, assignee=manager.pk)).content.decode()
    assert "Мой лид" in html
    assert "Чужой лид" not in html
    html = staff.get(board_url(pipeline, source="whatsapp")).content.decode()
    assert "Чужой лид" in html
    assert "Мой лид" not in html
    html = staff.get(board_url(pipeline, q="Мой")).content.decode()
    assert "Мой лид" in html
    assert "Чужой лид" not in html


def test_a_bad_filter_is_reported_and_ignored(staff, pipeline, make_lead):
    make_lead(name="Лид")
    html = staff.get(board_url(pipeline, source="fax")).content.decode()
    assert "Фильтр не применён" in html
    assert "Лид" in html


def test_drag_moves_the_lead_through_the_service(staff, pipeline, stages, owner, events):
    lead = services.lead_create(tenant=pipeline.tenant, name="Галина", phone="+79160000001")
    with events.capture():
        response = move(staff, pipeline, lead, stages[2].pk)
    assert response.status_code == 200
    body = response.json()
    assert body["stage_id"] == stages[2].pk
    assert "Галина" in body["html"]
    lead.refresh_from_db()
    assert lead.stage_id == stages[2].pk
    entry = LeadHistory.objects.get(lead=lead, kind=HistoryKind.STAGE_CHANGED)
    assert (entry.from_stage_id, entry.to_stage_id, entry.user_id) == (stages[0].pk, stages[2].pk, owner.pk)
    assert [(e.event_type, e.lead_id) for e in events.sent] == [("lead_updated", lead.pk)]


def test_a_move_to_a_foreign_stage_is_refused_and_nothing_changes(staff, pipeline, make_lead, other_pipeline):
    lead = make_lead()
    foreign_stage = other_pipeline.stages.first()
    response = move(staff, pipeline, lead, foreign_stage.pk)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "stage_id" in response.json()["details"]
    lead.refresh_from_db()
    assert lead.stage.pipeline_id == pipeline.pk
    assert not LeadHistory.objects.filter(lead=lead).exists()


@pytest.mark.parametrize("body", ["{}", '{"stage_id": "2"}', '{"stage_id": true}', "[1]", "nonsense"])
def test_a_malformed_move_is_a_400(staff, pipeline, make_lead, body):
    lead = make_lead()
    url = reverse("admin:pipelines_pipeline_board_move", args=[pipeline.pk, lead.pk])
    response = staff.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_foreign_pipeline_and_foreign_lead_are_404(staff, pipeline, stages, other_pipeline):
    foreign_lead = LeadFactory(stage=other_pipeline.stages.first())
    assert staff.get(board_url(other_pipeline)).status_code == 404
    assert staff.get(card_url(pipeline, foreign_lead)).status_code == 404
    response = move(staff, pipeline, foreign_lead, stages[1].pk)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert move(staff, other_pipeline, foreign_lead, stages[1].pk).status_code == 404
    foreign_lead.refresh_from_db()
    assert foreign_lead.stage.pipeline_id == other_pipeline.pk


def test_the_move_endpoint_requires_the_csrf_token(owner, pipeline, stages, make_lead):
    lead = make_lead()
    client = Client(enforce_csrf_checks=True)
    client.login(username=owner.username, password=TEST_PASSWORD)
    assert move(client, pipeline, lead, stages[1].pk).status_code == 403
    client.get(board_url(pipeline))
    token = client.cookies["csrftoken"].value
    assert move(client, pipeline, lead, stages[1].pk, HTTP_X_CSRFTOKEN=token).status_code == 200
    assert Lead.objects.get(pk=lead.pk).stage_id == stages[1].pk


def test_anonymous_users_are_sent_to_the_login_and_a_manager_sees_their_own_cards(
    client, manager, owner, pipeline, make_lead
):
    mine = make_lead(name="Мой лид", assigned_to=manager)
    theirs = make_lead(name="Лид владельца", assigned_to=owner)
    assert client.get(board_url(pipeline)).status_code == 302
    client.login(username=manager.username, password=TEST_PASSWORD)

    board = client.get(board_url(pipeline))

    assert board.status_code == 200
    assert [card["id"] for column in board.context["columns"] for card in column.cards] == [mine.pk]
    assert [column.count for column in board.context["columns"]][0] == 1
    assert client.get(card_url(pipeline, theirs)).status_code == 404
    assert client.get(card_url(pipeline, mine)).json()["stage_id"] == mine.stage_id


def test_card_of_a_lead_moved_to_another_pipeline_leaves_the_board(staff, pipeline, make_lead):
    second = services.pipeline_create(tenant=pipeline.tenant, name="Вторая")
    target = services.stage_create(pipeline=second, name="Новые")
    lead = make_lead()
    services.lead_move_to_stage(lead=lead, stage=target)
    assert staff.get(card_url(pipeline, lead)).json() == {"lead_id": lead.pk, "stage_id": None, "html": None}
    assert staff.get(card_url(second, lead)).json()["stage_id"] == target.pk


def test_card_endpoint_applies_the_board_filters(staff, pipeline, make_lead, manager):
    lead = make_lead(assigned_to=manager)
    url = card_url(pipeline, lead)
    assert staff.get(url + f"?assignee={manager.pk}").json()["html"]
    assert staff.get(url + "?source=whatsapp").json()["html"] is None


def test_superuser_sees_any_tenants_board(client, other_pipeline):
    UserFactory(tenant=None, username="root", is_superuser=True, is_staff=True)
    client.login(username="root", password=TEST_PASSWORD)
    assert client.get(board_url(other_pipeline)).status_code == 200


def test_columns_show_at_most_per_column_cards_and_the_full_count(staff, pipeline, stages):
    LeadFactory.create_batch(PER_COLUMN + 3, stage=stages[0])
    html = staff.get(board_url(pipeline)).content.decode()
    assert html.count('class="board-card"') == PER_COLUMN
    assert f'<span class="stage-count" title="Лидов в стадии">{PER_COLUMN + 3}</span>' in html
    assert "ещё 3" in html


def test_each_column_shows_the_leads_that_came_into_its_stage_last(staff, pipeline, stages):
    now = timezone.now()
    for stage in stages[:2]:
        for age in range(PER_COLUMN + 2):
            LeadFactory(stage=stage, name=f"{stage.name} age {age}", moved_to_stage_at=now - timedelta(hours=age))
    html = staff.get(board_url(pipeline)).content.decode()
    for stage in stages[:2]:
        assert f"{stage.name} age {PER_COLUMN - 1}<" in html
        assert f"{stage.name} age {PER_COLUMN}<" not in html
        assert f"{stage.name} age {PER_COLUMN + 1}<" not in html


@pytest.mark.parametrize("rows", [10, 100])
def test_board_query_count_is_constant(staff, pipeline, stages, rows, django_assert_max_num_queries, owner):
    for index in range(rows):
        lead = LeadFactory(stage=stages[index % 3], assigned_to=owner)
        LeadTask.objects.create(tenant=lead.tenant, lead=lead, assigned_to=owner, due_at=timezone.now())
    with django_assert_max_num_queries(12):
        assert staff.get(board_url(pipeline)).status_code == 200


def test_a_stage_added_later_gets_its_own_column(staff, pipeline):
    StageFactory(pipeline=pipeline, tenant=pipeline.tenant, name="Доп. стадия", order_index=99, color="#ff0000")
    html = staff.get(board_url(pipeline)).content.decode()
    assert "Доп. стадия" in html
    assert "--stage-color: #ff0000" in html


# ---------------------------------------------------------------- budgets: cards and column sums (SPEC §12)

THIN, NBSP = "\u202f", "\u00a0"


def summary_url(pipeline, **query):
    url = reverse("admin:pipelines_pipeline_board_summary", args=[pipeline.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_a_card_shows_its_budget_as_money(staff, pipeline, make_lead):
    priced = make_lead(name="С бюджетом", price=Decimal("1250000.5"))
    bare = make_lead(name="Без бюджета")

    priced_html = staff.get(card_url(pipeline, priced)).json()["html"]
    bare_html = staff.get(card_url(pipeline, bare)).json()["html"]

    assert f'<div class="card-price" title="Бюджет">1{THIN}250{THIN}000,50{NBSP}₽</div>' in priced_html
    assert "card-price" not in bare_html
    assert f"1{THIN}250{THIN}000,50{NBSP}₽" in staff.get(board_url(pipeline)).content.decode()


def test_column_headers_show_count_and_sum(staff, pipeline, stages, make_lead, manager):
    make_lead(stage=stages[0], price=Decimal("1000"), assigned_to=manager)
    make_lead(stage=stages[0], price=Decimal("2500.25"))
    make_lead(stage=stages[0])
    make_lead(stage=stages[2], price=Decimal("7"))

    board = staff.get(board_url(pipeline))

    columns = board.context["columns"]
    assert [(column.count, column.price_total) for column in columns] == [
        (3, Decimal("3500.25")),
        (0, Decimal("0")),
        (1, Decimal("7")),
        (0, Decimal("0")),
        (0, Decimal("0")),
    ]
    html = board.content.decode()
    assert f'<span class="stage-sum" title="Сумма бюджетов">3{THIN}500,25{NBSP}₽</span>' in html
    assert f'<span class="stage-sum" title="Сумма бюджетов">0,00{NBSP}₽</span>' in html
    filtered = staff.get(board_url(pipeline, assignee=manager.pk)).context["columns"]
    assert (filtered[0].count, filtered[0].price_total) == (1, Decimal("1000"))


def test_the_summary_endpoint_gives_the_headers_after_a_move(staff, pipeline, stages, make_lead):
    lead = make_lead(stage=stages[0], price=Decimal("100"))
    make_lead(stage=stages[1], price=Decimal("0.5"))
    assert move(staff, pipeline, lead, stages[1].pk).status_code == 200

    response = staff.get(summary_url(pipeline))

    assert response.status_code == 200
    assert response.json()["columns"] == [
        {"stage_id": stages[0].pk, "leads": 0, "price_total": 0, "price_total_text": f"0,00{NBSP}₽"},
        {"stage_id": stages[1].pk, "leads": 2, "price_total": 100.5, "price_total_text": f"100,50{NBSP}₽"},
        *(
            {"stage_id": stage.pk, "leads": 0, "price_total": 0, "price_total_text": f"0,00{NBSP}₽"}
            for stage in stages[2:]
        ),
    ]


def test_the_summary_applies_the_board_filters_and_refuses_a_bad_one(staff, pipeline, make_lead, manager):
    make_lead(price=Decimal("10"), assigned_to=manager, source="site")
    make_lead(price=Decimal("20"))

    def first_column(**query):
        return staff.get(summary_url(pipeline, **query)).json()["columns"][0]

    assert (first_column()["leads"], first_column()["price_total"]) == (2, 30)
    assert (first_column(assignee=manager.pk)["leads"], first_column(assignee=manager.pk)["price_total"]) == (1, 10)
    assert first_column(source="whatsapp")["leads"] == 0
    bad = staff.get(summary_url(pipeline, assignee="x"))
    assert bad.status_code == 400
    assert bad.json()["error"] == "validation_error"


def test_a_managers_summary_counts_their_own_cards(client, manager, owner, pipeline, make_lead, other_pipeline):
    make_lead(price=Decimal("10"), assigned_to=manager)
    make_lead(price=Decimal("20"), assigned_to=owner)
    client.login(username=manager.username, password=TEST_PASSWORD)

    first = client.get(summary_url(pipeline)).json()["columns"][0]

    assert (first["leads"], first["price_total"]) == (1, 10)
    assert client.get(summary_url(other_pipeline)).status_code == 404


@pytest.mark.parametrize("rows", [3, 60])
def test_the_summary_query_count_is_constant(staff, pipeline, stages, rows, django_assert_max_num_queries):
    for index in range(rows):
        LeadFactory(stage=stages[index % 5], price=Decimal(index))
    with django_assert_max_num_queries(5):
        assert staff.get(summary_url(pipeline)).status_code == 200
