from decimal import Decimal

import pytest

from pipelines.models import HistoryKind, Lead, LeadHistory
from pipelines.tests.factories import PipelineFactory, StageFactory

LEAD_KEYS = {
    "id",
    "tenant_id",
    "name",
    "phone",
    "email",
    "source",
    "external_id",
    "comment",
    "pipeline_id",
    "stage_id",
    "moved_to_stage_at",
    "assigned_to_user_id",
    "loss_reason_id",
    "price",
    "client_id",
    "deal_id",
    "created_at",
    "updated_at",
    "version",
}


def test_create_lead_with_defaults(owner_client, owner, tenant, pipeline, stages, events):
    with events.capture():
        response = owner_client.post(
            "/api/leads", {"name": "Иван", "phone": "8 (916) 123-45-67", "email": "ivan@example.com"}
        )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == LEAD_KEYS | {"source_payload"}
    assert body["phone"] == "+79161234567"
    assert body["source"] == "manual"
    assert body["pipeline_id"] == pipeline.pk
    assert body["stage_id"] == stages[0].pk
    assert body["moved_to_stage_at"].endswith("+03:00")
    assert body["assigned_to_user_id"] is None
    assert body["source_payload"] is None
    lead = Lead.objects.get(pk=body["id"])
    assert lead.tenant_id == tenant.pk
    [entry] = lead.history.all()
    assert (entry.kind, entry.user_id, entry.to_stage_id) == (HistoryKind.CREATED, owner.pk, stages[0].pk)
    assert [(e.event_type, e.lead_id, e.assignee_ids) for e in events.sent] == [("lead_created", lead.pk, frozenset())]


def test_create_lead_in_a_named_stage_of_another_pipeline(owner_client, tenant, pipeline, other_manager):
    stage = StageFactory(pipeline=PipelineFactory(tenant=tenant))

    response = owner_client.post(
        "/api/leads",
        {"name": "B", "stage_id": stage.pk, "assigned_to_user_id": other_manager.pk, "source": "site"},
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["pipeline_id"], body["stage_id"]) == (stage.pipeline_id, stage.pk)
    assert body["assigned_to_user_id"] == other_manager.pk
    assert body["source"] == "site"


def test_create_lead_in_a_named_pipeline_takes_its_first_open_stage(owner_client, tenant, pipeline):
    other = PipelineFactory(tenant=tenant)
    StageFactory(pipeline=other, order_index=0, is_closed=True)
    first_open = StageFactory(pipeline=other, order_index=1)

    response = owner_client.post("/api/leads", {"name": "C", "pipeline_id": other.pk})

    assert response.status_code == 201
    assert response.json()["stage_id"] == first_open.pk


def test_manager_lead_is_assigned_to_them(manager_client, manager, pipeline, events):
    with events.capture():
        response = manager_client.post("/api/leads", {"name": "Mine"})

    assert response.status_code == 201
    assert response.json()["assigned_to_user_id"] == manager.pk
    assert events.sent[0].assignee_ids == frozenset({manager.pk})


def test_manager_may_name_themself(manager_client, manager, pipeline):
    response = manager_client.post("/api/leads", {"name": "Mine", "assigned_to_user_id": manager.pk})

    assert response.status_code == 201


def test_manager_may_not_assign_a_colleague(manager_client, other_manager, pipeline):
    response = manager_client.post("/api/leads", {"name": "X", "assigned_to_user_id": other_manager.pk})

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "X", "phone": "not a phone"}, "phone"),
        ({"name": "X", "phone": "123"}, "phone"),
        ({"name": "X", "email": "nope"}, "email"),
        ({"name": "x" * 256}, "name"),
        ({"name": "X", "comment": "x" * 10_001}, "comment"),
        ({"name": "X", "source": "telegram"}, "source"),
        ({"name": "X", "stage_id": 999_999}, "stage_id"),
        ({"name": "X", "stage_id": "abc"}, "stage_id"),
        ({"name": "X", "pipeline_id": 999_999}, "pipeline_id"),
        ({"name": "X", "assigned_to_user_id": 999_999}, "assigned_to_user_id"),
    ],
)
def test_create_rejects_bad_input(owner_client, pipeline, body, field):
    response = owner_client.post("/api/leads", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]
    assert not Lead.objects.exists()
    assert not LeadHistory.objects.exists()


