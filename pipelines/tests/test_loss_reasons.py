"""SPEC §12 «Won and lost»: the default outcomes and loss reasons, and `/api/loss-reasons`."""

import importlib

import pytest
from django.apps import apps

from crm.services import tenant_create
from pipelines.models import LossReason, Pipeline, Stage
from pipelines.tests.factories import PipelineFactory, StageFactory

DEFAULT_REASONS = ["Дорого", "Выбрали конкурента", "Не дозвонились", "Нет потребности"]
SUPERVISORS = ["owner", "rop", "admin_user"]
URL = "/api/loss-reasons"


def _names(tenant) -> list[str]:
    return list(LossReason.objects.filter(tenant=tenant).order_by("id").values_list("name", flat=True))


def _rows() -> list[dict]:
    return list(LossReason.objects.order_by("id").values())


def _assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code
    if field is not None:
        assert field in body["details"], body
    return body


# ---------------------------------------------------------------- defaults


@pytest.mark.django_db
def test_a_new_tenant_gets_the_default_reasons_and_a_won_and_a_lost_stage():
    tenant = tenant_create(name="Initech", slug="initech")

    assert _names(tenant) == DEFAULT_REASONS
    assert all(LossReason.objects.filter(tenant=tenant).values_list("is_active", flat=True))
    pipeline = Pipeline.objects.get(tenant=tenant, is_default=True)
    stages = list(pipeline.stages.order_by("order_index").values_list("name", "is_closed", "outcome"))
    assert stages == [
        ("Новые", False, None),
        ("В работе", False, None),
        ("Переговоры", False, None),
        ("Успешно", True, "won"),
        ("Отказ", True, "lost"),
    ]


def test_each_tenant_has_its_own_defaults(tenant, other_tenant, pipeline, other_pipeline):
    assert _names(tenant) == DEFAULT_REASONS
    assert _names(other_tenant) == DEFAULT_REASONS
    assert LossReason.objects.count() == 8


def test_ensuring_the_default_pipeline_again_adds_nothing(tenant, pipeline):
    from pipelines.services import default_pipeline_ensure

    again, created = default_pipeline_ensure(tenant=tenant)

    assert (again, created) == (pipeline, False)
    assert _names(tenant) == DEFAULT_REASONS


def _migration():
    return importlib.import_module("pipelines.migrations.0007_default_outcomes_and_loss_reasons")


def test_the_migration_sets_outcomes_on_existing_default_pipelines_and_adds_missing_reasons(tenant, other_tenant):
    default = PipelineFactory(tenant=tenant, name="Основная", is_default=True)
    won = StageFactory(pipeline=default, name="Успешно", order_index=3, is_closed=True)
    lost = StageFactory(pipeline=default, name="Отказ", order_index=4, is_closed=True)
    reopened = PipelineFactory(tenant=other_tenant, name="Основная", is_default=True)
    reopened_won = StageFactory(pipeline=reopened, name="Успешно", order_index=3, is_closed=False)
    other = PipelineFactory(tenant=tenant, name="Вторая", is_default=False)
    other_won = StageFactory(pipeline=other, name="Успешно", order_index=3, is_closed=True)
    LossReason.objects.create(tenant=tenant, name="Дорого", is_active=False)
    LossReason.objects.create(tenant=tenant, name="Своя причина")

    _migration().forwards(apps, None)

    assert Stage.objects.get(pk=won.pk).outcome == "won"
    assert Stage.objects.get(pk=lost.pk).outcome == "lost"
    # An open stage cannot carry an outcome; a stage of another pipeline is not the default's.
    assert Stage.objects.get(pk=reopened_won.pk).outcome is None
    assert Stage.objects.get(pk=other_won.pk).outcome is None
    assert sorted(_names(tenant)) == sorted([*DEFAULT_REASONS, "Своя причина"])
    assert LossReason.objects.get(tenant=tenant, name="Дорого").is_active is False
    assert _names(other_tenant) == DEFAULT_REASONS

    before = _rows()
    _migration().forwards(apps, None)
    assert _rows() == before


def test_the_migration_carries_the_services_defaults():
    from pipelines.services import DEFAULT_LOSS_REASONS, DEFAULT_STAGES

    migration = _migration()
    assert list(migration.DEFAULT_LOSS_REASONS) == list(DEFAULT_LOSS_REASONS)
    assert {name: outcome for name, _, outcome in DEFAULT_STAGES if outcome} == migration.DEFAULT_OUTCOMES


# ---------------------------------------------------------------- GET


