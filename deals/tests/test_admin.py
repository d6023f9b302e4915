import re
from decimal import Decimal

import pytest
from django.test import Client as BrowserClient

from deals.models import Client, Deal
from deals.tests.factories import ClientFactory, DealFactory, JournalEntryFactory, PaymentFactory, PolicyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(owner):
    browser = BrowserClient()
    browser.force_login(owner)
    return browser


def test_client_changelist_searches_name_tax_number_and_contacts(browser, tenant, other_tenant):
    ClientFactory(
        tenant=tenant,
        full_name="ООО Ромашка",
        tax_number="7701234567",
        contacts=[{"type": "email", "value": "daisy@flowers.example", "name": "", "is_primary": True}],
    )
    ClientFactory(tenant=tenant, full_name="ИП Петров")
    ClientFactory(tenant=other_tenant, full_name="ООО Ромашка чужая")

    for term in ("Ромашка", "7701234", "daisy@"):
        page = browser.get("/admin/deals/client/", {"q": term})
        assert page.status_code == 200
        assert page.context["cl"].result_count == 1, term


def test_client_add_goes_through_the_service(browser, tenant, client_obj):
    data = {"type": "company", "full_name": "ООО Новая", "status": "active", "contacts": "[]", "tax_number": ""}

    browser.post("/admin/deals/client/add/", data)
    duplicate = browser.post("/admin/deals/client/add/", {**data, "tax_number": client_obj.tax_number})

    created = Client.objects.get(full_name="ООО Новая")
    assert created.tenant == tenant
    assert created.search_text == "ООО Новая"
    assert Client.objects.filter(tax_number=client_obj.tax_number).count() == 1
    # Refused by the service: the form again, the API's detail on the tax number, the input kept.
    assert duplicate.status_code == 200
    form = duplicate.context["adminform"].form
    assert form.errors["tax_number"] == [f"{client_obj.tax_number} is taken."]
    assert form["full_name"].value() == "ООО Новая"


def test_deal_page_shows_journal_calculations_policies_payments(browser, deal):
    JournalEntryFactory(deal=deal, text="Первая заметка")
    PaymentFactory(policy=PolicyFactory(deal=deal, policy_number="ABC-777"))

    page = browser.get(f"/admin/deals/deal/{deal.id}/change/")

    assert page.status_code == 200
    content = page.content.decode()
    assert "Первая заметка" in content
    assert "ABC-777" in content


def test_deal_changelist_filters_by_status(browser, tenant):
    DealFactory(tenant=tenant, status="active")
    DealFactory(tenant=tenant)

    page = browser.get("/admin/deals/deal/", {"status__exact": "active"})

    assert page.context["cl"].result_count == 1


def test_status_action_obeys_the_state_machine_and_writes_the_journal(browser, deal, owner):
    browser.post("/admin/deals/deal/", {"action": "move_to_estimating", "_selected_action": [str(deal.id)]})
    deal.refresh_from_db()
    assert deal.status == "estimating"
    assert deal.journal.get().text == "Статус: draft → estimating"
    assert deal.journal.get().author_id == owner.uuid

    response = browser.post(
        "/admin/deals/deal/", {"action": "move_to_active", "_selected_action": [str(deal.id)]}, follow=True
    )
    deal.refresh_from_db()
    assert deal.status == "estimating"
    # Said per row, in Russian, with the statuses the deal may move to.
    shown = [str(message) for message in response.context["messages"]]
    assert shown[0] == f"Переведены в статус «Расчёт»: «{deal}»."  # the first post's report
    assert shown[1:] == [
        f"«{deal}»: из статуса «Расчёт» нельзя перейти в «Действует» "
        "(можно: «Черновик», «Ожидание клиента», «Закрыта»)."
    ]


