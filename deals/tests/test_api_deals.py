import uuid

import pytest
from django.test import override_settings

from deals.folders import StableIdFolderProvider
from deals.models import Deal, JournalEntry
from deals.tests.conftest import assert_error
from deals.tests.factories import ClientFactory, DealFactory, JournalEntryFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/deals"


@pytest.fixture
def body(client_obj, manager):
    return {"client_id": str(client_obj.id), "title": "ОСАГО Kia Rio", "sales_agent_id": str(manager.uuid)}


class FixedFolderProvider:
    def folder_for_deal(self, *, tenant_id, deal_id, title):
        return f"fixed/{title}"


def test_create_returns_201_with_status_folder_and_dates(owner_client, tenant, body, owner):
    response = owner_client.post(
        URL,
        {
            **body,
            "description": "Новый автомобиль",
            "executor_id": str(owner.uuid),
            "expected_close_date": "2025-03-01",
            "tags": ["авто", "срочно"],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    data = response.json()
    deal = Deal.objects.get(pk=data["id"])
    assert data["status"] == "draft"
    assert data["folder_id"] == deal.folder_id
    assert deal.folder_id == StableIdFolderProvider().folder_for_deal(
        tenant_id=tenant.pk, deal_id=deal.pk, title=deal.title
    )
    assert data["created_at"]
    assert data["client_name"] == "ООО Ромашка"
    assert data["executor_id"] == str(owner.uuid)
    assert data["expected_close_date"] == "2025-03-01"
    assert deal.tags == ["авто", "срочно"]


@override_settings(DEALS_FOLDER_PROVIDER="deals.tests.test_api_deals.FixedFolderProvider")
def test_folder_provider_is_chosen_by_the_setting(owner_client, body):
    response = owner_client.post(URL, body, format="json")

    assert response.json()["folder_id"] == "fixed/ОСАГО Kia Rio"


@pytest.mark.parametrize("client_id", [str(uuid.uuid4()), "foreign"])
def test_unknown_or_foreign_client_is_404_client_not_found(owner_client, body, other_tenant, client_id):
    if client_id == "foreign":
        client_id = str(ClientFactory(tenant=other_tenant).id)

    assert_error(owner_client.post(URL, {**body, "client_id": client_id}, format="json"), 404, "client_not_found")
    assert not Deal.objects.exists()


def test_open_deal_with_the_same_client_and_title_is_409_until_closed(owner_client, body):
    first = owner_client.post(URL, body, format="json").json()

    assert_error(owner_client.post(URL, body, format="json"), 409, "deal_conflict")
    assert Deal.objects.count() == 1
    owner_client.patch(f"{URL}/{first['id']}", {"status": "closed"}, format="json")
    assert owner_client.post(URL, body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_id": "not-a-uuid"}, "client_id"),
        ({"client_id": 5}, "client_id"),
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": None}, "title"),
        ({"description": "x" * 10_001}, "description"),
        ({"sales_agent_id": str(uuid.uuid4())}, "sales_agent_id"),
        ({"sales_agent_id": "agent-7"}, "sales_agent_id"),
        ({"executor_id": str(uuid.uuid4())}, "executor_id"),
        ({"expected_close_date": "2025-02-30"}, "expected_close_date"),
        ({"expected_close_date": "01.03.2025"}, "expected_close_date"),
        ({"tags": "авто"}, "tags"),
        ({"tags": [1]}, "tags.0"),
    ],
)
def test_bad_input_is_400_and_nothing_is_stored(owner_client, body, change, field):
    assert_error(owner_client.post(URL, {**body, **change}, format="json"), 400, "validation_error", field)
    assert not Deal.objects.exists()


def test_agent_of_another_tenant_or_deactivated_is_400(owner_client, body, foreign_owner, other_manager):
    other_manager.is_active = False
    other_manager.save()

    for agent in (foreign_owner, other_manager):
        response = owner_client.post(URL, {**body, "sales_agent_id": str(agent.uuid)}, format="json")
        assert_error(response, 400, "validation_error", "sales_agent_id")
    assert not Deal.objects.exists()


def test_manager_creates_deals_only_as_agent_or_executor(api_client, body, manager, other_manager):
    client = api_client(manager)

    assert client.post(URL, body, format="json").status_code == 201
    as_executor = {
        **body,
        "title": "Другая",
        "sales_agent_id": str(other_manager.uuid),
        "executor_id": str(manager.uuid),
    }
    assert client.post(URL, as_executor, format="json").status_code == 201
    for_colleague = {**body, "title": "Чужая", "sales_agent_id": str(other_manager.uuid)}
    assert_error(client.post(URL, for_colleague, format="json"), 403, "forbidden")
    assert Deal.objects.count() == 2


def test_list_filters(owner_client, tenant, client_obj, manager, other_manager):
    draft = DealFactory(tenant=tenant, client=client_obj, sales_agent=manager)
    active = DealFactory(tenant=tenant, status="active", sales_agent=other_manager)
    DealFactory(tenant=tenant, status="closed", sales_agent=manager)

    def ids(query):
        response = owner_client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()}

    assert ids("status=draft&status=active") == ids("status=draft,active") == {str(draft.id), str(active.id)}
    assert ids(f"client_id={client_obj.id}") == {str(draft.id)}
    assert ids(f"sales_agent_id={other_manager.uuid}") == {str(active.id)}
    assert len(ids("")) == 3


