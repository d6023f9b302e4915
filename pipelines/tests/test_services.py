import threading

import pytest
from django.db import IntegrityError, connection, transaction

from crm.errors import Conflict, Forbidden, ValidationFailed
from crm.services import tenant_create
from crm.tests.factories import TenantFactory, UserFactory
from pipelines import services
from pipelines.models import InboundDelivery, Lead, LeadHistory, Pipeline, Stage
from pipelines.tests.factories import PipelineFactory, StageFactory

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and concurrency need PostgreSQL"
)


def test_tenant_create_gives_the_default_pipeline(db):
    tenant = tenant_create(name="New", slug="new")

    pipeline = Pipeline.objects.get(tenant=tenant)
    assert (pipeline.name, pipeline.is_default) == ("Основная", True)
    stages = list(pipeline.stages.order_by("order_index").values_list("name", "is_closed", "order_index"))
    assert stages == [
        ("Новые", False, 0),
        ("В работе", False, 1),
        ("Переговоры", False, 2),
        ("Успешно", True, 3),
        ("Отказ", True, 4),
    ]


def test_default_pipeline_ensure_is_idempotent(tenant):
    first, created = services.default_pipeline_ensure(tenant=tenant)
    again, created_again = services.default_pipeline_ensure(tenant=tenant)

    assert (created, created_again) == (True, False)
    assert first.pk == again.pk
    assert Stage.objects.filter(tenant=tenant).count() == 5


def test_database_refuses_a_second_default_pipeline(pipeline):
    with pytest.raises(IntegrityError), transaction.atomic():
        Pipeline.objects.create(tenant=pipeline.tenant, name="Second", is_default=True)


def test_database_refuses_two_stages_at_one_position(stages):
    with pytest.raises(IntegrityError), transaction.atomic():
        Stage.objects.create(tenant=stages[0].tenant, pipeline=stages[0].pipeline, name="Twin", order_index=0)


def test_each_tenant_has_its_own_default(pipeline, other_pipeline):
    assert Pipeline.objects.filter(is_default=True).count() == 2


def test_stage_create_without_stages_starts_at_zero(tenant):
    pipeline = PipelineFactory(tenant=tenant)

    assert services.stage_create(pipeline=pipeline, name="First").order_index == 0


def test_stage_update_to_a_free_index_shifts_nothing(pipeline, stages):
    services.stage_update(stage=stages[0], order_index=10)

    assert list(pipeline.stages.order_by("order_index").values_list("order_index", flat=True)) == [1, 2, 3, 4, 10]


def test_stage_update_rejects_unknown_fields(stages):
    with pytest.raises(ValidationFailed):
        services.stage_update(stage=stages[0], pipeline=None)


def test_stage_delete_refuses_with_leads(stages, make_lead):
    make_lead(stage=stages[0])

    with pytest.raises(services.StageHasLeads):
        services.stage_delete(stage=stages[0])


def test_pipeline_create_over_the_limit(tenant):
    Pipeline.objects.bulk_create(Pipeline(tenant=tenant, name=str(n)) for n in range(50))

    with pytest.raises(Conflict):
        services.pipeline_create(tenant=tenant, name="51")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8 916 123-45-67", "+79161234567"),
        ("+7 (916) 123 45 67", "+79161234567"),
        ("79161234567", "+79161234567"),
        ("9161234567", "+79161234567"),
        ("+1 650-555-1234", "+16505551234"),
        ("", None),
        (None, None),
    ],
)
def test_phone_normalize(raw, expected):
    assert services.phone_normalize(raw, region="RU") == expected


def test_phone_normalize_uses_the_region():
    assert services.phone_normalize("030 1234567", region="DE") == "+49301234567"


@pytest.mark.parametrize("raw", ["abc", "12", "+7916123456789000"])
def test_phone_normalize_rejects(raw):
    with pytest.raises(ValidationFailed) as error:
        services.phone_normalize(raw, region="RU")
    assert "phone" in error.value.details


def test_lead_create_requires_some_identity(pipeline):
    with pytest.raises(ValidationFailed):
        services.lead_create(tenant=pipeline.tenant, name="  ")


