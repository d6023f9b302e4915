"""The pipelines back-office: tenant-scoped lists, writes through the services."""

import pytest

from crm.tests.factories import TEST_PASSWORD, UserFactory
from pipelines.models import Lead, Pipeline, Stage
from pipelines.tests.factories import LeadFactory


@pytest.fixture
def staff_client(client, owner):
    client.login(username="owner", password=TEST_PASSWORD)
    return client


def test_pipeline_list_and_stages_inline_are_tenant_scoped(staff_client, pipeline, other_pipeline):
    other_pipeline.name = "Чужая воронка"
    other_pipeline.save()

    listing = staff_client.get("/admin/pipelines/pipeline/").content.decode()
    change = staff_client.get(f"/admin/pipelines/pipeline/{pipeline.pk}/change/")

    assert "Основная" in listing
    assert "Чужая воронка" not in listing
    assert change.status_code == 200
    assert change.content.decode().index("Новые") < change.content.decode().index("Отказ")
    assert staff_client.get(f"/admin/pipelines/pipeline/{other_pipeline.pk}/change/").status_code in (302, 404)


def test_lead_list_filters_and_search(
    staff_client, manager, stages, make_lead, other_pipeline, django_assert_max_num_queries
):
    for n in range(5):
        make_lead(name=f"Клиент {n}", assigned_to=manager)
    LeadFactory(stage=other_pipeline.stages.first(), name="Чужой лид")
    make_lead(name="На переговорах", stage=stages[2])

    with django_assert_max_num_queries(20):
        listing = staff_client.get("/admin/pipelines/lead/").content.decode()
    # Quoted, so "3" is not a term of its own that random factory phones also match.
    searched = staff_client.get('/admin/pipelines/lead/?q="Клиент 3"').content.decode()
    filtered = staff_client.get(f"/admin/pipelines/lead/?stage__id__exact={stages[2].pk}").content.decode()

    assert "Клиент 0" in listing
    assert "Чужой лид" not in listing
    assert "Клиент 3" in searched
    assert "Клиент 2" not in searched
    assert "Клиент 0" not in filtered
    assert "На переговорах" in filtered


def test_lead_change_page_shows_history(staff_client, owner, stages, make_lead):
    from pipelines import services

    lead = make_lead()
    services.lead_move_to_stage(lead=lead, stage=stages[1], acting_user=owner)

    page = staff_client.get(f"/admin/pipelines/lead/{lead.pk}/change/").content.decode()

    assert "Стадия: «Новые» → «В работе»" in page


def test_lead_edit_goes_through_the_services(staff_client, owner, stages, make_lead):
    lead = make_lead(name="Было")
    form = {
        "name": "Стало",
        "phone": lead.phone,
        "email": "",
        "stage": stages[2].pk,
        "assigned_to": "",
        "comment": "",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "tasks-TOTAL_FORMS": "0",  # the tasks app's inline on the lead page
        "tasks-INITIAL_FORMS": "0",
    }

    response = staff_client.post(f"/admin/pipelines/lead/{lead.pk}/change/", form)

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.name, lead.stage_id) == ("Стало", stages[2].pk)
    assert set(lead.history.values_list("kind", flat=True)) == {"updated", "stage_changed"}
    assert set(lead.history.values_list("user_id", flat=True)) == {owner.pk}


def test_lead_add_goes_through_the_service(staff_client, owner, stages):
    form = {
        "name": "Из админки",
        "phone": "8 916 000 11 22",
        "email": "",
        "source": "manual",
        "stage": stages[0].pk,
        "assigned_to": "",
        "comment": "",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "tasks-TOTAL_FORMS": "0",  # the tasks app's inline on the lead page
        "tasks-INITIAL_FORMS": "0",
    }

    response = staff_client.post("/admin/pipelines/lead/add/", form)

    assert response.status_code == 302
    lead = Lead.objects.get(name="Из админки")
    assert (lead.tenant_id, lead.phone) == (owner.tenant_id, "+79160001122")
    assert lead.history.get().kind == "created"


def test_pipeline_add_with_stages(staff_client, tenant, pipeline):
    form = {
        "name": "Партнёры",
        "is_default": "on",
        "stages-TOTAL_FORMS": "2",
        "stages-INITIAL_FORMS": "0",
        "stages-0-name": "Заявка",
        "stages-0-order_index": "0",
        "stages-0-color": "#00ff00",
        "stages-1-name": "Договор",
        "stages-1-order_index": "1",
        "stages-1-is_closed": "on",
    }

    response = staff_client.post("/admin/pipelines/pipeline/add/", form)

    assert response.status_code == 302
    created = Pipeline.objects.get(name="Партнёры")
    assert (created.tenant_id, created.is_default) == (tenant.pk, True)
    assert list(created.stages.order_by("order_index").values_list("name", "is_closed")) == [
        ("Заявка", False),
        ("Договор", True),
    ]
    pipeline.refresh_from_db()
    assert pipeline.is_default is False


