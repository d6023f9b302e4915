"""Dashboard selectors and panels of the pipelines app: the funnel (won and lost apart), the loss reasons, new leads
per source per week."""

import datetime
from zoneinfo import ZoneInfo

import time_machine

from pipelines import services
from pipelines.dashboard import (
    funnel_panel,
    leads_per_source_per_week,
    loss_reasons_panel,
    lost_by_reason,
    pipeline_funnel,
    week_start,
)
from pipelines.models import LossReason
from pipelines.tests.factories import LeadFactory


def test_funnel_counts_leads_now_in_each_stage_and_leads_that_reached_it(pipeline, stages, other_pipeline):
    tenant = pipeline.tenant
    first = services.lead_create(tenant=tenant, name="Прошёл всё", phone="+79160000101")
    for stage in stages[1:4]:
        services.lead_move_to_stage(lead=first, stage=stage)
    second = services.lead_create(tenant=tenant, name="Застрял", phone="+79160000102")
    services.lead_move_to_stage(lead=second, stage=stages[1])
    services.lead_create(tenant=tenant, name="Новый", phone="+79160000103")
    LeadFactory(stage=other_pipeline.stages.first())
    funnel = pipeline_funnel(pipeline=pipeline)
    assert [(f.stage.name, f.current, f.reached) for f in funnel] == [
        ("Новые", 1, 3),
        ("В работе", 1, 2),
        ("Переговоры", 0, 1),
        ("Успешно", 1, 1),
        ("Отказ", 0, 0),
    ]


def test_funnel_is_one_query(pipeline, stages, django_assert_num_queries):
    LeadFactory.create_batch(5, stage=stages[2])
    with django_assert_num_queries(1):
        funnel = pipeline_funnel(pipeline=pipeline)
    assert funnel[2].reached == 5


@time_machine.travel(datetime.datetime(2025, 7, 16, 12, 0, tzinfo=datetime.UTC), tick=False)
def test_leads_per_source_per_week_in_the_tenants_calendar(tenant, stages, django_assert_num_queries):
    tenant.timezone = "Asia/Vladivostok"
    tenant.save()
    vladivostok = ZoneInfo("Asia/Vladivostok")
    # Monday 00:30 in Vladivostok is still Sunday in UTC: it belongs to the new week.
    monday = datetime.datetime(2025, 7, 14, 0, 30, tzinfo=vladivostok)
    for source, when in [("site", monday), ("site", monday), ("whatsapp", monday - datetime.timedelta(hours=1))]:
        lead = LeadFactory(stage=stages[0], source=source)
        type(lead).objects.filter(pk=lead.pk).update(created_at=when)
    with django_assert_num_queries(1):
        weeks, counts = leads_per_source_per_week(tenant=tenant, weeks=4)
    assert weeks[-1] == datetime.date(2025, 7, 14)
    assert counts["site"] == [0, 0, 0, 2]
    assert counts["whatsapp"] == [0, 0, 1, 0]


def test_week_start_is_monday():
    assert week_start(datetime.date(2025, 7, 20)) == datetime.date(2025, 7, 14)


def _lose(lead, stage, reason=None):
    services.lead_move_to_stage(lead=lead, stage=stage, loss_reason=reason)


def test_lost_leads_per_reason_most_first_unnamed_last(pipeline, stages, other_pipeline, django_assert_num_queries):
    tenant = pipeline.tenant
    reasons = {r.name: r for r in LossReason.objects.filter(tenant=tenant)}
    for name in ["Дорого", "Дорого", "Нет потребности", None]:
        _lose(LeadFactory(stage=stages[1]), stages[4], reasons.get(name))
    LeadFactory(stage=stages[3])  # won: not lost
    foreign = other_pipeline.stages.get(outcome="lost")
    LeadFactory(stage=foreign, tenant=other_pipeline.tenant)

    with django_assert_num_queries(1):
        counted = lost_by_reason(pipeline=pipeline)

    assert counted == [("Дорого", 2), ("Нет потребности", 1), (None, 1)]


def test_the_funnel_panel_keeps_lost_leads_apart_from_the_way(rf, owner, pipeline, stages):
    tenant = pipeline.tenant
    leads = [services.lead_create(tenant=tenant, name=f"Лид {n}", phone=f"+7916000020{n}") for n in range(4)]
    for lead in leads[:2]:
        services.lead_move_to_stage(lead=lead, stage=stages[1])
    services.lead_move_to_stage(lead=leads[0], stage=stages[3])  # won
    services.lead_move_to_stage(lead=leads[1], stage=stages[4])  # lost after «В работе»
    _lose(leads[2], stages[4])  # lost straight from «Новые»
    request = rf.get("/admin/dashboard/")
    request.user = owner

    panel = funnel_panel(request=request, tenant=tenant)

    assert [row[0] for row in panel.table_rows] == ["Новые", "В работе", "Переговоры", "Успешно", "Отказ (отказ)"]
    rows = {row[0]: row[1:] for row in panel.table_rows}
    # (now, reached, of the entered, from the step before): won follows «Переговоры», lost is not a step.
    assert rows["Успешно"] == ("1", "1", "25%", "—")
    assert rows["Отказ (отказ)"] == ("2", "2", "50%", "—")
    assert rows["В работе"] == ("0", "2", "50%", "50%")


def test_the_won_stage_converts_from_the_last_open_step(rf, owner, pipeline, stages):
    tenant = pipeline.tenant
    leads = [services.lead_create(tenant=tenant, name=f"Лид {n}", phone=f"+7916000030{n}") for n in range(2)]
    for lead in leads:
        for stage in stages[1:3]:
            services.lead_move_to_stage(lead=lead, stage=stage)
    services.lead_move_to_stage(lead=leads[0], stage=stages[3])
    request = rf.get("/admin/dashboard/")
    request.user = owner

    rows = {row[0]: row[1:] for row in funnel_panel(request=request, tenant=tenant).table_rows}

    assert rows["Успешно"] == ("1", "1", "50%", "50%")


def test_the_loss_reasons_panel_names_each_reason_with_its_share(rf, owner, pipeline, stages):
    tenant = pipeline.tenant
    expensive = LossReason.objects.get(tenant=tenant, name="Дорого")
    for reason in [expensive, expensive, expensive, None]:
        _lose(LeadFactory(stage=stages[0]), stages[4], reason)
    request = rf.get("/admin/dashboard/")
    request.user = owner

    panel = loss_reasons_panel(request=request, tenant=tenant)

    assert panel.title == "Причины отказов, воронка «Основная»"
    assert list(panel.table_rows) == [("Дорого", "3", "75%"), ("Причина не указана", "1", "25%")]