def test_deal_edit_goes_through_the_service(browser, deal, owner):
    data = {
        "title": "КАСКО Toyota",
        "description": "",
        "sales_agent": str(deal.sales_agent_id),
        "executor": str(owner.uuid),
        "tags": "[]",
        **{
            f"{prefix}-{key}": value
            for prefix in ("journal", "calculations", "policies", "payments")
            for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
        },
    }

    response = browser.post(f"/admin/deals/deal/{deal.id}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    deal.refresh_from_db()
    assert deal.executor_id == owner.uuid
    assert deal.journal.get().text.startswith("Исполнитель: — → ")
    assert Deal.objects.count() == 1


def test_the_deal_add_page_shows_no_label_for_a_foreign_client(browser, client_obj, other_tenant):
    """`?client=<uuid>` prefills the raw-id field: a foreign client's name must not appear."""
    foreign = ClientFactory(tenant=other_tenant, full_name="ООО Секретный конкурент")
    before = list(Deal.objects.values_list("pk", flat=True))

    page = browser.get("/admin/deals/deal/add/", {"client": str(foreign.pk)})
    own = browser.get("/admin/deals/deal/add/", {"client": str(client_obj.pk)})

    assert page.status_code == 200
    assert "Секретный конкурент" not in page.content.decode()
    assert page.context["adminform"].form.initial == {}
    assert "ООО Ромашка" in own.content.decode()
    assert list(Deal.objects.values_list("pk", flat=True)) == before


def test_a_deal_status_action_on_a_foreign_deal_changes_nothing(browser, deal, foreign_deal):
    response = browser.post(
        "/admin/deals/deal/", {"action": "move_to_estimating", "_selected_action": [str(foreign_deal.pk)]}
    )

    assert response.status_code == 302
    foreign_deal.refresh_from_db()
    assert foreign_deal.status == "draft"
    assert not foreign_deal.journal.exists()


_NO_INLINE_ROWS = {
    f"{prefix}-{key}": "0"
    for prefix in ("journal", "calculations", "policies", "payments")
    for key in ("TOTAL_FORMS", "INITIAL_FORMS")
}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("", []),
        ("каско, vip,  каско , ", ["каско", "vip"]),
        ('["каско", "vip"]', ["каско", "vip"]),  # the JSON list scripts posted before
    ],
)
def test_tags_are_typed_on_one_line(browser, deal, owner, typed, stored):
    form = {"title": deal.title, "description": "", "sales_agent": str(owner.uuid), "executor": "", "tags": typed}
    form |= _NO_INLINE_ROWS

    response = browser.post(f"/admin/deals/deal/{deal.pk}/change/", form)

    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.tags == stored


@pytest.mark.parametrize("tags", ["x" * 65, ", ".join(f"t{n}" for n in range(51)), "[1]", '["a"'])
def test_too_many_or_too_long_tags_are_refused(browser, deal, owner, tags):
    deal.tags = ["было"]
    deal.save()
    form = {"title": "Новое", "description": "", "sales_agent": str(owner.uuid), "executor": "", "tags": tags}
    form |= _NO_INLINE_ROWS

    response = browser.post(f"/admin/deals/deal/{deal.pk}/change/", form)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["tags"] == ["Теги через запятую: до 50, каждый до 64 символов."]
    deal.refresh_from_db()
    assert (deal.title, deal.tags) == ("КАСКО Toyota", ["было"])


def _contact_rows(*rows) -> dict:
    posted = {}
    for index, (kind, value, name, primary) in enumerate([*rows, ("phone", "", "", False)]):
        posted |= {f"contacts-{index}-type": kind, f"contacts-{index}-value": value, f"contacts-{index}-name": name}
        posted |= {f"contacts-{index}-is_primary": "on"} if primary else {}
    return posted


def test_client_contacts_are_rows(browser, client_obj):
    form = {"type": "company", "full_name": "ООО Ромашка", "status": "active", "tax_number": ""}
    rows = _contact_rows(("phone", " +7 916 000-11-22 ", "Иван", True), ("email", "a@romashka.test", "", False))

    response = browser.post(f"/admin/deals/client/{client_obj.pk}/change/", {**form, **rows})

    assert response.status_code == 302
    client_obj.refresh_from_db()
    assert client_obj.contacts == [
        {"type": "phone", "value": "+7 916 000-11-22", "name": "Иван", "is_primary": True},
        {"type": "email", "value": "a@romashka.test", "name": "", "is_primary": False},
    ]
    page = browser.get(f"/admin/deals/client/{client_obj.pk}/change/").content.decode()
    assert 'name="contacts-0-value" value="+7 916 000-11-22"' in page
    assert 'name="contacts-2-value" value=""' in page  # room for more