def test_search_matches_title_and_journal_case_insensitively(owner_client, tenant):
    by_title = DealFactory(tenant=tenant, title="КАСКО Toyota Camry")
    by_journal = DealFactory(tenant=tenant, title="ДМС")
    JournalEntryFactory(deal=by_journal, text="Клиент хочет CAMRY в лизинг")
    DealFactory(tenant=tenant, title="ОСАГО Lada")

    response = owner_client.get(URL, {"search": "camry"})

    assert {row["id"] for row in response.json()} == {str(by_title.id), str(by_journal.id)}
    assert response["X-Total-Count"] == "2"
    assert owner_client.get(URL, {"search": "каско"}).json()[0]["id"] == str(by_title.id)


@pytest.mark.parametrize("query", ["status=open", "client_id=abc", "sales_agent_id=1", "limit=0", "limit=201"])
def test_bad_list_queries_are_400(owner_client, query):
    assert_error(owner_client.get(f"{URL}?{query}"), 400, "validation_error")


def test_managers_list_only_deals_where_they_are_agent_or_executor(api_client, tenant, manager, other_manager):
    as_agent = DealFactory(tenant=tenant, sales_agent=manager)
    as_executor = DealFactory(tenant=tenant, sales_agent=other_manager, executor=manager)
    DealFactory(tenant=tenant, sales_agent=other_manager)

    response = api_client(manager).get(URL)

    assert {row["id"] for row in response.json()} == {str(as_agent.id), str(as_executor.id)}
    assert response["X-Total-Count"] == "2"


def test_retrieve_and_access(api_client, owner_client, deal, other_manager, foreign_deal):
    assert owner_client.get(f"{URL}/{deal.id}").json()["title"] == "КАСКО Toyota"
    assert_error(api_client(other_manager).get(f"{URL}/{deal.id}"), 403, "forbidden")
    assert_error(owner_client.get(f"{URL}/{foreign_deal.id}"), 404, "deal_not_found")
    assert_error(owner_client.get(f"{URL}/nope"), 404, "deal_not_found")
    assert_error(owner_client.get(f"{URL}/{uuid.uuid4()}"), 404, "deal_not_found")


def test_patch_fields(manager_client, deal):
    response = manager_client.patch(
        f"{URL}/{deal.id}",
        {"title": "КАСКО Toyota RAV4", "description": "d", "expected_close_date": "2025-05-01"},
        format="json",
    )

    assert response.status_code == 200
    deal.refresh_from_db()
    assert (deal.title, deal.description, str(deal.expected_close_date)) == ("КАСКО Toyota RAV4", "d", "2025-05-01")
    assert not deal.journal.exists()


def test_status_change_writes_a_system_journal_entry(manager_client, deal, manager):
    response = manager_client.patch(f"{URL}/{deal.id}", {"status": "estimating"}, format="json")

    assert response.json()["status"] == "estimating"
    entry = deal.journal.get()
    assert (entry.kind, entry.text, entry.author_id) == ("system", "Статус: draft → estimating", manager.uuid)


def test_patch_to_the_current_status_is_a_no_op(manager_client, deal):
    response = manager_client.patch(f"{URL}/{deal.id}", {"status": "draft"}, format="json")

    assert response.status_code == 200
    assert not deal.journal.exists()


def test_forbidden_transition_is_400_and_nothing_changes(manager_client, deal):
    response = manager_client.patch(f"{URL}/{deal.id}", {"status": "active", "title": "Новое"}, format="json")

    assert_error(response, 400, "invalid_status_transition")
    deal.refresh_from_db()
    assert (deal.status, deal.title) == ("draft", "КАСКО Toyota")
    assert not deal.journal.exists()


