"""Dashboard selectors of the pipelines app: the funnel of a pipeline and new leads per source per week."""

import datetime
from zoneinfo import ZoneInfo

import time_machine

from pipelines import services
from pipelines.dashboard import leads_per_source_per_week, pipeline_funnel, week_start
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
