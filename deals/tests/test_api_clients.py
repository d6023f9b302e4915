import pytest

from deals.models import Client
from deals.tests.conftest import assert_error
from deals.tests.factories import ClientFactory, DealFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/clients"

FULL_BODY = {
    "type": "company",
    "full_name": "ООО «Северный ветер»",
    "short_name": "Северный ветер",
    "tax_number": "7712345678",
    "registration_number": "1027700000000",
    "segment": "SMB",
    "status": "potential",
    "contacts": [
        {"type": "phone", "value": "+79161234567", "name": "Иван", "is_primary": True},
        {"type": "email", "value": "office@wind.example"},
    ],
    "notes": "Пришёл по рекомендации",
}


def test_create_returns_201_with_the_stored_client(owner_client, tenant):
    response = owner_client.post(URL, FULL_BODY, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    client = Client.objects.get(pk=body["id"])
    assert client.tenant == tenant
    assert body["full_name"] == "ООО «Северный ветер»"
    assert body["status"] == "potential"
    assert body["contacts"] == [
        {"type": "phone", "value": "+79161234567", "name": "Иван", "is_primary": True},
        {"type": "email", "value": "office@wind.example", "name": "", "is_primary": False},
    ]
    assert client.contacts == body["contacts"]
    assert "office@wind.example" in client.search_text
    assert body["created_at"].endswith("+03:00")


def test_create_with_only_required_fields(manager_client):
    response = manager_client.post(URL, {"type": "individual", "full_name": "Пётр", "status": "active"}, format="json")

    assert response.status_code == 201
    assert response.json()["tax_number"] == ""
    assert response.json()["contacts"] == []


def test_duplicate_tax_number_is_409_client_exists(owner_client, client_obj):
    response = owner_client.post(URL, {**FULL_BODY, "tax_number": client_obj.tax_number}, format="json")

    assert_error(response, 409, "client_exists")
    assert Client.objects.count() == 1


def test_empty_tax_numbers_do_not_conflict_and_other_tenants_do_not_count(owner_client, other_tenant):
    ClientFactory(tenant=other_tenant, tax_number=FULL_BODY["tax_number"])
    body = {**FULL_BODY, "tax_number": ""}

    assert owner_client.post(URL, body, format="json").status_code == 201
    assert owner_client.post(URL, body, format="json").status_code == 201
    assert owner_client.post(URL, FULL_BODY, format="json").status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "alien"}, "type"),
        ({"status": "gone"}, "status"),
        ({"full_name": ""}, "full_name"),
        ({"full_name": 42}, "full_name"),
        ({"full_name": "x" * 256}, "full_name"),
        ({"tax_number": "1" * 33}, "tax_number"),
        ({"registration_number": "1" * 33}, "registration_number"),
        ({"notes": "x" * 10_001}, "notes"),
        ({"contacts": [{"type": "pigeon", "value": "x"}]}, "contacts.0.type"),
        ({"contacts": [{"type": "phone"}]}, "contacts.0.value"),
        ({"contacts": [{"type": "phone", "value": "1", "is_primary": "yes"}]}, "contacts.0.is_primary"),
        ({"contacts": "+7916"}, "contacts"),
        (
            {"contacts": [{"type": "phone", "value": "1", "is_primary": True}] * 2},
            "contacts",
        ),
    ],
)
def test_bad_input_is_400_and_nothing_is_stored(owner_client, change, field):
    response = owner_client.post(URL, {**FULL_BODY, **change}, format="json")

    assert_error(response, 400, "validation_error", field)
    assert not Client.objects.exists()


def test_missing_required_fields(owner_client):
    body = assert_error(owner_client.post(URL, {}, format="json"), 400, "validation_error")

    assert set(body["details"]) == {"type", "full_name", "status"}


def test_list_is_an_array_with_total_and_link_headers(owner_client, tenant, other_tenant):
    ClientFactory.create_batch(3, tenant=tenant)
    ClientFactory(tenant=other_tenant)

    response = owner_client.get(URL, {"limit": 2})

    assert response.status_code == 200
    assert len(response.json()) == 2
    assert response["X-Total-Count"] == "3"
    assert 'rel="next"' in response["Link"]
    second = owner_client.get(URL, {"limit": 2, "offset": 2})
    assert len(second.json()) == 1
    assert 'rel="prev"' in second["Link"]


def test_list_is_newest_first(owner_client, tenant):
    older, newer = ClientFactory(tenant=tenant), ClientFactory(tenant=tenant)

    ids = [row["id"] for row in owner_client.get(URL).json()]

    assert ids == [str(newer.id), str(older.id)]


@pytest.mark.parametrize("query", ["status=active&status=inactive", "status=active,inactive"])
def test_status_filter_accepts_repeated_and_comma_forms(owner_client, tenant, query):
    active = ClientFactory(tenant=tenant, status="active")
    inactive = ClientFactory(tenant=tenant, status="inactive")
    ClientFactory(tenant=tenant, status="potential")

    ids = {row["id"] for row in owner_client.get(f"{URL}?{query}").json()}

    assert ids == {str(active.id), str(inactive.id)}