@pytest.mark.parametrize("role", [*SUPERVISORS, "manager"])
def test_every_role_lists_the_tenant_reasons_by_id(request, api_client, role, tenant, pipeline, other_pipeline):
    user = request.getfixturevalue(role)
    extra = LossReason.objects.create(tenant=tenant, name="Ушёл молча", is_active=False)

    response = api_client(user).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"loss_reasons", "total"}
    assert body["total"] == 5
    assert [row["name"] for row in body["loss_reasons"]] == [*DEFAULT_REASONS, "Ушёл молча"]
    ids = [row["id"] for row in body["loss_reasons"]]
    assert ids == sorted(ids)
    assert set(ids) == set(LossReason.objects.filter(tenant=tenant).values_list("id", flat=True))
    assert body["loss_reasons"][-1] == {"id": extra.pk, "name": "Ушёл молча", "is_active": False}
    assert all(set(row) == {"id", "name", "is_active"} for row in body["loss_reasons"])


def test_the_list_is_empty_for_a_tenant_without_reasons(owner_client):
    assert owner_client.get(URL).json() == {"loss_reasons": [], "total": 0}


def test_the_list_reads_in_a_fixed_number_of_queries(owner_client, tenant, django_assert_max_num_queries):
    for index in range(3):
        LossReason.objects.create(tenant=tenant, name=f"Причина {index}")
    owner_client.get(URL)  # warm the token and tenant caches, if any
    with django_assert_max_num_queries(4) as few:
        owner_client.get(URL)
    for index in range(3, 20):
        LossReason.objects.create(tenant=tenant, name=f"Причина {index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = owner_client.get(URL)
    assert response.json()["total"] == 20


def test_anonymous_is_401(api_client):
    _assert_error(api_client(None).get(URL), 401, "unauthorized")


# ---------------------------------------------------------------- POST


@pytest.mark.parametrize("role", SUPERVISORS)
def test_supervisors_add_a_reason(request, api_client, role, tenant):
    user = request.getfixturevalue(role)

    response = api_client(user).post(URL, {"name": "Купил у нас раньше"}, format="json")

    assert response.status_code == 201
    reason = LossReason.objects.get(tenant=tenant, name="Купил у нас раньше")
    assert response.json() == {"id": reason.pk, "name": "Купил у нас раньше", "is_active": True}


def test_a_reason_may_be_created_inactive(owner_client, tenant):
    response = owner_client.post(URL, {"name": "Архив", "is_active": False}, format="json")

    assert response.status_code == 201
    assert response.json()["is_active"] is False
    assert LossReason.objects.get(tenant=tenant, name="Архив").is_active is False


def test_the_name_is_trimmed(owner_client, tenant):
    response = owner_client.post(URL, {"name": "  Дорого для нас  "}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == "Дорого для нас"


def test_a_manager_may_not_add_a_reason(manager_client, tenant):
    _assert_error(manager_client.post(URL, {"name": "Моя причина"}, format="json"), 403, "forbidden")
    assert LossReason.objects.count() == 0


def test_a_duplicate_name_is_a_validation_error(owner_client, tenant, pipeline):
    before = _rows()

    _assert_error(owner_client.post(URL, {"name": "Дорого"}, format="json"), 400, "validation_error", "name")

    assert _rows() == before


def test_another_tenant_may_use_the_same_name(api_client, foreign_owner, other_tenant, tenant, pipeline):
    response = api_client(foreign_owner).post(URL, {"name": "Дорого"}, format="json")

    assert response.status_code == 201
    assert _names(other_tenant) == ["Дорого"]
    assert _names(tenant) == DEFAULT_REASONS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": ["Дорого"]}, "name"),
        ({"name": {"ru": "Дорого"}}, "name"),
        ({"name": "Ок", "is_active": "maybe"}, "is_active"),
        ({"name": "Ок", "is_active": None}, "is_active"),
    ],
)
def test_bad_create_bodies_are_400_and_change_nothing(owner_client, tenant, pipeline, body, field):
    before = _rows()

    _assert_error(owner_client.post(URL, body, format="json"), 400, "validation_error", field)

    assert _rows() == before


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'"name"', b"{"])
def test_malformed_json_is_400(owner_client, tenant, raw):
    response = owner_client.generic("POST", URL, raw, content_type="application/json")

    assert response.status_code == 400, response.content[:500]
    assert set(response.json()) == {"error", "message", "details"}
    assert LossReason.objects.count() == 0


