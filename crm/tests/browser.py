"""The back-office in a real browser, shared by the crm/tests/test_browser_*.py modules: headless Chromium (Debian's
`chromium`, driven by Playwright) against `python -m crm.serve` (uvicorn, the ASGI app with SSE) on a PostgreSQL
database of its own, started once per test session; the fixtures are registered in crm/tests/conftest.py.

`make screenshots` (UPDATE_SCREENSHOTS=1) also rewrites the README's `docs/board.png` and `docs/dashboard.png`;
otherwise the screenshots go to a temporary directory, so a test run leaves the tree as it was.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from crm.demo import DEMO_PASSWORD
from crm.tests.live import ROOT, create_tenant, manage, running_server, server_env, token_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# One per test database (DATABASE_URL's name), so two runs side by side do not drop each other's server database.
E2E_DATABASE = f"{urlsplit(os.environ.get('DATABASE_URL', '')).path.strip('/') or 'crm'}_backoffice_e2e"
SCREENSHOTS = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None
WAIT_MS = 15_000

# Each browser test module's `pytestmark`.
BROWSER_MARKS = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
        reason=f"no Chromium at {CHROMIUM}: `apt-get install chromium` to run the browser tests",
    ),
]


def _server_database_url() -> str:
    """A database of our own on the PostgreSQL server the suite uses (or the local default one)."""
    configured = os.environ.get("DATABASE_URL", "")
    base = configured if configured.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{E2E_DATABASE}"))


def _recreate_database(url: str) -> None:
    import psycopg

    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    try:
        connection = psycopg.connect(maintenance, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"the browser tests need a PostgreSQL server ({exc})")
    with connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{E2E_DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{E2E_DATABASE}"')


class Live:
    """The running server, its database and the two tenants made for the tests."""

    def __init__(self, base_url: str, database_url: str, acme: dict, globex: dict):
        self.base_url = base_url
        self.database_url = database_url
        self.acme = acme
        self.globex = globex
        self.acme_token = token_for(base_url, acme["username"], acme["password"])
        self.globex_token = token_for(base_url, globex["username"], globex["password"])

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.acme_token}"}
        response = httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=10, **kwargs)
        assert response.status_code < 300, response.text
        return response

    def sql(self, query: str, *params):
        import psycopg

        with psycopg.connect(self.database_url) as connection:
            return connection.execute(query, params).fetchall()


@pytest.fixture(scope="session")
def live():
    database_url = _server_database_url()
    _recreate_database(database_url)
    env = server_env(DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    manage(env, "migrate", "--noinput")
    acme = create_tenant(env, "acme")
    globex = create_tenant(env, "globex")
    manage(env, "demo_data")  # the «Demo» tenant (leads, tasks, deals, payments): the dashboard and screenshots
    with running_server(env) as base_url:
        live = Live(base_url, database_url, acme, globex)
        _seed(live)
        yield live


def _seed(live: Live) -> None:
    pipeline = live.api("GET", "/api/pipelines").json()["pipelines"][0]
    live.stages = {stage["name"]: stage["id"] for stage in pipeline["stages"]}
    live.pipeline_id = pipeline["id"]
    people = [
        ("Анна Иванова", "+79160000001", "site", "Новые"),
        ("Борис Петров", "+79160000002", "whatsapp", "Новые"),
        ("Вера Сидорова", "+79160000003", "manual", "В работе"),
        ("Григорий Орлов", "+79160000004", "chatflow", "Переговоры"),
        ("Дарья Ёлкина", "+79160000005", "site", "Успешно"),
        ("Евгений Зайцев", "+79160000006", "manual", "Отказ"),
    ]
    live.leads = {}
    for name, phone, source, stage in people:
        body = {"name": name, "phone": phone, "source": source, "stage_id": live.stages[stage]}
        lead = live.api("POST", "/api/leads", json=body).json()
        live.leads[name] = lead["id"]
        task = {"type": "call", "due_at": "2030-01-01T10:00:00+03:00", "note": "Перезвонить"}
        live.api("POST", f"/api/leads/{lead['id']}/tasks", json=task)
    live.api("POST", "/api/leads", token=live.globex_token, json={"name": "Чужой Лид", "phone": "+79169999999"})
    manager = {"username": "acme-manager", "password": "E2e-manager-pass!", "role": "manager", "full_name": "Мария"}
    live.manager = {**manager, "id": live.api("POST", "/api/users", json={**manager, "email": ""}).json()["id"]}
    body = {"name": "Лид Марии", "phone": "+79160000009", "assigned_to_user_id": live.manager["id"]}
    live.leads["Лид Марии"] = live.api("POST", "/api/leads", json=body).json()["id"]


# Per module, not per session: while Playwright's sync API is open it keeps an event loop running in this thread, and
# every later async test (asyncio.run, pytest-asyncio) then fails with "cannot be called from a running event loop".
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def logged_in(browser, live, username: str, password: str, *, locale: str = "ru-RU", accept_language: str = "ru"):
    context = browser.new_context(
        base_url=live.base_url,
        viewport={"width": 1440, "height": 900},
        locale=locale,
        extra_http_headers={"Accept-Language": accept_language},
        accept_downloads=True,
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    # What happened to the event stream, for the failure message of wait_until_live().
    page.stream_log = []
    page.on("response", lambda r: "/stream" in r.url and page.stream_log.append(f"{r.status} {r.url}"))
    page.on("requestfailed", lambda r: "/stream" in r.url and page.stream_log.append(f"failed {r.failure}"))
    page.on("console", lambda message: page.stream_log.append(f"console: {message.text}"))
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page


@pytest.fixture(scope="module")
def page(browser, live):
    page = logged_in(browser, live, live.acme["username"], live.acme["password"])
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def demo_page(browser, live):
    page = logged_in(browser, live, "owner", DEMO_PASSWORD)
    yield page
    page.context.close()


def open_board(page, live):
    page.goto(f"/admin/pipelines/pipeline/{live.pipeline_id}/board/")
    wait_until_live(page)


def wait_until_live(page):
    """The board's EventSource is connected (the page shows «онлайн»)."""
    try:
        page.wait_for_selector("#board-live.on", timeout=2 * WAIT_MS)
    except Exception as exc:
        raise AssertionError(f"the board never went live: {page.inner_text('#board-live')} {page.stream_log}") from exc


def column(live, stage: str) -> str:
    return f'.board-cards[data-stage-id="{live.stages[stage]}"]'


def card(live, name: str) -> str:
    return f'.board-card[data-lead-id="{live.leads[name]}"]'


def stage_of(live, name: str) -> int:
    return live.sql("SELECT stage_id FROM pipelines_lead WHERE id = %s", live.leads[name])[0][0]


def save_screenshot(page, name: str, tmp_path: Path, **options) -> None:
    path = (SCREENSHOTS or tmp_path) / name
    page.screenshot(path=str(path), **options)
    assert path.stat().st_size > 10_000  # a rendered page, not an empty frame
