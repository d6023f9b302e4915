import pytest

from pipelines.models import Pipeline, Stage
from pipelines.tests.factories import PipelineFactory, StageFactory

SUPERVISORS = ["owner", "rop", "admin_user"]


def test_list_returns_default_pipeline_with_ordered_stages(api_client, manager, pipeline, stages):
    response = api_client(manager).get("/api/pipelines")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    [item] = body["pipelines"]
    assert item["id"] == pipeline.pk
    assert item["tenant_id"] == pipeline.tenant_id
    assert item["name"] == "Основная"
    assert item["is_default"] is True
    assert item["created_at"].endswith("+03:00")
    assert [stage["name"] for stage in item["stages"]] == ["Новые", "В работе", "Переговоры", "Успешно", "Отказ"]
    assert [stage["is_closed"] for stage in item["stages"]] == [False, False, False, True, True]
    assert set(item["stages"][0]) == {
        "id",
        "pipeline_id",
        "name",
        "order_index",
        "color",
        "is_closed",
        "outcome",
        "created_at",
    }
    assert item["stages"][0]["pipeline_id"] == pipeline.pk


def test_list_puts_default_first_then_by_id(owner_client, tenant, pipeline):
    first = PipelineFactory(tenant=tenant)
    second = PipelineFactory(tenant=tenant)

    body = owner_client.get("/api/pipelines").json()

    assert [item["id"] for item in body["pipelines"]] == [pipeline.pk, first.pk, second.pk]


def test_list_accepts_own_tenant_id(owner_client, tenant, pipeline):
    response = owner_client.get(f"/api/pipelines?tenant_id={tenant.pk}")

    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_list_with_another_tenant_id_is_forbidden(owner_client, other_tenant, pipeline, other_pipeline):
    response = owner_client.get(f"/api/pipelines?tenant_id={other_tenant.pk}")

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_list_with_malformed_tenant_id_is_400(owner_client, pipeline):
    response = owner_client.get("/api/pipelines?tenant_id=abc")

    assert response.status_code == 400
    assert response.json()["details"] == {"tenant_id": ["A valid integer is required."]}


def test_list_never_shows_another_tenant(owner_client, pipeline, other_pipeline):
    body = owner_client.get("/api/pipelines").json()

    assert [item["id"] for item in body["pipelines"]] == [pipeline.pk]


def test_list_query_count_is_constant(owner_client, tenant, pipeline, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        assert owner_client.get("/api/pipelines").json()["total"] == 1
    for _ in range(5):
        StageFactory(pipeline=PipelineFactory(tenant=tenant))
    with django_assert_max_num_queries(3):
        assert owner_client.get("/api/pipelines").json()["total"] == 6


def test_anonymous_is_401(api_client, pipeline):
    response = api_client(None).get("/api/pipelines")

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("role", SUPERVISORS)
def test_supervisors_create_pipelines(request, api_client, role, tenant, pipeline):
    response = api_client(request.getfixturevalue(role)).post("/api/pipelines", {"name": "Вторая воронка"})

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Вторая воронка"
    assert body["is_default"] is False
    assert body["stages"] == []
    assert body["tenant_id"] == tenant.pk
    assert Pipeline.objects.filter(tenant=tenant).count() == 2


def test_create_default_moves_the_flag(owner_client, tenant, pipeline):
    response = owner_client.post("/api/pipelines", {"name": "Новая главная", "is_default": True})

    assert response.status_code == 201
    assert list(Pipeline.objects.filter(tenant=tenant, is_default=True).values_list("name", flat=True)) == [
        "Новая главная"
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "A", "is_default": "x"}, "is_default"),
    ],
)
def test_create_rejects_bad_input(owner_client, tenant, pipeline, body, field):
    response = owner_client.post("/api/pipelines", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]
    assert Pipeline.objects.filter(tenant=tenant).count() == 1


