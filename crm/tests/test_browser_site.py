"""The back-office's front door and its languages in a real browser (crm/tests/browser.py)."""

import httpx

from crm.tests.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


def test_the_front_door_opens_the_back_office_with_its_icon(page, live):
    page.goto("/")
    assert page.url == f"{live.base_url}/admin/"
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert httpx.get(f"{live.base_url}{icon}", timeout=10).headers["content-type"].startswith("image/svg")
    assert httpx.get(f"{live.base_url}/favicon.ico", follow_redirects=True, timeout=10).status_code == 200


def test_the_back_office_speaks_english_when_the_browser_asks(browser, live):
    context = browser.new_context(base_url=live.base_url, locale="en-US", extra_http_headers={"Accept-Language": "en"})
    try:
        page = context.new_page()
        page.goto("/admin/login/")
        assert page.input_value("input[type=submit]") == "Log in"
        assert "CRM back-office" in page.inner_text("#header")
        api = httpx.get(f"{live.base_url}/api/leads", headers={"Accept-Language": "ru"}, timeout=10)
        assert api.json()["message"] == "Authentication credentials were not provided."
    finally:
        context.close()
