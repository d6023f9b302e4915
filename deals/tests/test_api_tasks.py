import datetime
import uuid

import pytest

from deals.models import DealTask
from deals.tests.conftest import assert_error
from deals.tests.factories import DealFactory, DealTaskFactory, PaymentFactory, PolicyFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks"


@pytest.fixture
def body(deal, manager):
    return {
        "subject": "Запросить ПТС",
        "description": "Нужна копия ПТС для расчёта",
        "deal_id": str(deal.id),
        "assignee_id": str(manager.uuid),
        "due_date": "2025-02-10",
        "priority": "high",
    }


def test_create_is_201(manager_client, body, manager):
    response = manager_client.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["status"], data["priority"], data["due_date"]) == ("new", "high", "2025-02-10")
    assert (data["assignee_id"], data["created_by_id"]) == (str(manager.uuid), str(manager.uuid))
    assert data["started_at"] is None
    assert DealTask.objects.get(pk=data["id"]).deal_id == uuid.UUID(body["deal_id"])


def test_deal_is_taken_from_the_policy_or_payment(owner_client, body, payment):
    del body["deal_id"]

    response = owner_client.post(URL, {**body, "payment_id": str(payment.id)}, format="json")

    assert response.json()["deal_id"] == str(payment.deal_id)


def test_task_without_deal_and_default_priority(owner_client, manager):
    response = owner_client.post(
        URL, {"subject": "s", "description": "d", "assignee_id": str(manager.uuid)}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["deal_id"], response.json()["priority"]) == (None, "normal")


def test_unknown_deal_is_404_deal_not_found(owner_client, body, foreign_deal):
    for deal_id in (str(uuid.uuid4()), str(foreign_deal.id)):
        assert_error(owner_client.post(URL, {**body, "deal_id": deal_id}, format="json"), 404, "deal_not_found")
    assert not DealTask.objects.exists()


def test_policy_or_payment_of_another_deal_is_400(owner_client, tenant, body):
    other_policy = PolicyFactory(deal=DealFactory(tenant=tenant))
    other_payment = PaymentFactory(policy=other_policy)

    for field, value in (("policy_id", other_policy.id), ("payment_id", other_payment.id)):
        assert_error(owner_client.post(URL, {**body, field: str(value)}, format="json"), 400, "validation_error", field)
    assert not DealTask.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 256}, "subject"),
        ({"description": None}, "description"),
        ({"assignee_id": str(uuid.uuid4())}, "assignee_id"),
        ({"assignee_id": "me"}, "assignee_id"),
        ({"due_date": "10.02.2025"}, "due_date"),
        ({"priority": "urgent"}, "priority"),
        ({"deal_id": "123"}, "deal_id"),
        ({"policy_id": str(uuid.uuid4())}, "policy_id"),
    ],
)
def test_bad_input_is_400_and_nothing_is_stored(owner_client, body, change, field):
    assert_error(owner_client.post(URL, {**body, **change}, format="json"), 400, "validation_error", field)
    assert not DealTask.objects.exists()


def test_foreign_assignee_is_400(owner_client, body, foreign_owner):
    response = owner_client.post(URL, {**body, "assignee_id": str(foreign_owner.uuid)}, format="json")

    assert_error(response, 400, "validation_error", "assignee_id")


def test_managers_assign_only_to_themselves_and_only_on_their_deals(api_client, body, manager, other_manager):
    client = api_client(manager)

    assert_error(client.post(URL, {**body, "assignee_id": str(other_manager.uuid)}, format="json"), 403, "forbidden")
    colleague = api_client(other_manager)
    assert_error(colleague.post(URL, {**body, "assignee_id": str(other_manager.uuid)}, format="json"), 403, "forbidden")
    assert not DealTask.objects.exists()


