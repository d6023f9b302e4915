"""A deal's page in a real browser (crm/tests/browser.py): status, journal, contacts, money, calculations."""

from crm.tests.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


def test_a_deal_is_moved_and_noted_from_its_page(demo_page, live):
    deal_id = live.sql(
        "SELECT d.id FROM deals_deal d JOIN crm_tenant t ON t.id = d.tenant_id "
        "WHERE t.slug = 'demo' AND d.status = 'draft' ORDER BY d.created_at LIMIT 1"
    )[0][0]
    demo_page.goto(f"/admin/deals/deal/{deal_id}/change/")
    buttons = demo_page.locator("#deal-status button")
    assert [buttons.nth(i).inner_text() for i in range(buttons.count())] == ["→ Расчёт", "→ Закрыта"]
    buttons.first.click()
    demo_page.wait_for_selector(".messagelist .success")
    assert "Статус сделки: «Расчёт»." in demo_page.inner_text(".messagelist")
    assert live.sql("SELECT status FROM deals_deal WHERE id = %s", deal_id) == [("estimating",)]
    demo_page.fill("#deal-note-text", "Клиент просит перезвонить в пятницу")
    demo_page.click("#deal-note button")
    demo_page.wait_for_selector("text=Заметка добавлена в журнал.")
    assert "Клиент просит перезвонить в пятницу" in demo_page.inner_text("#content-main")


def test_contacts_are_rows_tags_a_line_and_money_roubles(demo_page, live):
    client_id = live.sql(
        "SELECT c.id FROM deals_client c JOIN crm_tenant t ON t.id = c.tenant_id WHERE t.slug = 'demo' "
        "ORDER BY c.created_at LIMIT 1"
    )[0][0]
    demo_page.goto(f"/admin/deals/client/{client_id}/change/")
    empty = demo_page.locator("#contacts_rows input[name$='-value'][value='']").first
    empty.fill("+7 916 555-44-33")
    demo_page.click("input[name=_continue]")
    demo_page.wait_for_selector(".messagelist .success")
    stored = live.sql("SELECT contacts FROM deals_client WHERE id = %s", client_id)[0][0]
    assert {"type": "phone", "value": "+7 916 555-44-33", "name": "", "is_primary": False} in stored

    deal_id = live.sql(
        "SELECT p.deal_id FROM deals_payment p JOIN crm_tenant t ON t.id = p.tenant_id WHERE t.slug = 'demo' LIMIT 1"
    )[0][0]
    demo_page.goto(f"/admin/deals/deal/{deal_id}/change/")
    assert "\u00a0₽" in demo_page.inner_text("#content-main")
    demo_page.fill("#id_tags", "каско, vip")
    demo_page.click("input[name=_continue]")
    demo_page.wait_for_selector(".messagelist .success")
    assert live.sql("SELECT tags FROM deals_deal WHERE id = %s", deal_id) == [(["каско", "vip"],)]
    assert demo_page.input_value("#id_tags") == "каско, vip"


def test_a_calculation_is_added_from_the_deal_page(demo_page, live):
    deal_id = live.sql(
        "SELECT d.id FROM deals_deal d JOIN crm_tenant t ON t.id = d.tenant_id WHERE t.slug = 'demo' "
        "AND d.status <> 'closed' ORDER BY d.created_at DESC LIMIT 1"
    )[0][0]
    demo_page.goto(f"/admin/deals/deal/{deal_id}/change/")
    demo_page.click("#deal-add-links >> text=Добавить расчёт")
    demo_page.wait_for_selector(".field-deal .select2-selection__rendered")
    demo_page.fill("#id_insurance_company", "Страховая «Восток»")
    demo_page.fill("#id_premium_amount", "125000.50")
    demo_page.fill("#id_calculation_date", "01.12.2026")
    demo_page.click("input[name=_save]")
    demo_page.wait_for_url(f"**/admin/deals/deal/{deal_id}/change/")
    text = demo_page.inner_text("#content-main")
    assert "Страховая «Восток»" in text
    assert "125\u202f000,50\u00a0₽" in text
