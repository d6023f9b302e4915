"""Versions and preconditions (SPEC §11), over HTTP for every versioned object of both API families.

Each case creates its object through the API (201 with `version` 1 and `ETag: "1"`), then reads, edits and moves it
the way a client would: every stored change is +1, a no-op changes nothing, a stale `If-Match` is 412 and a stale
body `version` 409 with nothing changed, and a malformed one is 400 (never 500).
"""

from dataclasses import dataclass

import pytest

from crm.tests.test_schema_conformance import assert_conforms
from deals.models import Client, Deal, DealTask, Payment, Policy
from deals.tests.factories import ClientFactory, DealFactory, PolicyFactory
from pipelines.models import Lead
from pipelines.services import default_pipeline_ensure
from tasks.models import LeadTask
from tasks.tests.factories import make_lead


@dataclass
class Case:
    """One versioned object: how to create it, where it lives and an edit that changes `field`."""

    model: type
    create_url: str
    create_body: dict
    detail: str
    field: str
    edit: dict
    other: dict


@pytest.fixture(params=["lead", "lead_task", "client", "deal", "policy", "payment", "v1_task"])
def case(request, tenant, owner) -> Case:
    default_pipeline_ensure(tenant=tenant)
    owner_uuid = str(owner.uuid)
    if request.param == "lead":
        return Case(
            Lead, "/api/leads", {"name": "Анна"}, "/api/leads/{id}", "name", {"name": "Анна Б."}, {"name": "Ира"}
        )
    if request.param == "lead_task":
        lead = make_lead(tenant=tenant, assigned_to=owner)
        url = f"/api/leads/{lead.pk}/tasks"
        return Case(LeadTask, url, {"type": "call"}, "/api/leads/tasks/{id}", "note", {"note": "x"}, {"note": "y"})
    if request.param == "client":
        body = {"type": "company", "full_name": "ООО Ромашка", "status": "active"}
        edits = {"full_name": "ООО Лютик"}, {"full_name": "ООО Мак"}
        return Case(Client, "/api/v1/clients", body, "/api/v1/clients/{id}", "full_name", *edits)
    deal = DealFactory(tenant=tenant, sales_agent=owner)
    if request.param == "deal":
        body = {"client_id": str(deal.client_id), "title": "ОСАГО", "sales_agent_id": owner_uuid}
        return Case(
            Deal, "/api/v1/deals", body, "/api/v1/deals/{id}", "title", {"title": "ОСАГО 2"}, {"title": "ОСАГО 3"}
        )
    if request.param == "policy":
        body = {
            "policy_number": "P-1",
            "insurer": "Ингосстрах",
            "effective_from": "2025-01-01",
            "effective_to": "2025-12-31",
            "premium_amount": 100,
            "status": "draft",
        }
        edits = {"documents": ["scan.pdf"]}, {"documents": ["scan-2.pdf"]}
        return Case(Policy, f"/api/v1/deals/{deal.pk}/policies", body, "/api/v1/policies/{id}", "documents", *edits)
    if request.param == "payment":
        policy = PolicyFactory(deal=deal, tenant=tenant)
        body = {
            "deal_id": str(deal.pk),
            "policy_id": str(policy.pk),
            "payment_type": "client_premium",
            "amount": 10,
            "currency": "RUB",
        }
        edits = {"notes": "Первый взнос"}, {"notes": "Второй взнос"}
        return Case(Payment, "/api/v1/payments", body, "/api/v1/payments/{id}", "notes", *edits)
    body = {"subject": "Позвонить", "description": "Уточнить", "assignee_id": owner_uuid}
    edits = {"subject": "Перезвонить"}, {"subject": "Написать"}
    return Case(DealTask, "/api/v1/tasks", body, "/api/v1/tasks/{id}", "subject", *edits)