def test_people_changes_are_journalled(owner_client, owner, deal, manager, other_manager):
    response = owner_client.patch(
        f"{URL}/{deal.id}", {"sales_agent_id": str(other_manager.uuid), "executor_id": str(owner.uuid)}, format="json"
    )

    assert response.json()["sales_agent_id"] == str(other_manager.uuid)
    texts = set(deal.journal.values_list("text", flat=True))
    assert texts == {
        f"Агент: {manager.display_name} → {other_manager.display_name}",
        f"Исполнитель: — → {owner.display_name}",
    }
    owner_client.patch(f"{URL}/{deal.id}", {"executor_id": None}, format="json")
    assert deal.journal.filter(text=f"Исполнитель: {owner.display_name} → —").exists()


def test_sending_the_same_people_writes_nothing(owner_client, deal, manager):
    owner_client.patch(f"{URL}/{deal.id}", {"sales_agent_id": str(manager.uuid), "executor_id": None}, format="json")

    assert not deal.journal.exists()


def test_managers_may_not_reassign(manager_client, deal, other_manager):
    response = manager_client.patch(f"{URL}/{deal.id}", {"executor_id": str(other_manager.uuid)}, format="json")

    assert_error(response, 403, "forbidden")
    deal.refresh_from_db()
    assert deal.executor_id is None


def test_colleagues_and_other_tenants_cannot_patch(api_client, owner_client, deal, other_manager, foreign_deal):
    assert_error(api_client(other_manager).patch(f"{URL}/{deal.id}", {"title": "x"}, format="json"), 403, "forbidden")
    assert_error(owner_client.patch(f"{URL}/{foreign_deal.id}", {"title": "x"}, format="json"), 404, "deal_not_found")
    deal.refresh_from_db()
    assert deal.title == "КАСКО Toyota"


def test_renaming_onto_an_open_deal_title_is_409(owner_client, tenant, deal):
    other = DealFactory(tenant=tenant, client=deal.client, title="Другая")

    assert_error(owner_client.patch(f"{URL}/{other.id}", {"title": deal.title}, format="json"), 409, "deal_conflict")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "won"}, "status"),
        ({"title": ""}, "title"),
        ({"sales_agent_id": None}, "sales_agent_id"),
        ({"expected_close_date": "tomorrow"}, "expected_close_date"),
    ],
)
def test_patch_bad_input_is_400(owner_client, deal, change, field):
    assert_error(owner_client.patch(f"{URL}/{deal.id}", change, format="json"), 400, "validation_error", field)


def test_journal_lists_notes_and_system_entries_newest_first(manager_client, deal, manager):
    manager_client.post(f"{URL}/{deal.id}/journal", {"text": "Позвонил клиенту"}, format="json")
    manager_client.patch(f"{URL}/{deal.id}", {"status": "estimating"}, format="json")

    response = manager_client.get(f"{URL}/{deal.id}/journal")

    assert response.status_code == 200
    assert [(row["kind"], row["text"]) for row in response.json()] == [
        ("system", "Статус: draft → estimating"),
        ("note", "Позвонил клиенту"),
    ]
    assert response["X-Total-Count"] == "2"
    assert response.json()[0]["author_id"] == str(manager.uuid)


def test_journal_note_is_201(manager_client, deal, manager):
    response = manager_client.post(
        f"{URL}/{deal.id}/journal", {"text": "Скан паспорта", "attachments": ["https://drive/x"]}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["kind"] == "note"
    entry = JournalEntry.objects.get(pk=response.json()["id"])
    assert (entry.author_id, entry.attachments) == (manager.uuid, ["https://drive/x"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"text": "a", "attachments": [3]}, "attachments.0"),
    ],
)
def test_journal_bad_input_is_400(manager_client, deal, payload, field):
    assert_error(
        manager_client.post(f"{URL}/{deal.id}/journal", payload, format="json"), 400, "validation_error", field
    )
    assert not deal.journal.exists()


def test_journal_of_unknown_colleague_or_foreign_deal(api_client, owner_client, deal, other_manager, foreign_deal):
    for path in (f"{URL}/{uuid.uuid4()}/journal", f"{URL}/{foreign_deal.id}/journal", f"{URL}/x/journal"):
        assert_error(owner_client.get(path), 404, "deal_not_found")
        assert_error(owner_client.post(path, {"text": "a"}, format="json"), 404, "deal_not_found")
    colleague = api_client(other_manager)
    assert_error(colleague.get(f"{URL}/{deal.id}/journal"), 403, "forbidden")
    assert_error(colleague.post(f"{URL}/{deal.id}/journal", {"text": "a"}, format="json"), 403, "forbidden")
    assert not JournalEntry.objects.exists()


def test_journal_query_filters_do_not_apply_to_the_deal(owner_client, deal):
    assert owner_client.get(f"{URL}/{deal.id}/journal?status=closed&search=zzz").status_code == 200
