"""The lead's budget in the back-office (SPEC §12 «Budget»): the lead form, the list, the export and the import."""

import io
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.tests.factories import TEST_PASSWORD
from pipelines.models import HistoryKind, Lead

THIN, NBSP = "\u202f", "\u00a0"
IMPORT_URL = "/admin/pipelines/lead/import/"


@pytest.fixture
def staff(client, owner):
    client.login(username=owner.username, password=TEST_PASSWORD)
    return client


def _lead_form(lead, stage, **changes) -> dict:
    form = {
        "name": lead.name,
        "phone": lead.phone or "",
        "email": lead.email or "",
        "stage": stage.pk,
        "assigned_to": "",
        "price": "" if lead.price is None else str(lead.price),
        "comment": lead.comment,
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "tasks-TOTAL_FORMS": "0",
        "tasks-INITIAL_FORMS": "0",
    }
    return {**form, **changes}


def test_the_lead_form_sets_the_budget_through_the_service(staff, owner, stages, make_lead):
    lead = make_lead()

    response = staff.post(f"/admin/pipelines/lead/{lead.pk}/change/", _lead_form(lead, stages[0], price="1250000.5"))

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.price == Decimal("1250000.50")
    entry = lead.history.get()
    assert (entry.kind, entry.user_id) == (HistoryKind.UPDATED, owner.pk)
    assert entry.text == f"Изменено — бюджет: 1{THIN}250{THIN}000,50{NBSP}₽"


def test_a_new_lead_gets_its_budget(staff, stages):
    form = {
        "name": "С бюджетом",
        "phone": "+79160001122",
        "email": "",
        "source": "manual",
        "stage": stages[0].pk,
        "assigned_to": "",
        "price": "300",
        "comment": "",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "tasks-TOTAL_FORMS": "0",
        "tasks-INITIAL_FORMS": "0",
    }

    assert staff.post("/admin/pipelines/lead/add/", form).status_code == 302
    assert Lead.objects.get(name="С бюджетом").price == Decimal("300.00")


@pytest.mark.parametrize("price", ["-1", "abc", "1.001", "1000000000000"])
def test_a_bad_budget_is_a_form_error_and_changes_nothing(staff, stages, make_lead, price):
    lead = make_lead(price=Decimal("5.00"))

    response = staff.post(f"/admin/pipelines/lead/{lead.pk}/change/", _lead_form(lead, stages[0], price=price))

    assert response.status_code == 200
    assert "price" in response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.price == Decimal("5.00")
    assert not lead.history.exists()


def test_the_lead_list_shows_the_budget_as_money(staff, make_lead):
    make_lead(price=Decimal("125000.5"))

    html = staff.get("/admin/pipelines/lead/").content.decode()

    assert f"125{THIN}000,50{NBSP}₽" in html


def _post_csv(client, text: str):
    handle = io.BytesIO(text.encode("utf-8-sig"))
    handle.name = "leads.csv"
    return client.post(IMPORT_URL, {"file": handle})


def test_the_import_reads_budgets_written_as_people_write_them(staff, pipeline):
    text = (
        "Имя;Телефон;Бюджет\r\n"
        "Один;+79160000001;1 250 000,50 ₽\r\n"
        "Два;+79160000002;1250000.5\r\n"
        "Три;+79160000003;\r\n"
        f"Четыре;+79160000004;3{NBSP}000 руб.\r\n"
    )
    preview = _post_csv(staff, text)
    assert [outcome.status for outcome in preview.context["report"].outcomes] == ["new"] * 4

    staff.post(IMPORT_URL, {"token": preview.context["token"]})

    assert dict(Lead.objects.values_list("name", "price")) == {
        "Один": Decimal("1250000.50"),
        "Два": Decimal("1250000.50"),
        "Три": None,
        "Четыре": Decimal("3000.00"),
    }


def test_the_import_refuses_a_bad_budget_naming_the_column(staff, pipeline):
    text = (
        "Имя;Телефон;Бюджет\r\n"
        "Минус;+79160000001;-5\r\n"
        "Много знаков;+79160000002;1,005\r\n"
        "Слово;+79160000003;дорого\r\n"
    )

    report = _post_csv(staff, text).context["report"]

    assert [outcome.status for outcome in report.outcomes] == ["error"] * 3
    assert all("Бюджет" in outcome.message for outcome in report.outcomes)
    assert not Lead.objects.exists()


def test_an_exported_budget_imports_back(staff, make_lead, pipeline):
    make_lead(name="Туда и обратно", phone="+79160000009", price=Decimal("99.90"))
    exported = b"".join(staff.get(reverse("admin:pipelines_lead_export", args=["csv"])).streaming_content)
    Lead.objects.all().delete()

    preview = _post_csv(staff, exported.decode("utf-8-sig"))
    staff.post(IMPORT_URL, {"token": preview.context["token"]})

    assert Lead.objects.get(name="Туда и обратно").price == Decimal("99.90")