def test_create_rejects_foreign_ids(owner_client, pipeline, other_pipeline, foreign_owner):
    foreign_stage = other_pipeline.stages.first()
    responses = [
        owner_client.post("/api/leads", {"name": "X", "stage_id": foreign_stage.pk}),
        owner_client.post("/api/leads", {"name": "X", "pipeline_id": other_pipeline.pk}),
        owner_client.post("/api/leads", {"name": "X", "assigned_to_user_id": foreign_owner.pk}),
    ]

    assert [response.status_code for response in responses] == [400, 400, 400]
    assert [next(iter(r.json()["details"])) for r in responses] == ["stage_id", "pipeline_id", "assigned_to_user_id"]
    assert not Lead.objects.exists()


def test_create_rejects_stage_of_a_different_named_pipeline(owner_client, tenant, pipeline, stages):
    other = PipelineFactory(tenant=tenant)

    response = owner_client.post("/api/leads", {"name": "X", "pipeline_id": other.pk, "stage_id": stages[0].pk})

    assert response.status_code == 400
    assert "stage_id" in response.json()["details"]
    assert not Lead.objects.exists()


def test_list_newest_first_with_total(owner_client, make_lead):
    leads = [make_lead() for _ in range(3)]

    body = owner_client.get("/api/leads?limit=2").json()

    assert body["total"] == 3
    assert [row["id"] for row in body["leads"]] == [leads[2].pk, leads[1].pk]
    assert set(body["leads"][0]) == LEAD_KEYS


def test_list_manager_sees_only_theirs(manager_client, manager, other_manager, make_lead):
    mine = make_lead(assigned_to=manager)
    make_lead(assigned_to=other_manager)
    make_lead()

    body = manager_client.get("/api/leads").json()

    assert [row["id"] for row in body["leads"]] == [mine.pk]
    assert body["total"] == 1


def test_list_never_shows_another_tenant(owner_client, make_lead, other_pipeline):
    from pipelines.tests.factories import LeadFactory

    LeadFactory(stage=other_pipeline.stages.first())
    mine = make_lead()

    assert [row["id"] for row in owner_client.get("/api/leads").json()["leads"]] == [mine.pk]


def test_list_filters(owner_client, manager, tenant, stages, make_lead):
    other_stage = StageFactory(pipeline=PipelineFactory(tenant=tenant))
    a = make_lead(name="Анна", source="site", assigned_to=manager, email="anna@example.com")
    b = make_lead(name="Борис", stage=stages[1], phone="+79035550011")
    c = make_lead(name="Вера", stage=other_stage)

    def ids(query):
        response = owner_client.get(f"/api/leads?{query}")
        assert response.status_code == 200
        return {row["id"] for row in response.json()["leads"]}

    assert ids(f"pipeline_id={stages[0].pipeline_id}") == {a.pk, b.pk}
    assert ids(f"pipeline_id={other_stage.pipeline_id}") == {c.pk}
    assert ids(f"stage_id={stages[1].pk}") == {b.pk}
    assert ids(f"assigned_to_user_id={manager.pk}") == {a.pk}
    assert ids("source=site") == {a.pk}
    assert ids("search=Анн") == {a.pk}
    assert ids("search=ANNA@") == {a.pk}
    assert ids("search=903 555") == {b.pk}
    assert ids("search=8 903 555-00-11") == {b.pk}


@pytest.mark.parametrize(
    "query",
    ["stage_id=abc", "pipeline_id=1.5", "assigned_to_user_id=-1", "source=fax", "limit=0", "limit=201", "offset=-1"],
)
def test_list_rejects_bad_query(owner_client, pipeline, query):
    response = owner_client.get(f"/api/leads?{query}")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_list_query_count_is_constant(owner_client, make_lead, django_assert_max_num_queries):
    for _ in range(30):
        make_lead()
    for limit in (5, 30):
        with django_assert_max_num_queries(3):
            response = owner_client.get(f"/api/leads?limit={limit}")
        assert len(response.json()["leads"]) == limit


def test_retrieve_has_source_payload(manager_client, manager, make_lead):
    lead = make_lead(assigned_to=manager, source_payload={"raw": True})

    response = manager_client.get(f"/api/leads/{lead.pk}")

    assert response.status_code == 200
    assert response.json()["source_payload"] == {"raw": True}