def test_stage_inline_edit(staff_client, pipeline, stages):
    form = {"name": "Основная", "is_default": "on", "stages-TOTAL_FORMS": "5", "stages-INITIAL_FORMS": "5"}
    for n, stage in enumerate(stages):
        form |= {
            f"stages-{n}-id": stage.pk,
            f"stages-{n}-pipeline": pipeline.pk,
            f"stages-{n}-name": stage.name if n else "Входящие",
            f"stages-{n}-order_index": stage.order_index,
            f"stages-{n}-color": "",
            f"stages-{n}-outcome": stage.outcome or "",
        }
        if stage.is_closed:
            form[f"stages-{n}-is_closed"] = "on"

    response = staff_client.post(f"/admin/pipelines/pipeline/{pipeline.pk}/change/", form)

    assert response.status_code == 302
    assert Stage.objects.get(pk=stages[0].pk).name == "Входящие"
    assert list(pipeline.stages.order_by("order_index").values_list("outcome", flat=True)) == [
        None,
        None,
        None,
        "won",
        "lost",
    ]


def test_a_manager_lists_only_their_own_leads_and_no_pipeline_settings(client, manager, owner, make_lead, pipeline):
    mine = make_lead(name="Мой лид", assigned_to=manager)
    make_lead(name="Лид владельца", assigned_to=owner)
    make_lead(name="Ничей лид")
    client.login(username="manager", password=TEST_PASSWORD)

    listing = client.get("/admin/pipelines/lead/")

    assert [lead.pk for lead in listing.context["cl"].result_list] == [mine.pk]
    assert client.get("/admin/pipelines/pipeline/").status_code == 403
    assert client.get(f"/admin/pipelines/pipeline/{pipeline.pk}/change/").status_code == 403


def test_superuser_sees_every_tenant(client, pipeline, other_pipeline):
    UserFactory(tenant=None, username="root", is_superuser=True, is_staff=True)
    client.login(username="root", password=TEST_PASSWORD)

    content = client.get("/admin/pipelines/pipeline/").content.decode()

    assert content.count("Основная") >= 2


def _stage_rows(pipeline) -> list[tuple]:
    return list(Stage.objects.order_by("pk").values_list("pk", "pipeline_id", "tenant_id", "name", "order_index"))


def _pipeline_form(pipeline, forms: list[dict], initial: int) -> dict:
    form = {"name": pipeline.name, "is_default": "on", "stages-TOTAL_FORMS": len(forms)}
    form["stages-INITIAL_FORMS"] = initial
    for n, row in enumerate(forms):
        form |= {f"stages-{n}-{name}": value for name, value in row.items()}
    return form


@pytest.mark.parametrize("delete", [False, True], ids=["edit", "delete"])
@pytest.mark.parametrize("forged", ["foreign", "other_pipeline_of_own_tenant", "missing", "absent"])
def test_a_forged_stage_inline_id_creates_and_changes_nothing(
    staff_client, tenant, pipeline, other_pipeline, forged, delete
):
    second = Pipeline.objects.create(tenant=tenant, name="Вторая")
    own_other = Stage.objects.create(tenant=tenant, pipeline=second, name="Чужая для формы", order_index=0)
    forged_id = {
        "foreign": other_pipeline.stages.first().pk,
        "other_pipeline_of_own_tenant": own_other.pk,
        "missing": 10**9,
        "absent": "",
    }[forged]
    row = {"id": forged_id, "pipeline": pipeline.pk, "name": "Подделка", "order_index": 7, "color": ""}
    row |= {"DELETE": "on"} if delete else {}
    before = _stage_rows(pipeline)

    # The forged row posted as an existing ("initial") row of this pipeline's stage inline.
    response = staff_client.post(f"/admin/pipelines/pipeline/{pipeline.pk}/change/", _pipeline_form(pipeline, [row], 1))

    assert response.status_code == 200  # the form again, with the row's error
    assert response.context["inline_admin_formsets"][0].formset.errors[0]["id"]
    assert "Globex" not in response.content.decode()
    assert _stage_rows(pipeline) == before


def test_a_new_stage_row_is_created_and_an_own_row_changed(staff_client, pipeline, stages):
    rows = [{"id": stages[0].pk, "pipeline": pipeline.pk, "name": "Входящие", "order_index": 0, "color": ""}]
    rows.append({"id": "", "pipeline": pipeline.pk, "name": "Новая", "order_index": 9, "color": ""})

    response = staff_client.post(f"/admin/pipelines/pipeline/{pipeline.pk}/change/", _pipeline_form(pipeline, rows, 1))

    assert response.status_code == 302
    assert Stage.objects.get(pk=stages[0].pk).name == "Входящие"
    assert pipeline.stages.filter(name="Новая").count() == 1


