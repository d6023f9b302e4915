"""The back-office side of SPEC §12 «Won and lost»: stage outcomes in the pipeline's stage rows and the loss reason
on the lead page, both through the services the API uses."""

import pytest

from crm.tests.factories import TEST_PASSWORD
from pipelines.models import Lead, LeadHistory, LossReason, Stage


@pytest.fixture
def staff_client(client, owner):
    client.login(username="owner", password=TEST_PASSWORD)
    return client


@pytest.fixture
def reason(tenant, pipeline) -> LossReason:
    return LossReason.objects.get(tenant=tenant, name="Не дозвонились")


def _stage_row(stage: Stage, n: int, **changes) -> dict:
    row = {
        "id": stage.pk,
        "pipeline": stage.pipeline_id,
        "name": stage.name,
        "order_index": stage.order_index,
        "color": "",
        "outcome": stage.outcome or "",
    }
    if stage.is_closed:
        row["is_closed"] = "on"
    row |= changes
    return {f"stages-{n}-{name}": value for name, value in row.items() if value is not None}


def _pipeline_form(pipeline, stages, changes: dict[int, dict], extra: list[dict] = ()) -> dict:
    form = {"name": pipeline.name, "is_default": "on"}
    form |= {"stages-TOTAL_FORMS": len(stages) + len(extra), "stages-INITIAL_FORMS": len(stages)}
    for n, stage in enumerate(stages):
        form |= _stage_row(stage, n, **changes.get(n, {}))
    for n, row in enumerate(extra, start=len(stages)):
        form |= {f"stages-{n}-{name}": value for name, value in row.items()}
    return form


def _stages(pipeline) -> list[tuple]:
    return list(pipeline.stages.order_by("order_index").values_list("name", "is_closed", "outcome"))


def test_the_stage_rows_show_and_keep_the_outcomes(staff_client, pipeline, stages):
    page = staff_client.get(f"/admin/pipelines/pipeline/{pipeline.pk}/change/")
    assert page.status_code == 200
    assert 'name="stages-3-outcome"' in page.content.decode()

    response = staff_client.post(
        f"/admin/pipelines/pipeline/{pipeline.pk}/change/", _pipeline_form(pipeline, stages, {})
    )

    assert response.status_code == 302
    assert _stages(pipeline)[3:] == [("Успешно", True, "won"), ("Отказ", True, "lost")]


def test_giving_an_open_stage_an_outcome_closes_it(staff_client, pipeline, stages):
    form = _pipeline_form(pipeline, stages, {2: {"outcome": "won"}})

    response = staff_client.post(f"/admin/pipelines/pipeline/{pipeline.pk}/change/", form)

    assert response.status_code == 302
    assert _stages(pipeline)[2] == ("Переговоры", True, "won")


def test_a_new_lost_stage_row_is_created_closed(staff_client, pipeline, stages):
    extra = [{"id": "", "pipeline": pipeline.pk, "name": "Спам", "order_index": 9, "color": "", "outcome": "lost"}]

    response = staff_client.post(
        f"/admin/pipelines/pipeline/{pipeline.pk}/change/", _pipeline_form(pipeline, stages, {}, extra)
    )

    assert response.status_code == 302
    assert _stages(pipeline)[-1] == ("Спам", True, "lost")


def test_reopening_a_won_stage_shows_the_refusal_and_changes_nothing(staff_client, pipeline, stages):
    before = _stages(pipeline)
    form = _pipeline_form(pipeline, stages, {3: {"is_closed": None}})

    response = staff_client.post(f"/admin/pipelines/pipeline/{pipeline.pk}/change/", form)

    assert response.status_code == 200
    assert "Стадия с исходом «Успешно» или «Отказ» закрывающая: сначала уберите исход." in response.content.decode()
    assert _stages(pipeline) == before


def _lead_form(lead: Lead, **changes) -> dict:
    form = {
        "name": lead.name,
        "phone": lead.phone or "",
        "email": lead.email or "",
        "stage": lead.stage_id,
        "loss_reason": lead.loss_reason_id or "",
        "assigned_to": lead.assigned_to_id or "",
        "comment": lead.comment,
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "tasks-TOTAL_FORMS": "0",  # the tasks app's inline on the lead page
        "tasks-INITIAL_FORMS": "0",
    }
    return form | changes


def _lead_row(lead: Lead) -> tuple:
    return Lead.objects.filter(pk=lead.pk).values_list("stage_id", "loss_reason_id", "version").get()