def test_manager_may_not_open_a_colleagues_lead(manager_client, other_manager, make_lead):
    lead = make_lead(assigned_to=other_manager)

    responses = [
        manager_client.get(f"/api/leads/{lead.pk}"),
        manager_client.patch(f"/api/leads/{lead.pk}", {"name": "Mine"}),
        manager_client.patch(f"/api/leads/{lead.pk}/stage", {"stage_id": lead.stage_id}),
        manager_client.get(f"/api/leads/{lead.pk}/history"),
    ]

    assert [response.status_code for response in responses] == [403] * 4
    lead.refresh_from_db()
    assert lead.name != "Mine"


def test_another_tenants_lead_is_404(owner_client, pipeline, other_pipeline):
    from pipelines.tests.factories import LeadFactory

    lead = LeadFactory(stage=other_pipeline.stages.first())

    responses = [
        owner_client.get(f"/api/leads/{lead.pk}"),
        owner_client.patch(f"/api/leads/{lead.pk}", {"name": "Hacked"}),
        owner_client.patch(f"/api/leads/{lead.pk}/stage", {"stage_id": pipeline.stages.first().pk}),
        owner_client.get(f"/api/leads/{lead.pk}/history"),
    ]

    assert [response.status_code for response in responses] == [404] * 4
    assert {response.json()["error"] for response in responses} == {"not_found"}
    lead.refresh_from_db()
    assert lead.name != "Hacked"


def test_update_fields_records_history_and_one_event(owner_client, owner, manager, make_lead, events):
    lead = make_lead(comment="")

    with events.capture():
        response = owner_client.patch(
            f"/api/leads/{lead.pk}",
            {
                "name": "Новое имя",
                "phone": "+7 903 000-00-01",
                "comment": "Перезвонить",
                "assigned_to_user_id": manager.pk,
            },
        )

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["phone"], body["comment"], body["assigned_to_user_id"]) == (
        "Новое имя",
        "+79030000001",
        "Перезвонить",
        manager.pk,
    )
    kinds = sorted(lead.history.values_list("kind", flat=True))
    assert kinds == ["assigned", "comment", "updated"]
    assert set(lead.history.values_list("user_id", flat=True)) == {owner.pk}
    assert [(e.event_type, e.assignee_ids) for e in events.sent] == [("lead_updated", frozenset({manager.pk}))]


def test_reassignment_notifies_previous_assignee(owner_client, manager, other_manager, make_lead, events):
    lead = make_lead(assigned_to=manager)

    with events.capture():
        owner_client.patch(f"/api/leads/{lead.pk}", {"assigned_to_user_id": other_manager.pk})

    assert [e.assignee_ids for e in events.sent] == [frozenset({manager.pk, other_manager.pk})]
    assert lead.history.get().text == "Ответственный: Manager → Manager2"


def test_update_without_changes_records_nothing(owner_client, make_lead, events):
    lead = make_lead(name="Same")

    with events.capture():
        response = owner_client.patch(f"/api/leads/{lead.pk}", {"name": "Same"})

    assert response.status_code == 200
    assert not lead.history.exists()
    assert events.sent == []