def test_lead_create_names_the_lead_after_the_contact(pipeline):
    lead = services.lead_create(tenant=pipeline.tenant, email="x@example.com")

    assert lead.name == "x@example.com"


def test_lead_create_in_a_pipeline_without_open_stages(tenant, pipeline):
    closed_only = PipelineFactory(tenant=tenant)
    StageFactory(pipeline=closed_only, is_closed=True)

    with pytest.raises(ValidationFailed) as error:
        services.lead_create(tenant=tenant, name="X", pipeline=closed_only)
    assert "pipeline_id" in error.value.details


def test_lead_create_rejects_an_inactive_assignee(tenant, pipeline):
    gone = UserFactory(tenant=tenant, is_active=False)

    with pytest.raises(ValidationFailed):
        services.lead_create(tenant=tenant, name="X", assigned_to=gone)


def test_manager_may_not_touch_a_colleagues_lead(manager, other_manager, stages, make_lead):
    lead = make_lead(assigned_to=other_manager)

    with pytest.raises(Forbidden):
        services.lead_update(lead=lead, acting_user=manager, name="Mine")
    with pytest.raises(Forbidden):
        services.lead_move_to_stage(lead=lead, stage=stages[1], acting_user=manager)


def test_move_to_a_foreign_stage_is_refused(make_lead, other_pipeline):
    lead = make_lead()

    with pytest.raises(ValidationFailed):
        services.lead_move_to_stage(lead=lead, stage=other_pipeline.stages.first())


def test_move_to_the_same_stage_is_a_no_op(stages, make_lead, events):
    lead = make_lead()

    with events.capture():
        services.lead_move_to_stage(lead=lead, stage=stages[0])

    assert not lead.history.exists()
    assert events.sent == []


def test_lead_touch_records_and_emits_once(owner, make_lead, events):
    lead = make_lead()

    with events.capture():
        entry = services.lead_touch(lead=lead, kind="task", acting_user=owner, text="Задача «Позвонить» создана")

    assert (entry.kind, entry.user_id, entry.lead_id) == ("task", owner.pk, lead.pk)
    assert [(e.event_type, e.lead_id) for e in events.sent] == [("lead_updated", lead.pk)]


def test_lead_history_record_emits_nothing(make_lead, events):
    lead = make_lead()

    with events.capture():
        services.lead_history_record(lead=lead, kind="comment", text="x")

    assert events.sent == []
    assert lead.history.count() == 1


def test_nothing_is_emitted_when_the_transaction_rolls_back(pipeline, events):
    def create_then_fail():
        with transaction.atomic():
            services.lead_create(tenant=pipeline.tenant, name="Rolled back")
            raise RuntimeError

    with events.capture(), pytest.raises(RuntimeError):
        create_then_fail()

    assert events.sent == []
    assert not Lead.objects.exists()


def test_intake_matches_an_open_lead_by_email_when_there_is_no_phone(pipeline):
    first, created = services.lead_intake(
        tenant=pipeline.tenant, source="site", delivery_id=None, email="Anna@Example.com"
    )
    second, created_again = services.lead_intake(
        tenant=pipeline.tenant, source="site", delivery_id=None, email="anna@example.com", message="again"
    )

    assert (created, created_again) == (True, False)
    assert first.pk == second.pk


def test_intake_is_scoped_to_the_tenant(pipeline, other_pipeline):
    ours, _ = services.lead_intake(tenant=pipeline.tenant, source="whatsapp", delivery_id="m1", phone="+79160000001")
    theirs, created = services.lead_intake(
        tenant=other_pipeline.tenant, source="whatsapp", delivery_id="m1", phone="+79160000001"
    )

    assert created is True
    assert ours.pk != theirs.pk
    assert theirs.tenant_id == other_pipeline.tenant_id


# ---------------------------------------------------------------- concurrency (separate connections)


