"""Lead export (streamed CSV/XLSX of the current changelist filter) and import (preview, duplicates, services)."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import AsyncClient
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from crm.exports import iter_chunks, safe_text
from crm.tests.factories import TEST_PASSWORD
from pipelines.models import HistoryKind, Lead, LeadHistory
from pipelines.tests.factories import LeadFactory

EXPORT = "admin:pipelines_lead_export"
IMPORT_URL = "/admin/pipelines/lead/import/"


@pytest.fixture
def staff(client, owner):
    client.login(username=owner.username, password=TEST_PASSWORD)
    return client


def content_of(response) -> bytes:
    return b"".join(response.streaming_content)


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_csv_export_is_excel_friendly_utf8_with_cyrillic(staff, make_lead, manager):
    make_lead(name="Юлия Ёлкина", phone="+79161230000", assigned_to=manager, comment="=HYPERLINK(1)")
    response = staff.get(reverse(EXPORT, args=["csv"]))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    header, row = csv_rows(content_of(response))
    assert header[:4] == ["ID", "Имя", "Телефон", "Email"]
    assert row[1] == "Юлия Ёлкина"
    assert row[2] == "+79161230000"
    assert row[header.index("Ответственный")] == manager.display_name
    assert row[header.index("Стадия")] == "Новые"
    # A formula would run in Excel: it is written as text.
    assert row[header.index("Комментарий")] == "'=HYPERLINK(1)"


def test_export_honours_the_changelist_filter_and_search(staff, make_lead, stages):
    make_lead(name="Сайт один", source="site")
    make_lead(name="Ватсап", source="whatsapp")
    make_lead(name="Сайт два", source="site", stage=stages[1])
    rows = csv_rows(content_of(staff.get(reverse(EXPORT, args=["csv"]) + "?source__exact=site")))
    assert sorted(row[1] for row in rows[1:]) == ["Сайт два", "Сайт один"]
    rows = csv_rows(content_of(staff.get(reverse(EXPORT, args=["csv"]) + "?source__exact=site&q=два")))
    assert [row[1] for row in rows[1:]] == ["Сайт два"]


def test_export_never_includes_another_tenants_leads(staff, make_lead, other_pipeline):
    make_lead(name="Свой")
    LeadFactory(stage=other_pipeline.stages.first(), name="Чужой")
    data = content_of(staff.get(reverse(EXPORT, args=["csv"])))
    assert "Свой".encode() in data
    assert "Чужой".encode() not in data


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("", ""),
        ("+79161234567", "+79161234567"),
        ("-12.5", "-12.5"),
        ("=1+1", "'=1+1"),
        ("-cmd", "'-cmd"),
        ("@A1", "'@A1"),
    ],
)
def test_formula_like_text_is_neutralised(value, written):
    assert safe_text(value) == written


def test_xlsx_export(staff, make_lead):
    make_lead(name="Фёдор")
    response = staff.get(reverse(EXPORT, args=["xlsx"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(content_of(response)), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("ID", "Имя")
    assert rows[1][1] == "Фёдор"


def test_unknown_format_is_404(staff):
    assert staff.get("/admin/pipelines/lead/export/pdf/").status_code == 404


def test_a_manager_exports_only_their_own_leads(client, manager, owner, make_lead):
    make_lead(name="Мой лид", assigned_to=manager)
    make_lead(name="Лид владельца", assigned_to=owner)
    client.login(username=manager.username, password=TEST_PASSWORD)

    exported = b"".join(client.get(reverse(EXPORT, args=["csv"])).streaming_content).decode("utf-8-sig")

    assert "Мой лид" in exported
    assert "Лид владельца" not in exported


def test_keyset_chunks_cover_every_row_once(make_lead):
    leads = [make_lead() for _ in range(7)]
    chunks = list(iter_chunks(Lead.objects.all(), size=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert sorted(lead.pk for chunk in chunks for lead in chunk) == sorted(lead.pk for lead in leads)


@pytest.mark.parametrize("rows", [10, 100])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_query_count_does_not_grow_with_rows(staff, stages, owner, rows, fmt, django_assert_max_num_queries):
    LeadFactory.create_batch(rows, stage=stages[0], assigned_to=owner)
    with django_assert_max_num_queries(12):
        content_of(staff.get(reverse(EXPORT, args=[fmt])))


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_body_is_streamed_asynchronously(owner, stages):
    from asgiref.sync import sync_to_async

    await sync_to_async(LeadFactory.create_batch)(3, stage=stages[0], name="Асинхронный")
    client = AsyncClient()
    await sync_to_async(client.force_login)(owner)
    response = await client.get(reverse(EXPORT, args=["csv"]))
    assert response.is_async
    data = b"".join([chunk async for chunk in response.streaming_content])
    assert data.decode("utf-8-sig").count("Асинхронный") == 3


def test_the_export_has_the_budget_as_a_number(staff, make_lead):
    make_lead(name="Первый", price=Decimal("1250000.50"))
    make_lead(name="Второй")

    csv_text = b"".join(staff.get(reverse(EXPORT, args=["csv"])).streaming_content)
    xlsx = b"".join(staff.get(reverse(EXPORT, args=["xlsx"])).streaming_content)

    header, *rows = [line.split(";") for line in csv_text.decode("utf-8-sig").splitlines()]
    column = header.index("Бюджет")
    assert {row[1]: row[column] for row in rows} == {"Первый": "1250000.5", "Второй": ""}
    sheet = load_workbook(io.BytesIO(xlsx)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    column = values[0].index("Бюджет")
    assert {row[1]: row[column] for row in values[1:]} == {"Первый": 1250000.5, "Второй": None}


# ---------------------------------------------------------------- import


def post_file(client, name: str, content: bytes):
    handle = io.BytesIO(content)
    handle.name = name
    return client.post(IMPORT_URL, {"file": handle})


CSV_TEXT = (
    "Имя;Телефон;Email;Источник;Стадия;Ответственный;Комментарий\r\n"
    "Иван Грозный;8 916 111-22-33;;Сайт;В работе;{manager};Перезвонить\r\n"
    "Пётр Первый;+7 916 444-55-66;;;;;\r\n"
    "Дубль Ивана;+79161112233;;;;;\r\n"
    "Без контактов;;;;;;\r\n"
    "Плохая стадия;+79167778899;;;Нет такой;;\r\n"
)


def test_import_preview_reports_each_row_and_stores_nothing(staff, pipeline, manager):
    response = post_file(staff, "leads.csv", CSV_TEXT.format(manager=manager.username).encode("utf-8-sig"))
    assert response.status_code == 200
    report = response.context["report"]
    assert [(o.line, o.status) for o in report.outcomes] == [
        (2, "new"),
        (3, "new"),
        (4, "duplicate"),
        (5, "error"),
        (6, "error"),
    ]
    assert "Иван Грозный" in report.outcomes[0].message
    assert "Нет такой" in report.outcomes[4].message
    assert Lead.objects.count() == 0
    assert "Импортировать 2 новые строки" in response.content.decode()


def test_confirmed_import_creates_leads_through_the_service(staff, pipeline, stages, manager, owner, events):
    preview = post_file(staff, "leads.csv", CSV_TEXT.format(manager=manager.username).encode("utf-8-sig"))
    with events.capture():
        response = staff.post(IMPORT_URL, {"token": preview.context["token"]})
    assert response.status_code == 200
    assert response.context["report"].created == 2
    ivan = Lead.objects.get(name="Иван Грозный")
    assert ivan.phone == "+79161112233"
    assert ivan.source == "site"
    assert ivan.stage_id == stages[1].pk
    assert ivan.assigned_to_id == manager.pk
    assert ivan.comment == "Перезвонить"
    assert LeadHistory.objects.get(lead=ivan, kind=HistoryKind.CREATED).user_id == owner.pk
    assert Lead.objects.get(name="Пётр Первый").stage_id == stages[0].pk
    assert Lead.objects.count() == 2
    assert sorted(e.event_type for e in events.sent) == ["lead_created", "lead_created"]
    # The same token cannot import twice.
    again = staff.post(IMPORT_URL, {"token": preview.context["token"]})
    assert again.status_code == 302
    assert Lead.objects.count() == 2


def test_reimporting_an_export_doubles_nothing(staff, pipeline, make_lead):
    make_lead(name="Анна Каренина", phone="+79160000011")
    make_lead(name="Без телефона", phone=None, email="anna@example.com")
    exported = content_of(staff.get(reverse(EXPORT, args=["csv"])))
    preview = post_file(staff, "export.csv", exported)
    assert [o.status for o in preview.context["report"].outcomes] == ["duplicate", "duplicate"]


def test_duplicates_inside_one_file_are_detected(staff, pipeline):
    text = "Имя;Телефон\r\nОдин;+79160000021\r\nДругой;8 (916) 000-00-21\r\n"
    preview = post_file(staff, "dups.csv", text.encode())
    assert [o.status for o in preview.context["report"].outcomes] == ["new", "duplicate"]


def test_windows_1251_csv_with_commas_is_read(staff, pipeline):
    text = "Имя,Телефон\r\nСветлана,+79160000031\r\n"
    preview = post_file(staff, "excel.csv", text.encode("cp1251"))
    assert preview.context["report"].outcomes[0].status == "new"
    staff.post(IMPORT_URL, {"token": preview.context["token"]})
    assert Lead.objects.get().name == "Светлана"


def test_xlsx_import(staff, pipeline):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Телефон", "Имя"])
    sheet.append(["+79160000041", "Ольга Ёжикова"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    preview = post_file(staff, "leads.xlsx", buffer.getvalue())
    assert preview.context["report"].created == 1
    staff.post(IMPORT_URL, {"token": preview.context["token"]})
    assert Lead.objects.get().name == "Ольга Ёжикова"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("leads.pdf", b"%PDF", "CSV или XLSX"),
        ("leads.csv", b"", "Отправленный файл пуст"),  # Django's own message, in the back-office's Russian
        ("leads.csv", b"\r\n;;\r\n", "пуст"),
        ("leads.csv", "Кличка;Порода\r\nБобик;дворняга\r\n".encode(), "Ни одна колонка"),
        ("leads.xlsx", b"not a zip", "XLSX"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(staff, pipeline, name, content, message):
    response = post_file(staff, name, content)
    assert response.status_code == 200
    assert message in str(response.context["form"].errors["file"])
    assert Lead.objects.count() == 0


def test_import_goes_into_the_staff_users_own_tenant(staff, pipeline, other_pipeline):
    preview = post_file(staff, "leads.csv", "Имя;Телефон\r\nСвой;+79160000051\r\n".encode())
    staff.post(IMPORT_URL, {"token": preview.context["token"]})
    assert Lead.objects.get().tenant_id == pipeline.tenant_id


def test_a_preview_of_another_session_cannot_be_confirmed(staff, client, pipeline, rop):
    preview = post_file(staff, "leads.csv", "Имя;Телефон\r\nСвой;+79160000061\r\n".encode())
    other = type(client)()
    other.login(username=rop.username, password=TEST_PASSWORD)
    assert other.post(IMPORT_URL, {"token": preview.context["token"]}).status_code == 302
    assert Lead.objects.count() == 0


def test_lead_changelist_links_export_with_the_filter_and_import(staff, pipeline):
    html = staff.get("/admin/pipelines/lead/?source__exact=site").content.decode()
    assert "/admin/pipelines/lead/export/csv/?source__exact=site" in html
    assert "/admin/pipelines/lead/export/xlsx/?source__exact=site" in html
    assert IMPORT_URL in html


def test_services_reject_a_bad_phone_row(staff, pipeline):
    preview = post_file(staff, "leads.csv", "Имя;Телефон\r\nКто-то;12\r\n".encode())
    outcome = preview.context["report"].outcomes[0]
    assert outcome.status == "error"
    assert "Телефон" in outcome.message