def test_list_order_filters_and_visibility(api_client, owner_client, tenant, deal, manager, other_manager, owner):
    later = DealTaskFactory(tenant=tenant, assignee=owner, deal=deal, due_date=datetime.date(2025, 3, 1))
    sooner = DealTaskFactory(tenant=tenant, assignee=owner, due_date=datetime.date(2025, 2, 1), priority="high")
    undated = DealTaskFactory(tenant=tenant, assignee=manager, status="done")
    authored = DealTaskFactory(tenant=tenant, assignee=owner, created_by=manager)
    hidden = DealTaskFactory(tenant=tenant, assignee=other_manager)

    rows = owner_client.get(URL).json()
    assert [row["id"] for row in rows][:2] == [str(sooner.id), str(later.id)]
    assert {row["id"] for row in rows[2:]} == {str(undated.id), str(authored.id), str(hidden.id)}

    def ids(client, query):
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()}

    assert ids(owner_client, f"assignee_id={manager.uuid}") == {str(undated.id)}
    assert ids(owner_client, "status=done") == {str(undated.id)}
    assert ids(owner_client, "status=new,done") == ids(owner_client, "status=new&status=done")
    assert ids(owner_client, f"deal_id={deal.id}") == {str(later.id)}
    assert ids(owner_client, "priority=high") == {str(sooner.id)}
    assert ids(api_client(manager), "") == {str(later.id), str(undated.id), str(authored.id)}


@pytest.mark.parametrize("query", ["status=open", "priority=top", "assignee_id=7", "deal_id=x", "limit=0"])
def test_bad_list_queries_are_400(owner_client, query):
    assert_error(owner_client.get(f"{URL}?{query}"), 400, "validation_error")


def test_retrieve_and_access(api_client, owner_client, tenant, manager, other_manager, other_tenant):
    own = DealTaskFactory(tenant=tenant, assignee=manager)
    foreign = DealTaskFactory(tenant=other_tenant)

    assert api_client(manager).get(f"{URL}/{own.id}").json()["id"] == str(own.id)
    assert_error(api_client(other_manager).get(f"{URL}/{own.id}"), 403, "forbidden")
    assert_error(owner_client.get(f"{URL}/{foreign.id}"), 404, "task_not_found")
    assert_error(owner_client.get(f"{URL}/{uuid.uuid4()}"), 404, "task_not_found")
    assert_error(owner_client.get(f"{URL}/x1"), 404, "task_not_found")
    assert_error(owner_client.patch(f"{URL}/x1", {"status": "done"}, format="json"), 404, "task_not_found")


def test_patch_fields(manager_client, tenant, manager):
    task = DealTaskFactory(tenant=tenant, assignee=manager)

    response = manager_client.patch(
        f"{URL}/{task.id}", {"subject": "Новая тема", "due_date": None, "priority": "low"}, format="json"
    )

    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.subject, task.due_date, task.priority) == ("Новая тема", None, "low")


def test_transitions_set_started_and_completed(manager_client, tenant, manager):
    task = DealTaskFactory(tenant=tenant, assignee=manager)

    started = manager_client.patch(f"{URL}/{task.id}", {"status": "in_progress"}, format="json").json()["started_at"]
    manager_client.patch(f"{URL}/{task.id}", {"status": "waiting"}, format="json")
    again = manager_client.patch(f"{URL}/{task.id}", {"status": "in_progress"}, format="json").json()
    done = manager_client.patch(f"{URL}/{task.id}", {"status": "done"}, format="json").json()

    assert started is not None
    assert again["started_at"] == started
    assert done["completed_at"] is not None
    assert_error(
        manager_client.patch(f"{URL}/{task.id}", {"status": "new"}, format="json"), 409, "invalid_status_transition"
    )


def test_manager_may_not_reassign_to_a_colleague(manager_client, tenant, manager, other_manager):
    task = DealTaskFactory(tenant=tenant, assignee=manager)

    response = manager_client.patch(f"{URL}/{task.id}", {"assignee_id": str(other_manager.uuid)}, format="json")

    assert_error(response, 403, "forbidden")
    task.refresh_from_db()
    assert task.assignee_id == manager.uuid


def test_supervisor_reassigns(owner_client, tenant, manager, other_manager):
    task = DealTaskFactory(tenant=tenant, assignee=manager)

    response = owner_client.patch(f"{URL}/{task.id}", {"assignee_id": str(other_manager.uuid)}, format="json")

    assert response.json()["assignee_id"] == str(other_manager.uuid)
