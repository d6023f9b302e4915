"""The back-office's own messages (issue 17): the deal page's status and journal outcomes and the import's report
read in Russian by default and in English when the browser asks, with proper plurals in both."""

import io

import pytest
from django.test import Client
from django.utils import translation

from crm.imports import ImportFileError, read_table
from deals.tests.factories import ClientFactory, DealFactory
from pipelines.imports import LEAD_IMPORT
from pipelines.services import lead_create

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/pipelines/lead/import/"
# Columns by their keys (accepted in every language); one new row, one duplicate, one without phone and email.
CSV_TEXT = "name;phone;email\r\nAnna;+79160000101;\r\nKnown;+79160000100;\r\nNobody;;\r\n"


def _back_office(user, language: str) -> Client:
    browser = Client(HTTP_ACCEPT_LANGUAGE=language) if language else Client()
    browser.force_login(user)
    return browser


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    ("language", "moved", "refused", "noted"),
    [
        (
            "",
            "Статус сделки: «Расчёт».",
            "Из статуса «Расчёт» нельзя перейти в «Действует».",
            "Заметка добавлена в журнал.",
        ),
        (
            "en-US,en;q=0.9",
            "Deal status: «Estimating».",
            "A deal cannot move from «Estimating» to «Active».",
            "Note added to the journal.",
        ),
    ],
)
def test_the_deal_page_reports_in_the_browsers_language(owner, tenant, language, moved, refused, noted):
    deal = DealFactory(tenant=tenant, client=ClientFactory(tenant=tenant), title="Motor")
    url = f"/admin/deals/deal/{deal.pk}"
    browser = _back_office(owner, language)

    first = browser.post(f"{url}/status/", {"status": "estimating", "version": deal.version}, follow=True)
    second = browser.post(f"{url}/status/", {"status": "active", "version": deal.version + 1}, follow=True)
    note = browser.post(f"{url}/journal/", {"text": "Call back"}, follow=True)

    assert _messages(first) == [moved]
    assert _messages(second) == [refused]
    assert _messages(note) == [noted]


@pytest.mark.parametrize(
    ("language", "labels", "duplicate", "missing", "summary"),
    [
        (
            "",
            ["новая", "дубликат", "ошибка"],
            "Уже есть лид #{id} «Known» с телефоном +79160000100.",
            "Телефон: Нужен телефон или email.",
            "Импорт «leads.csv»: создана 1 строка, пропущен 1 дубликат, 1 строка с ошибкой.",
        ),
        (
            "en",
            ["new", "duplicate", "error"],
            "There is already lead #{id} «Known» with phone +79160000100.",
            "Телефон: A phone or an email is required.",  # the column's name is the file's (see crm.imports)
            "Import of «leads.csv»: 1 row created, 1 duplicate skipped, 1 row with errors.",
        ),
    ],
)
def test_the_import_report_speaks_the_browsers_language(owner, tenant, language, labels, duplicate, missing, summary):
    known = lead_create(tenant=tenant, name="Known", phone="+79160000100")
    browser = _back_office(owner, language)
    upload = io.BytesIO(CSV_TEXT.encode())
    upload.name = "leads.csv"

    preview = browser.post(IMPORT_URL, {"file": upload})
    done = browser.post(IMPORT_URL, {"token": preview.context["token"]})

    outcomes = preview.context["report"].outcomes
    assert [outcome.status_label for outcome in outcomes] == labels
    assert outcomes[1].message == duplicate.format(id=known.pk)
    assert outcomes[2].message == missing
    assert _messages(done) == [summary]


@pytest.mark.parametrize(
    ("language", "count", "created"),
    [
        ("ru", 2, "создано 2 строки"),
        ("ru", 5, "создано 5 строк"),
        ("en", 2, "2 rows created"),
        ("en", 5, "5 rows created"),
    ],
)
def test_the_import_summary_counts_with_the_languages_plurals(owner, language, count, created):
    rows = "".join(f"Lead {n};+7916000{n:04d}\r\n" for n in range(count))
    browser = _back_office(owner, language)
    upload = io.BytesIO(f"name;phone\r\n{rows}".encode())
    upload.name = "leads.csv"

    preview = browser.post(IMPORT_URL, {"file": upload})
    done = browser.post(IMPORT_URL, {"token": preview.context["token"]})

    assert created in _messages(done)[0]


@pytest.mark.parametrize(
    ("language", "name", "message"),
    [
        ("ru", "leads.doc", "Загрузите файл CSV или XLSX."),
        ("en", "leads.doc", "Upload a CSV or XLSX file."),
        ("ru", "leads.csv", "Файл пуст."),
        ("en", "leads.csv", "The file is empty."),
    ],
)
def test_a_file_refusal_follows_the_active_language(language, name, message):
    with translation.override(language), pytest.raises(ImportFileError) as refusal:
        read_table(name=name, content=b"\r\n", spec=LEAD_IMPORT)

    assert str(refusal.value) == message
