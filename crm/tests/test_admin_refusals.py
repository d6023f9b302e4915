"""A service's refusal in the back-office (issue 17): the form again, the error on its field, the input kept.

A save the service refuses must look like any invalid input: no green «…изменен(а) успешно», no entry in the
object's history, nothing stored; an action says per row what it did and why a row was refused, in Russian.
"""

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client as BrowserClient

from deals.models import Deal
from deals.tests.factories import ClientFactory, DealFactory
from pipelines.models import Lead, Stage
from pipelines.services import default_pipeline_ensure, lead_create

pytestmark = pytest.mark.django_db

INLINES = {"history-TOTAL_FORMS": "0", "history-INITIAL_FORMS": "0", "tasks-TOTAL_FORMS": "0"}
INLINES |= {"tasks-INITIAL_FORMS": "0"}


@pytest.fixture
def browser(owner):
    browser = BrowserClient()
    browser.force_login(owner)
    return browser


def _shown(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _lead_form(lead, **changes) -> dict:
    form = {"name": lead.name, "phone": lead.phone or "", "email": lead.email or "", "stage": lead.stage_id}
    return {**form, "assigned_to": "", "comment": "", **INLINES, **changes}


def test_a_refused_lead_change_is_a_field_error_with_the_input_kept(browser, tenant):
    lead = lead_create(tenant=tenant, name="Было", phone="+79160000001", email="")
    before = Lead.objects.filter(pk=lead.pk).values().get()

    response = browser.post(
        f"/admin/pipelines/lead/{lead.pk}/change/", _lead_form(lead, name="Стало", phone="12", comment="Перезвонить")
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    # The API's `details` message for the phone, in Russian, on the phone field.
    assert form.errors == {"phone": ["«12» — невозможный номер телефона."]}
    assert (form["name"].value(), form["phone"].value(), form["comment"].value()) == ("Стало", "12", "Перезвонить")
    assert _shown(response) == []
    assert "успешно" not in response.content.decode()
    assert Lead.objects.filter(pk=lead.pk).values().get() == before
    assert not LogEntry.objects.exists()


def test_a_refused_lead_add_stores_nothing(browser, tenant):
    pipeline, _ = default_pipeline_ensure(tenant=tenant)
    stage = pipeline.stages.order_by("order_index").first()
    form = {"name": "Новый", "phone": "12", "email": "", "source": "manual", "stage": stage.pk}

    response = browser.post("/admin/pipelines/lead/add/", {**form, "assigned_to": "", "comment": "", **INLINES})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"phone": ["«12» — невозможный номер телефона."]}
    assert response.context["adminform"].form["name"].value() == "Новый"
    assert not Lead.objects.exists()
    assert not LogEntry.objects.exists()


def test_a_refused_pipeline_change_keeps_the_stages_unchanged_too(browser, tenant):
    pipeline, _ = default_pipeline_ensure(tenant=tenant)
    stages = list(pipeline.stages.order_by("order_index"))
    form = {"name": pipeline.name, "is_default": ""}  # the only pipeline may not stop being the default
    form |= {"stages-TOTAL_FORMS": str(len(stages)), "stages-INITIAL_FORMS": str(len(stages))}
    for index, stage in enumerate(stages):
        row = {"id": stage.pk, "pipeline": pipeline.pk, "name": stage.name, "order_index": stage.order_index}
        row |= {"color": stage.color or "", "is_closed": "on" if stage.is_closed else ""}
        form |= {f"stages-{index}-{name}": value for name, value in row.items()}
    form["stages-0-name"] = "Переименована"
    before = list(Stage.objects.order_by("pk").values())

    response = browser.post(f"/admin/pipelines/pipeline/{pipeline.pk}/change/", form)

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors == {"is_default": ["Вместо этого сделайте основной другую воронку."]}
    assert response.context["inline_admin_formsets"][0].formset.forms[0]["name"].value() == "Переименована"
    assert list(Stage.objects.order_by("pk").values()) == before
    assert not LogEntry.objects.exists()


def test_a_status_action_reports_each_row_in_russian(browser, tenant, owner):
    ready = DealFactory(tenant=tenant, sales_agent=owner, title="Готовая", status="issuing")
    unconfirmed_client = ClientFactory(tenant=tenant, status="potential", full_name="ООО Новички")
    waiting = DealFactory(
        tenant=tenant, client=unconfirmed_client, sales_agent=owner, title="Ждёт клиента", status="issuing"
    )
    draft = DealFactory(tenant=tenant, sales_agent=owner, title="Черновая")

    response = browser.post(
        "/admin/deals/deal/",
        {"action": "move_to_active", "_selected_action": [str(ready.pk), str(waiting.pk), str(draft.pk)]},
        follow=True,
    )

    shown = _shown(response)
    assert shown[-1] == "Переведены в статус «Действует»: «Готовая»."
    assert any(line.startswith("«Ждёт клиента»: Клиент «ООО Новички» не подтверждён") for line in shown)
    assert "«Черновая»: из статуса «Черновик» нельзя перейти в «Действует» (можно: «Расчёт», «Закрыта»)." in shown
    assert not any(" из " in line and line[0].isdigit() for line in shown)  # no «0 из 1»
    stored = dict(Deal.objects.values_list("title", "status"))
    assert stored == {"Готовая": "active", "Ждёт клиента": "issuing", "Черновая": "draft"}