def _create(client, case: Case) -> str:
    response = client.post(case.create_url, case.create_body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 1
    assert response["ETag"] == '"1"'
    return case.detail.format(id=response.json()["id"])


def _stored(case: Case, url: str):
    obj = case.model.objects.get(pk=url.rsplit("/", 1)[1])
    return obj.version, getattr(obj, case.field)


def test_created_read_and_changed_objects_carry_their_version_and_etag(owner_client, case):
    url = _create(owner_client, case)

    read = owner_client.get(url)
    assert (read.status_code, read.json()["version"], read["ETag"]) == (200, 1, '"1"')

    changed = owner_client.patch(url, case.edit, format="json")
    assert (changed.status_code, changed.json()["version"], changed["ETag"]) == (200, 2, '"2"')
    assert _stored(case, url) == (2, case.edit[case.field])

    again = owner_client.patch(url, case.edit, format="json")
    assert (again.status_code, again.json()["version"], again["ETag"]) == (200, 2, '"2"')
    assert _stored(case, url)[0] == 2


def test_a_current_if_match_or_body_version_applies_the_change(owner_client, case):
    url = _create(owner_client, case)

    response = owner_client.patch(url, case.edit, format="json", HTTP_IF_MATCH='"1"')
    assert (response.status_code, response["ETag"]) == (200, '"2"')
    response = owner_client.patch(url, {**case.other, "version": 2}, format="json")
    assert (response.status_code, response["ETag"]) == (200, '"3"')
    assert _stored(case, url) == (3, case.other[case.field])


def test_a_stale_if_match_is_412_and_changes_nothing(owner_client, case):
    url = _create(owner_client, case)
    owner_client.patch(url, case.edit, format="json")
    before = _stored(case, url)

    response = owner_client.patch(url, case.other, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 412, response.content
    assert response.json()["error"] == "precondition_failed"
    assert _stored(case, url) == before


@pytest.mark.parametrize("stale", [0, 1, 3, 2**31 - 1])
def test_a_stale_body_version_is_409_conflict_and_changes_nothing(owner_client, case, stale):
    url = _create(owner_client, case)
    owner_client.patch(url, case.edit, format="json")
    before = _stored(case, url)

    response = owner_client.patch(url, {**case.other, "version": stale}, format="json")

    assert response.status_code == 409, response.content
    assert response.json()["error"] == "conflict"
    assert "version" in response.json()["details"]
    assert _stored(case, url) == before


@pytest.mark.parametrize(
    "if_match",
    ["1", 'W/"1"', '"1", "2"', '"-1"', '"01"', '"1.0"', '"abc"', "", '"99999999999"', '"2147483648"', "'1'", '"1'],
)
def test_a_malformed_if_match_is_400_and_changes_nothing(owner_client, case, if_match):
    url = _create(owner_client, case)

    response = owner_client.patch(url, case.edit, format="json", HTTP_IF_MATCH=if_match)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_error"
    assert "If-Match" in response.json()["details"]
    assert _stored(case, url)[0] == 1


@pytest.mark.parametrize("version", ["1", True, -1, 1.5, 2**31, 10**30, None, [1], {"v": 1}])
def test_a_malformed_body_version_is_400_and_changes_nothing(owner_client, case, version):
    url = _create(owner_client, case)
    before = _stored(case, url)

    response = owner_client.patch(url, {**case.edit, "version": version}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_error"
    # Numbers beyond 64 bits are refused by the input guard while parsing, which names the body.
    assert set(response.json()["details"]) & {"version", "body"}
    assert _stored(case, url) == before


def test_if_match_star_asks_nothing_of_an_existing_object(owner_client, case):
    url = _create(owner_client, case)

    response = owner_client.patch(url, case.edit, format="json", HTTP_IF_MATCH="*")

    assert (response.status_code, response["ETag"]) == (200, '"2"')


def test_if_match_is_checked_before_the_body_version(owner_client, case):
    url = _create(owner_client, case)

    response = owner_client.patch(url, {**case.edit, "version": 7}, format="json", HTTP_IF_MATCH='"7"')

    assert response.status_code == 412
    assert _stored(case, url)[0] == 1


def test_lists_carry_versions_but_no_etag(owner_client, tenant, owner):
    make_lead(tenant=tenant, assigned_to=owner)
    ClientFactory(tenant=tenant)

    for url, rows in (("/api/leads", lambda body: body["leads"]), ("/api/v1/clients", lambda body: body)):
        response = owner_client.get(url)
        assert response.status_code == 200
        assert [row["version"] for row in rows(response.json())] == [1]
        assert "ETag" not in response


# -- the stage move, reassignment and status transitions ------------------------------------------------------------


@pytest.fixture
def lead_and_stages(tenant, owner):
    pipeline, _ = default_pipeline_ensure(tenant=tenant)
    stages = list(pipeline.stages.order_by("order_index"))
    return make_lead(tenant=tenant, assigned_to=owner), stages


def test_a_stage_move_is_a_new_version_and_honours_if_match(owner_client, lead_and_stages):
    lead, stages = lead_and_stages
    url = f"/api/leads/{lead.pk}/stage"

    moved = owner_client.patch(url, {"stage_id": stages[1].pk}, format="json", HTTP_IF_MATCH='"1"')
    assert (moved.status_code, moved.json()["version"], moved["ETag"]) == (200, 2, '"2"')

    stale = owner_client.patch(url, {"stage_id": stages[2].pk}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    conflict = owner_client.patch(url, {"stage_id": stages[2].pk, "version": 1}, format="json")
    assert conflict.status_code == 409
    malformed = owner_client.patch(url, {"stage_id": stages[2].pk}, format="json", HTTP_IF_MATCH="2")
    assert malformed.status_code == 400
    same = owner_client.patch(url, {"stage_id": stages[1].pk}, format="json", HTTP_IF_MATCH='"2"')
    assert (same.status_code, same["ETag"]) == (200, '"2"')

    lead.refresh_from_db()
    assert (lead.stage_id, lead.version) == (stages[1].pk, 2)


def test_reassignment_is_a_new_version(owner_client, lead_and_stages, manager):
    lead, _ = lead_and_stages

    response = owner_client.patch(f"/api/leads/{lead.pk}", {"assigned_to_user_id": manager.pk}, format="json")

    assert (response.status_code, response.json()["version"]) == (200, 2)


def test_a_deal_patch_of_fields_and_status_is_one_version(owner_client, tenant, owner):
    deal = DealFactory(tenant=tenant, sales_agent=owner)

    response = owner_client.patch(
        f"/api/v1/deals/{deal.pk}", {"title": "Новое имя", "status": "estimating"}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert (response.status_code, response.json()["version"], response["ETag"]) == (200, 2, '"2"')
    deal.refresh_from_db()
    assert (deal.title, deal.status, deal.version) == ("Новое имя", "estimating", 2)
    assert sorted(deal.journal.values_list("text", flat=True)) == ["Статус: draft → estimating"]


def test_a_refused_transition_changes_no_version(owner_client, tenant, owner):
    deal = DealFactory(tenant=tenant, sales_agent=owner)

    response = owner_client.patch(f"/api/v1/deals/{deal.pk}", {"title": "X", "status": "active"}, format="json")

    assert response.status_code == 400
    deal.refresh_from_db()
    assert (deal.title != "X", deal.status, deal.version) == (True, "draft", 1)


def test_an_idempotent_replay_carries_the_etag_of_the_first_response(owner_client, owner):
    body = {"type": "company", "full_name": "ООО Повтор", "status": "active"}
    key = "6a1f8f1e-3c1d-4a55-9d3a-1c2b3d4e5f60"

    first = owner_client.post("/api/v1/clients", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    replay = owner_client.post("/api/v1/clients", body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert replay["Idempotent-Replayed"] == "true"
    assert (first["ETag"], replay["ETag"]) == ('"1"', '"1"')


@pytest.mark.parametrize("stale", [{"HTTP_IF_MATCH": '"9"'}, {"version": 9}], ids=["if-match", "body-version"])
def test_stale_answers_conform_to_the_schema(owner_client, tenant, owner, stale):
    lead = make_lead(tenant=tenant, assigned_to=owner)
    deal = DealFactory(tenant=tenant, sales_agent=owner)
    headers = {key: value for key, value in stale.items() if key.startswith("HTTP_")}
    body = {key: value for key, value in stale.items() if not key.startswith("HTTP_")}
    for url, template, change in (
        (f"/api/leads/{lead.pk}", "/api/leads/{id}", {"name": "Б"}),
        (f"/api/v1/deals/{deal.pk}", "/api/v1/deals/{deal_id}", {"title": "Б"}),
    ):
        response = owner_client.patch(url, {**change, **body}, format="json", **headers)
        assert response.status_code == (412 if headers else 409)
        assert_conforms(template, "PATCH", response)
        fresh = owner_client.patch(url, change, format="json", HTTP_IF_MATCH='"1"')
        assert fresh.status_code == 200
        assert_conforms(template, "PATCH", fresh)