def test_a_lead_moved_into_the_lost_stage_with_a_reason(staff_client, owner, make_lead, stages, reason):
    lead = make_lead()

    response = staff_client.post(
        f"/admin/pipelines/lead/{lead.pk}/change/", _lead_form(lead, stage=stages[4].pk, loss_reason=reason.pk)
    )

    assert response.status_code == 302
    assert _lead_row(lead)[:2] == (stages[4].pk, reason.pk)
    entry = LeadHistory.objects.get(lead=lead)
    assert (entry.kind, entry.user_id) == ("stage_changed", owner.pk)
    assert entry.text == "Стадия: «Новые» → «Отказ», причина отказа: «Не дозвонились»"


def test_moving_a_lost_lead_back_to_work_clears_its_reason(staff_client, make_lead, stages, reason):
    lead = make_lead(stage=stages[4], loss_reason=reason)

    response = staff_client.post(f"/admin/pipelines/lead/{lead.pk}/change/", _lead_form(lead, stage=stages[1].pk))

    assert response.status_code == 302
    assert _lead_row(lead)[:2] == (stages[1].pk, None)


def test_a_reason_on_an_open_stage_is_shown_on_its_field_and_nothing_changes(staff_client, make_lead, reason):
    lead = make_lead()
    before = _lead_row(lead)

    response = staff_client.post(f"/admin/pipelines/lead/{lead.pk}/change/", _lead_form(lead, loss_reason=reason.pk))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["loss_reason"] == [
        "Причина отказа указывается только при переводе в стадию отказа."
    ]
    assert _lead_row(lead) == before
    assert not LeadHistory.objects.filter(lead=lead).exists()


def test_a_foreign_reason_is_not_a_choice(staff_client, make_lead, stages, other_tenant, other_pipeline):
    lead = make_lead()
    foreign = LossReason.objects.get(tenant=other_tenant, name="Дорого")
    before = _lead_row(lead)

    response = staff_client.post(
        f"/admin/pipelines/lead/{lead.pk}/change/", _lead_form(lead, stage=stages[4].pk, loss_reason=foreign.pk)
    )

    assert response.status_code == 200
    assert "loss_reason" in response.context["adminform"].form.errors
    assert _lead_row(lead) == before


def test_the_add_form_has_no_loss_reason(staff_client, pipeline):
    page = staff_client.get("/admin/pipelines/lead/add/").content.decode()

    assert 'name="stage"' in page
    assert 'name="loss_reason"' not in page


def _bulk_move(client, leads, **choice):
    data = {"action": "move_leads_to_stage", "_selected_action": [lead.pk for lead in leads], "apply": "1", **choice}
    data = {name: value for name, value in data.items() if value is not None}
    return client.post("/admin/pipelines/lead/", data, follow=True)


def test_bulk_move_into_the_lost_stage_with_a_reason(staff_client, make_lead, stages, reason):
    leads = [make_lead(name="Первый"), make_lead(name="Второй")]

    done = _bulk_move(staff_client, leads, stage=stages[4].pk, loss_reason=reason.pk)

    assert [_lead_row(lead)[:2] for lead in leads] == [(stages[4].pk, reason.pk)] * 2
    assert all("«Не дозвонились»" in lead.history.get().text for lead in leads)
    assert "причина отказа «Не дозвонились»" in str(list(done.context["messages"])[-1])


def test_bulk_move_offers_only_the_tenants_active_reasons(
    staff_client, tenant, make_lead, other_tenant, other_pipeline, reason
):
    LossReason.objects.filter(tenant=tenant, name="Дорого").update(is_active=False)

    asked = _bulk_move(staff_client, [make_lead()], apply=None)

    offered = set(asked.context["form"].fields["loss_reason"].queryset.values_list("tenant_id", "name"))
    assert offered == {(tenant.pk, "Выбрали конкурента"), (tenant.pk, "Не дозвонились"), (tenant.pk, "Нет потребности")}


def test_bulk_move_refuses_a_reason_for_an_open_stage_and_moves_nothing(staff_client, make_lead, stages, reason):
    lead = make_lead()
    before = _lead_row(lead)

    refused = _bulk_move(staff_client, [lead], stage=stages[1].pk, loss_reason=reason.pk)

    assert refused.context["form"].errors["loss_reason"] == [
        "Причина отказа указывается только при переводе на стадию «Отказ»."
    ]
    assert _lead_row(lead) == before