def test_a_name_of_255_characters_is_accepted(owner_client, tenant):
    response = owner_client.post(URL, {"name": "я" * 255}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == "я" * 255


# ---------------------------------------------------------------- PATCH


@pytest.mark.parametrize("role", SUPERVISORS)
def test_supervisors_rename_and_deactivate_a_reason(request, api_client, role, tenant, pipeline):
    user = request.getfixturevalue(role)
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")

    response = api_client(user).patch(f"{URL}/{reason.pk}", {"name": "Слишком дорого"}, format="json")

    assert response.status_code == 200
    assert response.json() == {"id": reason.pk, "name": "Слишком дорого", "is_active": True}

    response = api_client(user).patch(f"{URL}/{reason.pk}", {"is_active": False}, format="json")

    assert response.status_code == 200
    assert response.json() == {"id": reason.pk, "name": "Слишком дорого", "is_active": False}
    reason.refresh_from_db()
    assert (reason.name, reason.is_active) == ("Слишком дорого", False)


def test_an_empty_patch_changes_nothing(owner_client, tenant, pipeline):
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")

    response = owner_client.patch(f"{URL}/{reason.pk}", {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"id": reason.pk, "name": "Дорого", "is_active": True}


def test_keeping_its_own_name_is_not_a_duplicate(owner_client, tenant, pipeline):
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")

    response = owner_client.patch(f"{URL}/{reason.pk}", {"name": "Дорого", "is_active": False}, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is False


def test_a_manager_may_not_change_a_reason(manager_client, tenant, pipeline):
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")
    before = _rows()

    _assert_error(manager_client.patch(f"{URL}/{reason.pk}", {"name": "Иное"}, format="json"), 403, "forbidden")

    assert _rows() == before


def test_another_tenants_reason_is_404(api_client, owner, rop, admin_user, manager, other_tenant, other_pipeline):
    foreign = LossReason.objects.get(tenant=other_tenant, name="Дорого")
    before = _rows()

    for user in (owner, rop, admin_user):
        _assert_error(api_client(user).patch(f"{URL}/{foreign.pk}", {"name": "Моё"}, format="json"), 404, "not_found")
    # The role is refused before any row is looked up, as on the other supervisors' actions.
    _assert_error(api_client(manager).patch(f"{URL}/{foreign.pk}", {"name": "Моё"}, format="json"), 403, "forbidden")

    assert _rows() == before


@pytest.mark.parametrize("pk", ["0", "999999", "9223372036854775808", "abc", "9" * 30])
def test_an_unknown_id_is_404(owner_client, tenant, pk):
    _assert_error(owner_client.patch(f"{URL}/{pk}", {"name": "Моё"}, format="json"), 404, "not_found")


def test_renaming_to_another_reasons_name_is_a_validation_error(owner_client, tenant, pipeline):
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")
    before = _rows()

    response = owner_client.patch(f"{URL}/{reason.pk}", {"name": "Нет потребности"}, format="json")

    _assert_error(response, 400, "validation_error", "name")
    assert _rows() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "  "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": 5, "is_active": "sometimes"}, "is_active"),
        ({"is_active": None}, "is_active"),
        ({"is_active": [True]}, "is_active"),
    ],
)
def test_bad_patch_bodies_are_400_and_change_nothing(owner_client, tenant, pipeline, body, field):
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")
    before = _rows()

    _assert_error(owner_client.patch(f"{URL}/{reason.pk}", body, format="json"), 400, "validation_error", field)

    assert _rows() == before


def test_delete_is_not_offered(owner_client, tenant, pipeline):
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")

    response = owner_client.delete(f"{URL}/{reason.pk}")

    assert response.status_code == 405
    assert LossReason.objects.filter(pk=reason.pk).exists()


# ---------------------------------------------------------------- back-office

ADMIN = "/admin/pipelines/lossreason/"


@pytest.fixture
def staff_client(client, owner):
    client.force_login(owner)
    return client


def test_the_back_office_lists_only_the_tenants_reasons(staff_client, tenant, other_tenant):
    LossReason.objects.create(tenant=tenant, name="Своя причина")
    foreign = LossReason.objects.create(tenant=other_tenant, name="Чужая причина")

    listing = staff_client.get(ADMIN)

    assert listing.status_code == 200
    assert "Своя причина" in listing.content.decode()
    assert "Чужая причина" not in listing.content.decode()
    assert staff_client.get(f"{ADMIN}{foreign.pk}/change/").status_code in (302, 404)


def test_the_back_office_adds_a_reason_to_the_staff_users_tenant(staff_client, tenant):
    response = staff_client.post(f"{ADMIN}add/", {"name": "Передумал", "is_active": "on"})

    assert response.status_code == 302, response.content.decode()[:2000]
    reason = LossReason.objects.get(name="Передумал")
    assert (reason.tenant_id, reason.is_active) == (tenant.pk, True)


def test_the_back_office_refuses_a_duplicate_name_and_stores_nothing(staff_client, tenant, pipeline):
    before = _rows()

    response = staff_client.post(f"{ADMIN}add/", {"name": "Дорого", "is_active": "on"})

    assert response.status_code == 200
    assert "Причина отказа с таким названием уже есть." in response.content.decode()
    assert _rows() == before


def test_the_back_office_renames_and_deactivates(staff_client, tenant, pipeline):
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")

    response = staff_client.post(f"{ADMIN}{reason.pk}/change/", {"name": "Очень дорого"})

    assert response.status_code == 302, response.content.decode()[:2000]
    reason.refresh_from_db()
    assert (reason.name, reason.is_active) == ("Очень дорого", False)


def test_the_back_office_does_not_delete_reasons(staff_client, tenant, pipeline):
    reason = LossReason.objects.get(tenant=tenant, name="Дорого")

    assert staff_client.post(f"{ADMIN}{reason.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LossReason.objects.filter(pk=reason.pk).exists()
