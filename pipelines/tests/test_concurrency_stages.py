"""A stage deleted while a lead moves into it (or is created in it): 409 or 400, never 500, on real PostgreSQL.

Django's foreign keys are checked at commit (DEFERRABLE INITIALLY DEFERRED), so without a lock on the stage row
the loser found out at COMMIT: an IntegrityError, a 500. The first two tests force each interleaving with two
database connections (one transaction held open in a thread, the other side as a real request that must wait
for it); the last one fires real parallel requests and checks that the database stays consistent.
"""

import threading
import time

import pytest
from django.db import connection, transaction

from conftest import client_for
from pipelines import services
from pipelines.models import Lead, LeadHistory, Stage
from pipelines.tests.factories import StageFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and deferred foreign keys"),
]


class Held(threading.Thread):
    """Run `work` in a transaction of its own connection and keep it open until `release()`."""

    def __init__(self, work):
        super().__init__()
        self.work, self.error = work, None
        self.done_work, self.released = threading.Event(), threading.Event()

    def run(self):
        try:
            with transaction.atomic():
                self.work()
                self.done_work.set()
                assert self.released.wait(timeout=30)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            self.error = exc
        finally:
            self.done_work.set()
            connection.close()

    def release(self):
        self.released.set()
        self.join(timeout=30)


class Request(threading.Thread):
    """One API request on its own connection; `response` once it is answered."""

    def __init__(self, user, method, url, body=None):
        super().__init__()
        self.user, self.method, self.url, self.body, self.response = user, method, url, body, None

    def run(self):
        try:
            client = client_for(self.user)
            self.response = getattr(client, self.method)(self.url, self.body, format="json")
        finally:
            connection.close()


def blocked_or_done(thread: threading.Thread) -> None:
    """Wait until `thread`'s request waits on a row lock in our test database, or has been answered."""
    deadline = time.monotonic() + 15
    while thread.is_alive() and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)


@pytest.fixture
def board(tenant, owner):
    pipeline, _ = services.default_pipeline_ensure(tenant=tenant)
    first = pipeline.stages.order_by("order_index").first()
    doomed = StageFactory(pipeline=pipeline, name="Удаляемая", order_index=50)
    lead = services.lead_create(tenant=tenant, name="Гонка", phone="+79160002001")
    return first, doomed, lead


def assert_consistent(doomed_id: int) -> None:
    """No lead or history entry points at a stage that is gone."""
    if not Stage.objects.filter(pk=doomed_id).exists():
        assert not Lead.objects.filter(stage_id=doomed_id).exists()
        assert not LeadHistory.objects.filter(to_stage_id=doomed_id).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pipelines_lead l LEFT JOIN pipelines_stage s ON s.id = l.stage_id WHERE s.id IS NULL"
        )
        assert cursor.fetchone()[0] == 0


def test_a_delete_that_waits_for_a_move_answers_stage_has_leads(owner, board):
    first, doomed, lead = board
    move = Held(lambda: services.lead_move_to_stage(lead=lead, stage=doomed, acting_user=owner))
    move.start()
    assert move.done_work.wait(timeout=15)

    delete = Request(owner, "delete", f"/api/pipelines/stages/{doomed.pk}")
    delete.start()
    blocked_or_done(delete)
    move.release()
    delete.join(timeout=30)

    assert move.error is None, move.error
    assert delete.response.status_code == 409, delete.response.content
    assert delete.response.json()["error"] == "stage_has_leads"
    lead.refresh_from_db()
    assert lead.stage_id == doomed.pk
    assert_consistent(doomed.pk)


@pytest.mark.parametrize("kind", ["move", "create"])
def test_a_move_or_create_that_waits_for_a_delete_is_a_400(owner, board, kind):
    first, doomed, lead = board
    doomed_id = doomed.pk  # the delete clears the instance's pk
    delete = Held(lambda: services.stage_delete(stage=doomed))
    delete.start()
    assert delete.done_work.wait(timeout=15)

    if kind == "move":
        request = Request(owner, "patch", f"/api/leads/{lead.pk}/stage", {"stage_id": doomed_id})
    else:
        request = Request(owner, "post", "/api/leads", {"name": "Новый", "stage_id": doomed_id})
    request.start()
    blocked_or_done(request)
    delete.release()
    request.join(timeout=30)

    assert delete.error is None, delete.error
    assert request.response.status_code == 400, request.response.content
    body = request.response.json()
    assert (body["error"], list(body["details"])) == ("validation_error", ["stage_id"])
    assert not Stage.objects.filter(pk=doomed_id).exists()
    lead.refresh_from_db()
    assert lead.stage_id == first.pk
    assert Lead.objects.count() == 1
    assert not LeadHistory.objects.filter(kind="stage_changed").exists()
    assert_consistent(doomed_id)


def test_parallel_moves_creates_and_deletes_never_500(tenant, owner, board):
    first, _, _ = board
    pipeline = first.pipeline
    for round_number in range(4):
        doomed_id = StageFactory(pipeline=pipeline, name=f"Раунд {round_number}", order_index=60 + round_number).pk
        leads = [
            services.lead_create(tenant=tenant, name=f"R{round_number}-{n}", phone=f"+7916100{round_number}{n:03d}")
            for n in range(5)
        ]
        barrier = threading.Barrier(8)
        requests = [
            *(Request(owner, "patch", f"/api/leads/{lead.pk}/stage", {"stage_id": doomed_id}) for lead in leads),
            Request(owner, "post", "/api/leads", {"name": f"Новый {round_number}", "stage_id": doomed_id}),
            Request(owner, "delete", f"/api/pipelines/stages/{doomed_id}"),
            Request(owner, "delete", f"/api/pipelines/stages/{doomed_id}"),
        ]
        for request in requests:
            request.run = _after(barrier, request.run)
            request.start()
        for request in requests:
            request.join(timeout=60)

        statuses = [request.response.status_code for request in requests]
        assert all(status in (200, 201, 204, 400, 404, 409) for status in statuses), statuses
        moved_or_created = [s for s in statuses[:6] if s in (200, 201)]
        if Stage.objects.filter(pk=doomed_id).exists():
            assert 204 not in statuses[6:], statuses
            assert Lead.objects.filter(stage_id=doomed_id).count() == len(moved_or_created)
        else:
            assert statuses[6:].count(204) == 1, statuses
            assert moved_or_created == [], statuses
        assert_consistent(doomed_id)


def _after(barrier: threading.Barrier, run):
    def wrapped():
        barrier.wait(timeout=30)
        run()

    return wrapped
