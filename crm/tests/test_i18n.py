"""One language per surface (issue 17): the back-office in Russian, or English when the browser asks; the API in
English whatever the browser asks; the committed .mo files compiled from the .po files beside them."""

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from pipelines.models import LeadHistory
from pipelines.services import lead_create

LOCALES = Path(settings.BASE_DIR) / "locale"
DJANGO_OWN = {"Home", "Django site admin"}  # msgids Django's own catalogs translate
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


@pytest.mark.parametrize("language", ["", "ru", "ru-RU,ru;q=0.9", "en", "de"])
def test_the_api_answers_in_english_whatever_the_browser_asks(client, db, language):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}

    unauthenticated = client.get("/api/leads", **headers)
    invalid = client.post("/api/auth/token", {}, content_type="application/json", **headers)

    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["message"] == "Authentication credentials were not provided."
    assert invalid.status_code == 400
    assert invalid.json()["details"]["username"] == ["This field is required."]


@pytest.mark.parametrize(
    ("language", "title", "button"),
    [
        ("", "CRM — бэк-офис", "Войти"),
        ("ru", "CRM — бэк-офис", "Войти"),
        ("en-US,en;q=0.9", "CRM back-office", "Log in"),
    ],
)
def test_the_back_office_is_russian_unless_the_browser_asks_for_english(client, db, language, title, button):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}

    page = client.get("/admin/login/", **headers).content.decode()

    assert title in page
    assert f'value="{button}"' in page


def _catalog(path: Path) -> dict:
    with path.open("rb") as compiled:
        return {key: value for key, value in gettext.GNUTranslations(compiled)._catalog.items() if key}


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_committed_mo_is_the_compiled_po(tmp_path, language):
    if shutil.which("msgfmt") is None:
        pytest.skip("GNU gettext (msgfmt) is not installed")
    folder = LOCALES / language / "LC_MESSAGES"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(folder / "django.po")], check=True)
    assert _catalog(folder / "django.mo") == _catalog(fresh), f"run `make messages`: {language} .mo is stale"


def _msgid(key) -> str:
    return key[0] if isinstance(key, tuple) else key  # a plural's forms are keyed (msgid, form)


def _msgids(po: Path) -> set[str]:
    """Every msgid of a .po file, its continuation lines joined."""
    msgids, parts = set(), None
    for line in [*po.read_text().splitlines(), ""]:
        if line.startswith("msgid "):
            parts = [line[7:-1]]
        elif line.startswith('"') and parts is not None:
            parts.append(line[1:-1])
        elif parts is not None:
            msgids.add("".join(parts).replace('\\"', '"').replace("\\\\", "\\"))
            parts = None
    return msgids - {""}


def test_every_string_of_ours_has_its_english_and_every_api_message_its_russian():
    english, russian = (
        {_msgid(key) for key in _catalog(LOCALES / lang / "LC_MESSAGES" / "django.mo")} for lang in ("en", "ru")
    )
    msgids = _msgids(LOCALES / "ru" / "LC_MESSAGES" / "django.po")
    # A msgid is either Russian (the back-office's own words: English in locale/en) or an API message (English:
    # Russian in locale/ru). Cyrillic tells them apart.
    api_messages = {msgid for msgid in msgids if not CYRILLIC.search(msgid)} - DJANGO_OWN
    assert sorted(msgids - api_messages - DJANGO_OWN - english) == []
    assert sorted(api_messages - russian) == []


def _back_office(user, language: str = "") -> Client:
    browser = Client(HTTP_ACCEPT_LANGUAGE=language) if language else Client()
    browser.force_login(user)
    return browser


@pytest.mark.parametrize(
    ("language", "title", "source_filter", "manual", "assignee"),
    [
        ("", "Выберите лид для изменения", "источник", "Вручную", "Ответственный"),
        ("en-US,en;q=0.9", "Select lead to change", "By source", "Manual", "Assigned to"),
    ],
)
def test_the_lead_list_speaks_the_back_office_language(owner, language, title, source_filter, manual, assignee):
    lead_create(tenant=owner.tenant, name="Иван", source="manual")
    browser = _back_office(owner, language)

    changelist = browser.get("/admin/pipelines/lead/").content.decode()
    add_form = browser.get("/admin/pipelines/lead/add/").content.decode()

    assert f"<h1>{title}</h1>" in changelist
    assert f"<summary> {source_filter} </summary>" in " ".join(changelist.split())
    assert f">{manual}</" in changelist  # the source column of the row
    assert f">{assignee}:</label>" in add_form
    assert f">{manual}</option>" in add_form


def test_a_history_line_written_while_english_is_active_is_stored_in_russian(owner_client, owner):
    created = owner_client.post("/api/leads", {"name": "Иван", "source": "site"}, format="json")

    assert created.status_code == 201
    history = LeadHistory.objects.get(lead_id=created.json()["id"], kind="created")
    assert history.text.startswith("Лид создан (Сайт), стадия «")


@pytest.mark.parametrize(("language", "refusal"), [("", "«12» — невозможный номер телефона."), ("en", None)])
def test_a_service_refusal_is_russian_in_the_back_office_and_english_in_the_api(owner, owner_client, language, refusal):
    lead = lead_create(tenant=owner.tenant, name="Иван", phone="+79160000001")
    english = "«12» is not a possible phone number."
    form = {"name": "Иван", "phone": "12", "email": "", "stage": lead.stage_id, "assigned_to": "", "comment": ""}
    form |= {f"{inline}-{count}": "0" for inline in ("history", "tasks") for count in ("TOTAL_FORMS", "INITIAL_FORMS")}

    page = _back_office(owner, language).post(f"/admin/pipelines/lead/{lead.pk}/change/", form)
    answer = owner_client.patch(f"/api/leads/{lead.pk}", {"phone": "12"}, format="json", HTTP_ACCEPT_LANGUAGE="ru")

    assert page.context["adminform"].form.errors == {"phone": [refusal or english]}
    assert answer.status_code == 400
    assert answer.json()["details"] == {"phone": [english]}
