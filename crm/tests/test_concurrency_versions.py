"""Two clients that read version N and write with it at once: exactly one wins, the other is told (SPEC §11).

Real parallel requests on their own database connections (threads, PostgreSQL row locks). To make the race certain
rather than likely, the test holds the object's row lock while both requests start, waits until PostgreSQL reports
both of them blocked on it, and only then lets go: both have read version N and are inside their services.
"""

import threading
import time
import uuid

import pytest
from django.db import connection, connections, transaction

from conftest import client_for
from crm.tests.factories import TenantFactory, UserFactory
from deals.models import Client, Deal, DealTask, Payment, Policy
from deals.tests.factories import DealFactory, DealTaskFactory, PaymentFactory, PolicyFactory
from pipelines.models import Lead
from pipelines.services import default_pipeline_ensure
from tasks.models import LeadTask
from tasks.tests.factories import make_lead

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]

_WAITING_ON_LOCKS = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
)


def _wait_until_blocked(count: int) -> None:
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while True:
            # Statistics views are a snapshot per transaction, and the caller is inside one: take a fresh one.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(_WAITING_ON_LOCKS)
            if cursor.fetchone()[0] >= count:
                return
            assert time.monotonic() < deadline, "the requests never reached the row lock"
            time.sleep(0.02)


def race(user, model, pk, url: str, bodies: list[dict], **headers) -> list:
    """PATCH `url` with each body at once, every request blocked on the row until all have arrived."""
    clients = [client_for(user) for _ in bodies]
    responses: list = [None] * len(bodies)
    errors: list[BaseException] = []

    def send(index: int) -> None:
        try:
            responses[index] = clients[index].patch(url, bodies[index], format="json", **headers)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(bodies))]
    with transaction.atomic():
        model.objects.select_for_update().filter(pk=pk).values_list("pk").get()
        for thread in threads:
            thread.start()
        _wait_until_blocked(len(bodies))
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return responses


@pytest.fixture
def world():
    tenant = TenantFactory(name="Race", slug="race")
    owner = UserFactory(tenant=tenant, role="owner", username="race-owner")
    pipeline, _ = default_pipeline_ensure(tenant=tenant)
    return tenant, owner, list(pipeline.stages.order_by("order_index"))


def _objects(tenant, owner) -> dict:
    lead = make_lead(tenant=tenant, assigned_to=owner)
    deal = DealFactory(tenant=tenant, sales_agent=owner)
    payment = PaymentFactory(policy=PolicyFactory(deal=deal, tenant=tenant))
    return {
        "lead": (Lead, lead.pk, f"/api/leads/{lead.pk}", "name", ["Анна", "Ирина"]),
        "lead_task": (
            LeadTask,
            (task := LeadTask.objects.create(tenant=tenant, lead=lead, assigned_to=owner)).pk,
            f"/api/leads/tasks/{task.pk}",
            "note",
            ["первый", "второй"],
        ),
        "client": (Client, deal.client_id, f"/api/v1/clients/{deal.client_id}", "full_name", ["ООО А", "ООО Б"]),
        "deal": (Deal, deal.pk, f"/api/v1/deals/{deal.pk}", "title", ["КАСКО А", "КАСКО Б"]),
        "policy": (Policy, payment.policy_id, f"/api/v1/policies/{payment.policy_id}", "documents", [["a"], ["b"]]),
        "payment": (Payment, payment.pk, f"/api/v1/payments/{payment.pk}", "notes", ["первый", "второй"]),
        "v1_task": (
            DealTask,
            (v1_task := DealTaskFactory(tenant=tenant, assignee=owner)).pk,
            f"/api/v1/tasks/{v1_task.pk}",
            "subject",
            ["Позвонить", "Написать"],
        ),
    }


@pytest.mark.parametrize("kind", ["lead", "lead_task", "client", "deal", "policy", "payment", "v1_task"])
def test_two_writers_with_one_if_match_one_wins_one_gets_412(world, kind):
    tenant, owner, _stages = world
    model, pk, url, field, values = _objects(tenant, owner)[kind]
    version = client_for(owner).get(url)["ETag"]
    assert version == '"1"'

    responses = race(owner, model, pk, url, [{field: value} for value in values], HTTP_IF_MATCH=version)

    assert sorted(r.status_code for r in responses) == [200, 412], [r.content for r in responses]
    winner = next(index for index, r in enumerate(responses) if r.status_code == 200)
    loser = responses[1 - winner].json()
    assert loser["error"] == "precondition_failed"
    stored = model.objects.get(pk=pk)
    assert (stored.version, getattr(stored, field)) == (2, values[winner])
    assert responses[winner]["ETag"] == '"2"'


def test_two_stage_moves_with_one_if_match_one_wins_one_gets_412(world):
    tenant, owner, stages = world
    lead = make_lead(tenant=tenant, assigned_to=owner)
    url = f"/api/leads/{lead.pk}/stage"
    targets = [stages[1].pk, stages[2].pk]

    responses = race(owner, Lead, lead.pk, url, [{"stage_id": stage} for stage in targets], HTTP_IF_MATCH='"1"')

    assert sorted(r.status_code for r in responses) == [200, 412], [r.content for r in responses]
    winner = next(index for index, r in enumerate(responses) if r.status_code == 200)
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.stage_id, stored.version) == (targets[winner], 2)
    # One move, one history entry: the loser left no trace.
    assert list(stored.history.filter(kind="stage_changed").values_list("to_stage_id", flat=True)) == [targets[winner]]


def test_two_writers_with_one_body_version_one_wins_one_gets_409(world):
    tenant, owner, _stages = world
    deal = DealFactory(tenant=tenant, sales_agent=owner)
    bodies = [{"title": "Первый", "version": 1}, {"title": "Второй", "version": 1}]

    responses = race(owner, Deal, deal.pk, f"/api/v1/deals/{deal.pk}", bodies)

    assert sorted(r.status_code for r in responses) == [200, 409], [r.content for r in responses]
    winner = next(index for index, r in enumerate(responses) if r.status_code == 200)
    assert responses[1 - winner].json()["error"] == "conflict"
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.title, stored.version) == (bodies[winner]["title"], 2)


def test_writers_without_a_precondition_both_apply_in_turn(world):
    """Neither If-Match nor version: the change applies as before, each one a new version (no lost increment)."""
    tenant, owner, _stages = world
    deal = DealFactory(tenant=tenant, sales_agent=owner)
    bodies = [{"tags": [str(uuid.uuid4())]}, {"description": "второй"}]

    responses = race(owner, Deal, deal.pk, f"/api/v1/deals/{deal.pk}", bodies)

    assert [r.status_code for r in responses] == [200, 200]
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.version, stored.tags, stored.description) == (3, bodies[0]["tags"], "второй")
    assert sorted(r.json()["version"] for r in responses) == [2, 3]