def test_type_filter(owner_client, tenant):
    person = ClientFactory(tenant=tenant, type="individual")
    ClientFactory(tenant=tenant, type="company")

    assert [row["id"] for row in owner_client.get(URL, {"type": "individual"}).json()] == [str(person.id)]


@pytest.mark.parametrize("fragment", ["ромашк", "РОМАШ", "Daisy", "770123", "daisy@flowers", "+7903"])
def test_search_matches_names_tax_number_and_contacts(owner_client, tenant, fragment):
    match = ClientFactory(
        tenant=tenant,
        full_name="ООО Ромашка",
        short_name="Daisy",
        tax_number="7701234567",
        contacts=[
            {"type": "email", "value": "daisy@flowers.example", "name": "", "is_primary": False},
            {"type": "phone", "value": "+79031112233", "name": "", "is_primary": True},
        ],
    )
    ClientFactory(tenant=tenant, full_name="ИП Иванов", tax_number="500100200300")

    response = owner_client.get(URL, {"search": fragment})

    assert [row["id"] for row in response.json()] == [str(match.id)]
    assert response["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    "query", ["status=unknown", "type=robot", "limit=0", "limit=201", "offset=-1", "limit=abc", "search=" + "x" * 256]
)
def test_bad_list_queries_are_400(owner_client, query):
    assert_error(owner_client.get(f"{URL}?{query}"), 400, "validation_error")


def test_retrieve(manager_client, client_obj):
    response = manager_client.get(f"{URL}/{client_obj.id}")

    assert response.status_code == 200
    assert response.json()["id"] == str(client_obj.id)


@pytest.mark.parametrize("client_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "123"])
def test_unknown_or_malformed_id_is_404_client_not_found(owner_client, client_id):
    assert_error(owner_client.get(f"{URL}/{client_id}"), 404, "client_not_found")
    assert_error(owner_client.patch(f"{URL}/{client_id}", {}, format="json"), 404, "client_not_found")


def test_another_tenants_client_is_404(owner_client, other_tenant):
    foreign = ClientFactory(tenant=other_tenant)

    assert_error(owner_client.get(f"{URL}/{foreign.id}"), 404, "client_not_found")
    assert_error(owner_client.patch(f"{URL}/{foreign.id}", {"notes": "x"}, format="json"), 404, "client_not_found")
    foreign.refresh_from_db()
    assert foreign.notes == ""


def test_patch_changes_fields_and_search_text(owner_client, client_obj):
    response = owner_client.patch(
        f"{URL}/{client_obj.id}",
        {"short_name": "Ромашка-2", "contacts": [{"type": "telegram", "value": "@romashka"}]},
        format="json",
    )

    assert response.status_code == 200
    client_obj.refresh_from_db()
    assert client_obj.short_name == "Ромашка-2"
    assert "@romashka" in client_obj.search_text
    assert owner_client.get(URL, {"search": "@romash"}).json()[0]["id"] == str(client_obj.id)


def test_patch_to_a_taken_tax_number_is_409(owner_client, tenant, client_obj):
    other = ClientFactory(tenant=tenant, tax_number="5000000001")

    response = owner_client.patch(f"{URL}/{other.id}", {"tax_number": client_obj.tax_number}, format="json")

    assert_error(response, 409, "client_exists")
    other.refresh_from_db()
    assert other.tax_number == "5000000001"


def test_patch_bad_input_is_400(owner_client, client_obj):
    response = owner_client.patch(f"{URL}/{client_obj.id}", {"status": "deleted"}, format="json")

    assert_error(response, 400, "validation_error", "status")


def test_manager_changes_only_clients_of_their_deals(api_client, tenant, manager, other_manager, client_obj):
    DealFactory(tenant=tenant, client=client_obj, sales_agent=other_manager)
    mine = ClientFactory(tenant=tenant)
    DealFactory(tenant=tenant, client=mine, executor=manager)

    denied = api_client(manager).patch(f"{URL}/{client_obj.id}", {"notes": "x"}, format="json")
    allowed = api_client(manager).patch(f"{URL}/{mine.id}", {"notes": "x"}, format="json")

    assert_error(denied, 403, "forbidden")
    assert allowed.status_code == 200
    client_obj.refresh_from_db()
    assert client_obj.notes == ""


def test_managers_list_every_client(manager_client, tenant):
    ClientFactory.create_batch(2, tenant=tenant)

    assert manager_client.get(URL)["X-Total-Count"] == "2"


def test_anonymous_is_401(api_client):
    assert_error(api_client(None).get(URL), 401, "unauthorized")
    assert_error(api_client(None).post(URL, FULL_BODY, format="json"), 401, "unauthorized")


def test_search_pages_and_totals(owner_client, tenant):
    matches = [ClientFactory(tenant=tenant, full_name=f"Альфа {index}") for index in range(5)]
    ClientFactory(tenant=tenant, full_name="Бета")
    newest_first = [str(client.id) for client in reversed(matches)]

    for offset in range(7):
        response = owner_client.get(URL, {"search": "альфа", "limit": 2, "offset": offset})
        assert response["X-Total-Count"] == "5"
        assert [row["id"] for row in response.json()] == newest_first[offset : offset + 2]