def _exported_ids(response) -> list[str]:
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    return [line.split(";")[0] for line in lines[1:]]


def test_a_filter_with_nothing_to_show_still_applies(staff_client, make_lead, stages, other_pipeline):
    """One stage in use: Django hid the stage filter and dropped `?stage__id__exact`, listing everything."""
    make_lead(name="Первый")
    make_lead(name="Второй")
    foreign_stage = other_pipeline.stages.first().pk

    for stage_id in (stages[3].pk, foreign_stage):
        listing = staff_client.get("/admin/pipelines/lead/", {"stage__id__exact": stage_id})
        assert listing.status_code == 200
        assert list(listing.context["cl"].result_list) == []
        assert (
            _exported_ids(staff_client.get("/admin/pipelines/lead/export/csv/", {"stage__id__exact": stage_id})) == []
        )
    assert len(_exported_ids(staff_client.get("/admin/pipelines/lead/export/csv/"))) == 2


@pytest.mark.parametrize(
    "params",
    [{"pipeline__name": "Основная"}, {"tenant__id__exact": "1"}, {"stage__id__exact": "abc"}, {"nonsense": "1"}],
)
def test_an_unknown_or_bad_filter_is_a_400(staff_client, make_lead, params):
    make_lead(name="Первый")

    listing = staff_client.get("/admin/pipelines/lead/", params)
    export = staff_client.get("/admin/pipelines/lead/export/csv/", params)

    assert listing.status_code == 400
    assert "фильтр" in listing.content.decode()
    assert export.status_code == 400


def test_the_stage_select_groups_stages_by_pipeline_and_starts_in_the_default(staff_client, tenant, stages):
    from pipelines import services

    second = services.pipeline_create(tenant=tenant, name="Вторичка")
    services.stage_create(pipeline=second, name="Звонок")

    page = staff_client.get("/admin/pipelines/lead/add/")

    widget = str(page.context["adminform"].form["stage"])
    assert widget.index('<optgroup label="Основная">') < widget.index('<optgroup label="Вторичка">')
    assert widget.index("Новые") < widget.index("Отказ") < widget.index("Звонок")
    assert f'<option value="{stages[0].pk}" selected>Новые</option>' in widget


def _bulk(client, action, leads, **choice):
    data = {"action": action, "_selected_action": [lead.pk for lead in leads], **choice}
    return client.post("/admin/pipelines/lead/", data, follow=bool(choice))


def test_bulk_assign_asks_for_the_assignee_then_assigns_through_the_service(staff_client, owner, manager, make_lead):
    leads = [make_lead(name="Первый"), make_lead(name="Второй")]
    untouched = make_lead(name="Третий")

    asked = _bulk(staff_client, "assign_leads", leads)
    done = _bulk(staff_client, "assign_leads", leads, apply="1", assignee=manager.pk)

    assert asked.status_code == 200
    assert "Первый" in asked.content.decode()
    assert manager.pk in {user.pk for user in asked.context["form"].fields["assignee"].queryset}
    assert set(Lead.objects.filter(assigned_to=manager).values_list("name", flat=True)) == {"Первый", "Второй"}
    assert Lead.objects.get(pk=untouched.pk).assigned_to is None
    assert [lead.history.filter(user=owner).exists() for lead in leads] == [True, True]
    assert str(list(done.context["messages"])[-1]).startswith(f"Ответственный «{manager}»: «")


def test_bulk_move_goes_through_the_service_and_refuses_a_foreign_stage(
    staff_client, make_lead, stages, other_pipeline
):
    leads = [make_lead(name="Первый"), make_lead(name="Второй")]
    foreign_stage = other_pipeline.stages.first()

    refused = _bulk(staff_client, "move_leads_to_stage", leads, apply="1", stage=foreign_stage.pk)
    assert refused.context["form"].errors["stage"]
    assert set(Lead.objects.values_list("stage_id", flat=True)) == {stages[0].pk}

    _bulk(staff_client, "move_leads_to_stage", leads, apply="1", stage=stages[2].pk)
    assert set(Lead.objects.values_list("stage_id", flat=True)) == {stages[2].pk}
    assert all(lead.history.filter(kind="stage_changed").exists() for lead in leads)


def test_managers_are_not_offered_bulk_assignment(client, manager, make_lead):
    lead = make_lead(assigned_to=manager)
    client.force_login(manager)

    listing = client.get("/admin/pipelines/lead/")
    posted = _bulk(client, "assign_leads", [lead], apply="1", assignee=manager.pk)

    choices = [name for name, _ in listing.context["action_form"].fields["action"].choices]
    assert "move_leads_to_stage" in choices
    assert "assign_leads" not in choices
    assert posted.status_code == 200
    assert Lead.objects.get(pk=lead.pk).assigned_to == manager