def test_create_rejects_a_non_json_body(owner_client, tenant, pipeline):
    response = owner_client.generic("POST", "/api/pipelines", "{bad", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert Pipeline.objects.filter(tenant=tenant).count() == 1


def test_pipeline_limit_is_409(owner_client, tenant, pipeline):
    Pipeline.objects.bulk_create(Pipeline(tenant=tenant, name=f"P{n}") for n in range(49))

    response = owner_client.post("/api/pipelines", {"name": "One too many"})

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert Pipeline.objects.filter(tenant=tenant).count() == 50


def test_manager_may_not_write_pipelines(manager_client, tenant, pipeline, stages):
    responses = [
        manager_client.post("/api/pipelines", {"name": "Mine"}),
        manager_client.patch(f"/api/pipelines/{pipeline.pk}", {"name": "Mine"}),
        manager_client.post(f"/api/pipelines/{pipeline.pk}/stages", {"name": "Mine"}),
        manager_client.patch(f"/api/pipelines/stages/{stages[0].pk}", {"name": "Mine"}),
        manager_client.delete(f"/api/pipelines/stages/{stages[0].pk}"),
    ]

    assert [response.status_code for response in responses] == [403] * 5
    assert {response.json()["error"] for response in responses} == {"forbidden"}
    assert Pipeline.objects.filter(tenant=tenant).count() == 1
    assert not Stage.objects.filter(name="Mine").exists()


def test_retrieve_pipeline(manager_client, pipeline):
    response = manager_client.get(f"/api/pipelines/{pipeline.pk}")

    assert response.status_code == 200
    assert len(response.json()["stages"]) == 5


def test_update_renames_and_moves_default(owner_client, tenant, pipeline):
    second = PipelineFactory(tenant=tenant)

    response = owner_client.patch(f"/api/pipelines/{second.pk}", {"name": "Новое имя", "is_default": True})

    assert response.status_code == 200
    assert response.json()["name"] == "Новое имя"
    assert response.json()["is_default"] is True
    pipeline.refresh_from_db()
    assert pipeline.is_default is False


def test_update_may_not_unset_the_only_default(owner_client, pipeline):
    response = owner_client.patch(f"/api/pipelines/{pipeline.pk}", {"is_default": False})

    assert response.status_code == 400
    assert "is_default" in response.json()["details"]
    pipeline.refresh_from_db()
    assert pipeline.is_default is True


def test_update_other_tenant_pipeline_is_404(owner_client, pipeline, other_pipeline):
    response = owner_client.patch(f"/api/pipelines/{other_pipeline.pk}", {"name": "Hacked"})

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    other_pipeline.refresh_from_db()
    assert other_pipeline.name == "Основная"


@pytest.mark.parametrize("pk", ["999999", "abc", "0", "99999999999999999999"])
def test_unknown_or_malformed_pipeline_is_404(owner_client, pipeline, pk):
    response = owner_client.patch(f"/api/pipelines/{pk}", {"name": "X"})

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_add_stage(owner_client, pipeline, stages):
    response = owner_client.post(
        f"/api/pipelines/{pipeline.pk}/stages",
        {"name": "Новая стадия", "order_index": 5, "color": "#00ff00", "is_closed": False},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Новая стадия"
    assert body["order_index"] == 5
    assert body["color"] == "#00ff00"
    assert body["pipeline_id"] == pipeline.pk
    assert pipeline.stages.count() == 6


def test_add_stage_defaults_to_the_end(owner_client, pipeline, stages):
    response = owner_client.post(f"/api/pipelines/{pipeline.pk}/stages", {"name": "В конце"})

    assert response.status_code == 201
    assert response.json()["order_index"] == 5
    assert response.json()["color"] is None


def test_add_stage_at_an_occupied_index_shifts_the_rest(owner_client, pipeline, stages):
    response = owner_client.post(f"/api/pipelines/{pipeline.pk}/stages", {"name": "Вставка", "order_index": 1})

    assert response.status_code == 201
    listed = owner_client.get("/api/pipelines").json()["pipelines"][0]["stages"]
    assert [(stage["name"], stage["order_index"]) for stage in listed] == [
        ("Новые", 0),
        ("Вставка", 1),
        ("В работе", 2),
        ("Переговоры", 3),
        ("Успешно", 4),
        ("Отказ", 5),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "S", "order_index": -1}, "order_index"),
        ({"name": "S", "order_index": "first"}, "order_index"),
        ({"name": "S", "color": "green"}, "color"),
        ({"name": "S", "is_closed": "maybe"}, "is_closed"),
    ],
)
def test_add_stage_rejects_bad_input(owner_client, pipeline, stages, body, field):
    response = owner_client.post(f"/api/pipelines/{pipeline.pk}/stages", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["details"]
    assert pipeline.stages.count() == 5


def test_add_stage_to_another_tenant_pipeline_is_404(owner_client, pipeline, other_pipeline):
    response = owner_client.post(f"/api/pipelines/{other_pipeline.pk}/stages", {"name": "Hack"})

    assert response.status_code == 404
    assert other_pipeline.stages.count() == 5


def test_stage_limit_is_409(owner_client, tenant):
    pipeline = PipelineFactory(tenant=tenant)
    Stage.objects.bulk_create(Stage(tenant=tenant, pipeline=pipeline, name=f"S{n}", order_index=n) for n in range(100))

    response = owner_client.post(f"/api/pipelines/{pipeline.pk}/stages", {"name": "101st"})

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert pipeline.stages.count() == 100


def test_update_stage(owner_client, stages):
    response = owner_client.patch(
        f"/api/pipelines/stages/{stages[1].pk}",
        {"name": "Переименованная", "color": "#ff0000", "is_closed": True},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["color"], body["is_closed"], body["order_index"]) == (
        "Переименованная",
        "#ff0000",
        True,
        1,
    )


def test_update_stage_order_moves_it_before_the_stage_there(owner_client, pipeline, stages):
    response = owner_client.patch(f"/api/pipelines/stages/{stages[4].pk}", {"order_index": 1})

    assert response.status_code == 200
    names = [stage.name for stage in pipeline.stages.order_by("order_index", "id")]
    assert names == ["Новые", "Отказ", "В работе", "Переговоры", "Успешно"]


def test_update_stage_of_another_tenant_is_404(owner_client, pipeline, other_pipeline):
    stage = other_pipeline.stages.first()

    response = owner_client.patch(f"/api/pipelines/stages/{stage.pk}", {"name": "Hacked"})

    assert response.status_code == 404
    stage.refresh_from_db()
    assert stage.name != "Hacked"


def test_update_stage_rejects_bad_color(owner_client, stages):
    response = owner_client.patch(f"/api/pipelines/stages/{stages[0].pk}", {"color": "#12"})

    assert response.status_code == 400
    assert "color" in response.json()["details"]


def test_delete_empty_stage(owner_client, pipeline, stages):
    response = owner_client.delete(f"/api/pipelines/stages/{stages[2].pk}")

    assert response.status_code == 204
    assert not Stage.objects.filter(pk=stages[2].pk).exists()


def test_delete_stage_with_leads_is_409(owner_client, stages, make_lead):
    make_lead(stage=stages[1])

    response = owner_client.delete(f"/api/pipelines/stages/{stages[1].pk}")

    assert response.status_code == 409
    assert response.json()["error"] == "stage_has_leads"
    assert Stage.objects.filter(pk=stages[1].pk).exists()


def test_delete_stage_of_another_tenant_is_404(owner_client, pipeline, other_pipeline):
    stage = other_pipeline.stages.first()

    response = owner_client.delete(f"/api/pipelines/stages/{stage.pk}")

    assert response.status_code == 404
    assert Stage.objects.filter(pk=stage.pk).exists()