def _run_together(count: int, work) -> list:
    """Run `work(i)` in `count` threads released at once; each thread has its own DB connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_defaults_leave_exactly_one():
    tenant = TenantFactory(slug="race")

    results = _run_together(6, lambda n: services.pipeline_create(tenant=tenant, name=f"P{n}", is_default=True))

    assert all(isinstance(result, Pipeline | Conflict) for result in results), results
    assert Pipeline.objects.filter(tenant=tenant, is_default=True).count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_default_pipeline_ensure_creates_one():
    tenant = TenantFactory(slug="race-ensure")

    results = _run_together(5, lambda n: services.default_pipeline_ensure(tenant=tenant))

    assert sum(created for _, created in results) == 1
    assert Pipeline.objects.filter(tenant=tenant).count() == 1
    assert Stage.objects.filter(tenant=tenant).count() == 5


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_stage_moves_keep_history_consistent():
    tenant = TenantFactory(slug="race-move")
    pipeline, _ = services.default_pipeline_ensure(tenant=tenant)
    stages = list(pipeline.stages.order_by("order_index"))
    lead = services.lead_create(tenant=tenant, name="Contested")

    results = _run_together(4, lambda n: services.lead_move_to_stage(lead=lead, stage=stages[n + 1]))

    assert all(isinstance(result, Lead) for result in results), results
    moves = list(LeadHistory.objects.filter(lead=lead, kind="stage_changed").order_by("id"))
    assert len(moves) == 4
    chain = [stages[0].pk] + [move.to_stage_id for move in moves]
    assert [move.from_stage_id for move in moves] == chain[:-1]
    lead.refresh_from_db()
    assert lead.stage_id == moves[-1].to_stage_id


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_make_one_lead():
    tenant = TenantFactory(slug="race-intake")
    services.default_pipeline_ensure(tenant=tenant)

    results = _run_together(
        5,
        lambda n: services.lead_intake(
            tenant=tenant, source="whatsapp", delivery_id="wamid.same", phone="+79160000009"
        ),
    )

    assert all(isinstance(result, tuple) for result in results), results
    assert sum(created for _, created in results) == 1
    assert Lead.objects.filter(tenant=tenant).count() == 1
    assert InboundDelivery.objects.filter(tenant=tenant).count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_messages_from_one_phone_make_one_lead():
    tenant = TenantFactory(slug="race-phone")
    services.default_pipeline_ensure(tenant=tenant)

    results = _run_together(
        4,
        lambda n: services.lead_intake(
            tenant=tenant, source="whatsapp", delivery_id=f"wamid.{n}", phone="+79160000010"
        ),
    )

    assert sum(created for _, created in results) == 1
    lead = Lead.objects.get(tenant=tenant)
    assert lead.history.filter(kind="message").count() == 3


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_lead_counts_stay_exact_through_committed_writes():
    from django.db.models import Count, Sum

    from pipelines.models import LeadCount

    tenant = TenantFactory(slug="counts")
    pipeline, _ = services.default_pipeline_ensure(tenant=tenant)
    stages = list(pipeline.stages.order_by("order_index"))
    manager = UserFactory(tenant=tenant)
    leads = [services.lead_create(tenant=tenant, name=f"L{n}", source="site") for n in range(4)]
    services.lead_move_to_stage(lead=leads[0], stage=stages[2])
    services.lead_update(lead=leads[1], assigned_to=manager)
    Lead.objects.filter(pk=leads[2].pk).update(stage=stages[1], source="manual")
    Lead.objects.filter(pk=leads[3].pk).delete()

    actual = {
        (row["pipeline_id"], row["stage_id"], row["assigned_to_id"] or 0, row["source"]): row["n"]
        for row in Lead.objects.filter(tenant=tenant)
        .values("pipeline_id", "stage_id", "assigned_to_id", "source")
        .annotate(n=Count("id"))
    }
    cells = {
        (cell.pipeline_id, cell.stage_id, cell.assignee_key, cell.source): cell.n
        for cell in LeadCount.objects.filter(tenant=tenant, n__gt=0)
    }
    assert cells == actual
    assert LeadCount.objects.filter(tenant=tenant).aggregate(total=Sum("n"))["total"] == 3