def test_manager_edits_own_lead_but_may_not_reassign(manager_client, manager, other_manager, make_lead):
    lead = make_lead(assigned_to=manager)

    edit = manager_client.patch(f"/api/leads/{lead.pk}", {"comment": "ok"})
    reassign = manager_client.patch(f"/api/leads/{lead.pk}", {"assigned_to_user_id": other_manager.pk})
    unassign = manager_client.patch(f"/api/leads/{lead.pk}", {"assigned_to_user_id": None})

    assert edit.status_code == 200
    assert (reassign.status_code, unassign.status_code) == (403, 403)
    lead.refresh_from_db()
    assert lead.assigned_to_id == manager.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"phone": "x"}, "phone"),
        ({"email": "x@"}, "email"),
        ({"assigned_to_user_id": 999_999}, "assigned_to_user_id"),
        ({"comment": "x" * 10_001}, "comment"),
    ],
)
def test_update_rejects_bad_input(owner_client, make_lead, body, field):
    lead = make_lead(name="Keep")

    response = owner_client.patch(f"/api/leads/{lead.pk}", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["details"]
    lead.refresh_from_db()
    assert lead.name == "Keep"
    assert not lead.history.exists()


def test_move_to_stage(owner_client, owner, stages, make_lead, events):
    lead = make_lead()
    before = lead.moved_to_stage_at

    with events.capture():
        response = owner_client.patch(f"/api/leads/{lead.pk}/stage", {"stage_id": stages[1].pk})

    assert response.status_code == 200
    assert response.json()["stage_id"] == stages[1].pk
    lead.refresh_from_db()
    assert lead.moved_to_stage_at > before
    entry = lead.history.get()
    assert (entry.kind, entry.from_stage_id, entry.to_stage_id, entry.user_id) == (
        "stage_changed",
        stages[0].pk,
        stages[1].pk,
        owner.pk,
    )
    assert entry.text == "Стадия: «Новые» → «В работе»"
    assert [e.event_type for e in events.sent] == ["lead_updated"]


def test_move_to_a_stage_of_another_pipeline_moves_the_pipeline(owner_client, tenant, make_lead):
    stage = StageFactory(pipeline=PipelineFactory(tenant=tenant))
    lead = make_lead()

    response = owner_client.patch(f"/api/leads/{lead.pk}/stage", {"stage_id": stage.pk})

    assert response.status_code == 200
    assert (response.json()["pipeline_id"], response.json()["stage_id"]) == (stage.pipeline_id, stage.pk)


def test_manager_moves_own_lead(manager_client, manager, stages, make_lead):
    lead = make_lead(assigned_to=manager)

    response = manager_client.patch(f"/api/leads/{lead.pk}/stage", {"stage_id": stages[2].pk})

    assert response.status_code == 200


@pytest.mark.parametrize("stage_id", [999_999, "abc", None, "foreign"])
def test_move_to_a_bad_stage_is_400(owner_client, stages, make_lead, other_pipeline, stage_id):
    lead = make_lead()
    if stage_id == "foreign":
        stage_id = other_pipeline.stages.first().pk

    response = owner_client.patch(f"/api/leads/{lead.pk}/stage", {"stage_id": stage_id}, format="json")

    assert response.status_code == 400
    assert "stage_id" in response.json()["details"]
    lead.refresh_from_db()
    assert lead.stage_id == stages[0].pk
    assert not lead.history.exists()


def test_history_newest_first(owner_client, owner, stages, make_lead):
    lead = make_lead()
    owner_client.patch(f"/api/leads/{lead.pk}/stage", {"stage_id": stages[1].pk})
    owner_client.patch(f"/api/leads/{lead.pk}/stage", {"stage_id": stages[2].pk})
    owner_client.patch(f"/api/leads/{lead.pk}", {"comment": "Позвонить завтра"})

    response = owner_client.get(f"/api/leads/{lead.pk}/history")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert [entry["kind"] for entry in body["history"]] == ["comment", "stage_changed", "stage_changed"]
    assert set(body["history"][0]) == {"id", "kind", "from_stage_id", "to_stage_id", "user_id", "text", "created_at"}
    assert body["history"][1]["from_stage_id"] == stages[1].pk
    assert body["history"][1]["user_id"] == owner.pk


def test_history_query_count_is_constant(owner_client, owner, make_lead, django_assert_max_num_queries):
    from pipelines import services

    lead = make_lead()
    for n in range(25):
        services.lead_history_record(lead=lead, kind="comment", acting_user=owner, text=str(n))
    for limit in (5, 25):
        with django_assert_max_num_queries(4):
            response = owner_client.get(f"/api/leads/{lead.pk}/history?limit={limit}")
        assert len(response.json()["history"]) == limit
        assert response.json()["total"] == 25


# ---------------------------------------------------------------- the budget (SPEC §12 «Budget»)


def test_price_is_written_on_create_and_read_back_as_a_number(owner_client, pipeline):
    response = owner_client.post("/api/leads", {"name": "С бюджетом", "price": 125000.5}, format="json")

    assert response.status_code == 201
    assert response.json()["price"] == 125000.5
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.price == Decimal("125000.50")
    assert owner_client.get(f"/api/leads/{lead.pk}").json()["price"] == 125000.5
    [row] = owner_client.get("/api/leads").json()["leads"]
    assert row["price"] == 125000.5


def test_price_defaults_to_null(owner_client, pipeline):
    response = owner_client.post("/api/leads", {"name": "Без бюджета"}, format="json")

    assert response.json()["price"] is None
    assert Lead.objects.get().price is None


@pytest.mark.parametrize("price", [0, 7, 999_999_999_999.99, 0.01])
def test_price_limits_that_are_accepted(owner_client, pipeline, price):
    response = owner_client.post("/api/leads", {"name": "X", "price": price}, format="json")

    assert response.status_code == 201
    assert response.json()["price"] == price
    assert Lead.objects.get().price == Decimal(str(price))


@pytest.mark.parametrize(
    "price",
    ["100", "NaN", "", True, False, -1, -0.01, 1.005, 0.001, 1_000_000_000_000, 1e15, [1], {"amount": 1}],
)
def test_bad_price_is_400_naming_price(owner_client, pipeline, make_lead, price):
    lead = make_lead(name="Keep", price=Decimal("10.00"))

    created = owner_client.post("/api/leads", {"name": "X", "price": price}, format="json")
    updated = owner_client.patch(f"/api/leads/{lead.pk}", {"price": price}, format="json")

    for response in (created, updated):
        assert response.status_code == 400
        assert response.json()["error"] == "validation_error"
        assert list(response.json()["details"]) == ["price"]
    assert list(Lead.objects.values_list("pk", "price")) == [(lead.pk, Decimal("10.00"))]
    assert not LeadHistory.objects.exists()


def test_a_bare_nan_is_not_json(owner_client, pipeline):
    response = owner_client.post("/api/leads", b'{"name": "X", "price": NaN}', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Lead.objects.exists()


def test_patch_price_records_history_and_one_event(owner_client, owner, manager, make_lead, events):
    lead = make_lead(assigned_to=manager)

    with events.capture():
        response = owner_client.patch(f"/api/leads/{lead.pk}", {"price": 1234567.8}, format="json")

    assert response.status_code == 200
    assert response.json()["price"] == 1234567.8
    assert response.json()["version"] == lead.version + 1
    [entry] = lead.history.all()
    assert (entry.kind, entry.user_id) == (HistoryKind.UPDATED, owner.pk)
    assert entry.text == "Изменено — бюджет: 1\u202f234\u202f567,80\u00a0₽"
    assert [(e.event_type, e.lead_id) for e in events.sent] == [("lead_updated", lead.pk)]


def test_patch_price_to_null_clears_it(owner_client, make_lead):
    lead = make_lead(price=Decimal("500.00"))

    response = owner_client.patch(f"/api/leads/{lead.pk}", {"price": None}, format="json")

    assert response.status_code == 200
    assert response.json()["price"] is None
    lead.refresh_from_db()
    assert lead.price is None
    assert lead.history.get().text == "Изменено — бюджет: —"


def test_patch_the_same_price_changes_nothing(owner_client, make_lead, events):
    lead = make_lead(price=Decimal("500.00"))

    with events.capture():
        response = owner_client.patch(f"/api/leads/{lead.pk}", {"price": 500}, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == lead.version
    assert not lead.history.exists()
    assert events.sent == []


def test_manager_sets_the_price_of_their_lead_not_a_colleagues(manager_client, manager, other_manager, make_lead):
    mine = make_lead(assigned_to=manager)
    theirs = make_lead(assigned_to=other_manager)

    own = manager_client.patch(f"/api/leads/{mine.pk}", {"price": 10}, format="json")
    colleague = manager_client.patch(f"/api/leads/{theirs.pk}", {"price": 10}, format="json")

    assert own.status_code == 200
    assert colleague.status_code == 403
    assert colleague.json()["error"] == "forbidden"
    theirs.refresh_from_db()
    assert theirs.price is None


def test_list_filters_do_not_narrow_the_detail_routes(owner_client, stages):
    lead_id = owner_client.post("/api/leads", {"name": "Фильтр"}, format="json").json()["id"]
    other_stage, unknown = stages[2].pk, "not-a-filter-value"

    assert owner_client.get(f"/api/leads/{lead_id}?stage_id={other_stage}&source={unknown}").status_code == 200
    response = owner_client.patch(
        f"/api/leads/{lead_id}/stage?stage_id={other_stage}&assigned_to_user_id=x", {"stage_id": stages[1].pk}
    )
    assert response.status_code == 200
    assert response.json()["stage_id"] == stages[1].pk