def test_a_contact_of_an_unknown_type_is_refused_with_the_rows_kept(browser, client_obj):
    form = {"type": "company", "full_name": "ООО Ромашка", "status": "active", "tax_number": ""}

    response = browser.post(
        f"/admin/deals/client/{client_obj.pk}/change/", {**form, **_contact_rows(("fax", "123", "", False))}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["contacts"]
    assert 'name="contacts-0-value" value="123"' in response.content.decode()
    client_obj.refresh_from_db()
    assert client_obj.contacts == []


def test_money_on_the_deal_page_reads_as_roubles(browser, deal):
    PaymentFactory(policy=PolicyFactory(deal=deal, premium_amount=Decimal("125000.50")), amount=Decimal("1234.5"))

    page = browser.get(f"/admin/deals/deal/{deal.id}/change/").content.decode()

    assert "125\u202f000,50\u00a0₽" in page
    assert "1\u202f234,50\u00a0₽" in page


def test_the_deal_page_offers_only_the_allowed_next_statuses(browser, deal):
    page = browser.get(f"/admin/deals/deal/{deal.id}/change/")

    buttons = re.findall(r'<button type="submit" name="status" value="(\w+)"', page.content.decode())
    assert buttons == ["estimating", "closed"]  # from «Черновик», in the statuses' order


def test_a_status_button_moves_the_deal_through_the_service(browser, deal, owner):
    response = browser.post(
        f"/admin/deals/deal/{deal.id}/status/", {"status": "estimating", "version": deal.version}, follow=True
    )

    deal.refresh_from_db()
    assert (deal.status, deal.version) == ("estimating", 2)
    assert deal.journal.get().author_id == owner.uuid
    assert [str(m) for m in response.context["messages"]] == ["Статус сделки: «Расчёт»."]


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ({"status": "active", "version": 1}, "Из статуса «Черновик» нельзя перейти в «Действует»."),
        ({"status": "estimating", "version": 7}, "Объект изменён другим пользователем"),
        ({"status": "estimating"}, "Статус не изменён: неверный запрос."),
    ],
)
def test_a_refused_status_button_changes_nothing(browser, deal, posted, message):
    response = browser.post(f"/admin/deals/deal/{deal.id}/status/", posted, follow=True)

    deal.refresh_from_db()
    assert (deal.status, deal.version) == ("draft", 1)
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1
    assert shown[0].startswith(message)


def test_a_journal_note_from_the_deal_page(browser, deal, owner):
    browser.post(f"/admin/deals/deal/{deal.id}/journal/", {"text": "  Клиент просит скидку  "})
    browser.post(f"/admin/deals/deal/{deal.id}/journal/", {"text": "   "})

    entry = deal.journal.get()
    assert (entry.kind, entry.text, entry.author_id) == ("note", "Клиент просит скидку", owner.uuid)


def test_the_client_page_lists_the_clients_deals(browser, client_obj, deal, tenant, foreign_deal):
    other = DealFactory(tenant=tenant, title="Чужой клиент")

    page = browser.get(f"/admin/deals/client/{client_obj.pk}/change/").content.decode()

    assert f'<a href="/admin/deals/deal/{deal.pk}/change/">КАСКО Toyota</a> — Черновик' in page
    assert other.title not in page
    assert foreign_deal.title not in page


def test_the_deal_add_page_chooses_the_client_by_autocomplete(browser, client_obj):
    widget = str(browser.get("/admin/deals/deal/add/", {"client": client_obj.pk}).context["adminform"].form["client"])

    assert 'data-ajax--url="/admin/autocomplete/"' in widget
    assert f'<option value="{client_obj.pk}" selected>ООО Ромашка</option>' in widget
