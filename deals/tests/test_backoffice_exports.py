"""Client and deal exports (streamed, the changelist's filter) and the client import (services, ИНН duplicates)."""

import csv
import io

import pytest
from django.urls import reverse

from crm.tests.factories import TEST_PASSWORD
from deals.models import Client
from deals.tests.factories import ClientFactory, DealFactory

IMPORT_URL = "/admin/deals/client/import/"


@pytest.fixture
def staff(client, owner):
    client.login(username=owner.username, password=TEST_PASSWORD)
    return client


def exported(response) -> list[list[str]]:
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def post_file(client, name: str, content: bytes):
    handle = io.BytesIO(content)
    handle.name = name
    return client.post(IMPORT_URL, {"file": handle})


def test_client_export_with_filter_and_contacts(staff, tenant, other_tenant):
    ClientFactory(
        tenant=tenant,
        full_name="ООО «Ромашка»",
        tax_number="7701234567",
        status="active",
        contacts=[{"type": "phone", "value": "+74951234567", "name": "", "is_primary": True}],
    )
    ClientFactory(tenant=tenant, full_name="ИП Потенциальный", status="potential")
    ClientFactory(tenant=other_tenant, full_name="Чужой клиент", status="active")
    rows = exported(staff.get(reverse("admin:deals_client_export", args=["csv"]) + "?status__exact=active"))
    header, row = rows
    assert row[header.index("Полное наименование")] == "ООО «Ромашка»"
    assert row[header.index("ИНН")] == "7701234567"
    assert row[header.index("Телефон")] == "+74951234567"
    assert row[header.index("Статус")] == "Активный"


def test_deal_export(staff, tenant, owner, other_tenant):
    DealFactory(tenant=tenant, title="КАСКО Лада", sales_agent=owner)
    DealFactory(tenant=other_tenant, title="Чужая сделка")
    header, *rows = exported(staff.get(reverse("admin:deals_deal_export", args=["csv"])))
    assert [row[header.index("Название")] for row in rows] == ["КАСКО Лада"]
    assert rows[0][header.index("Агент")] == owner.display_name
    assert rows[0][header.index("Статус")] == "Черновик"


@pytest.mark.parametrize("rows", [10, 100])
@pytest.mark.parametrize("model", ["client", "deal"])
def test_export_query_count_does_not_grow(staff, tenant, owner, rows, model, django_assert_max_num_queries):
    for _ in range(rows):
        DealFactory(tenant=tenant, sales_agent=owner, executor=owner)
    with django_assert_max_num_queries(12):
        exported(staff.get(reverse(f"admin:deals_{model}_export", args=["csv"])))


CSV_TEXT = (
    "Полное наименование;ИНН;Тип;Статус;Телефон;Email\r\n"
    "ООО «Вектор»;7705555555;Компания;Активный;+74950000001;info@vector.ru\r\n"
    "Иванов Иван Иванович;;Физическое лицо;;+79160000001;\r\n"
    "ООО «Вектор» (дубль);7705555555;;;;\r\n"
    "ООО Уже есть;7701234567;;;;\r\n"
    "Кто-то;;Марсианин;;;\r\n"
    ";7709999999;;;;\r\n"
)


def test_client_import_preview_then_confirm(staff, tenant, client_obj):
    preview = post_file(staff, "clients.csv", CSV_TEXT.encode("utf-8-sig"))
    assert preview.status_code == 200
    outcomes = preview.context["report"].outcomes
    assert [o.status for o in outcomes] == ["new", "new", "duplicate", "duplicate", "error", "error"]
    assert "Марсианин" in outcomes[4].message
    assert Client.objects.filter(tenant=tenant).count() == 1
    staff.post(IMPORT_URL, {"token": preview.context["token"]})
    vector = Client.objects.get(tax_number="7705555555")
    assert vector.full_name == "ООО «Вектор»"
    assert vector.status == "active"
    assert {c["type"]: c["value"] for c in vector.contacts} == {"phone": "+74950000001", "email": "info@vector.ru"}
    assert "info@vector.ru" in vector.search_text
    person = Client.objects.get(full_name="Иванов Иван Иванович")
    assert (person.type, person.status) == ("individual", "potential")
    assert Client.objects.filter(tenant=tenant).count() == 3


def test_client_changelist_has_export_and_import_buttons(staff):
    html = staff.get("/admin/deals/client/?status__exact=active").content.decode()
    assert "/admin/deals/client/export/csv/?status__exact=active" in html
    assert IMPORT_URL in html
