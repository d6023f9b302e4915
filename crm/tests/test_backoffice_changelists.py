"""Every changelist of a tenant-owned model: constant query count at 10 and 100 rows, own tenant's rows only."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.tests.factories import TEST_PASSWORD
from deals.tests.factories import ClientFactory, DealFactory
from pipelines.models import Lead, Pipeline
from pipelines.services import default_pipeline_ensure
from pipelines.tests.factories import LeadFactory, PipelineFactory
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory


def make_pipelines(tenant, user, rows):
    PipelineFactory.create_batch(rows, tenant=tenant)


def make_leads(tenant, user, rows):
    stage = default_pipeline_ensure(tenant=tenant)[0].stages.first()
    LeadFactory.create_batch(rows, stage=stage, assigned_to=user)


def make_tasks(tenant, user, rows):
    stage = default_pipeline_ensure(tenant=tenant)[0].stages.first()
    for lead in LeadFactory.create_batch(rows, stage=stage, assigned_to=user):
        LeadTaskFactory(lead=lead, due_at=timezone.now())


def make_clients(tenant, user, rows):
    ClientFactory.create_batch(rows, tenant=tenant)


def make_deals(tenant, user, rows):
    for _ in range(rows):
        DealFactory(tenant=tenant, sales_agent=user, executor=user)


CHANGELISTS = {
    "/admin/pipelines/pipeline/": make_pipelines,
    "/admin/pipelines/lead/": make_leads,
    "/admin/tasks/leadtask/": make_tasks,
    "/admin/deals/client/": make_clients,
    "/admin/deals/deal/": make_deals,
}


@pytest.fixture
def staff(client, owner):
    client.login(username=owner.username, password=TEST_PASSWORD)
    return client


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelist_query_count_is_the_same_at_10_and_100_rows(staff, tenant, owner, url):
    make = CHANGELISTS[url]
    make(tenant, owner, 10)
    at_10 = count_queries(staff, url)
    make(tenant, owner, 90)
    assert count_queries(staff, url) == at_10


@pytest.mark.parametrize("rows", [10, 100])
@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelist_query_count_bound(staff, tenant, owner, url, rows, django_assert_max_num_queries):
    CHANGELISTS[url](tenant, owner, rows)
    with django_assert_max_num_queries(14):
        assert staff.get(url).status_code == 200


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelist_shows_no_foreign_rows(staff, tenant, owner, other_tenant, foreign_owner, url):
    CHANGELISTS[url](other_tenant, foreign_owner, 3)
    response = staff.get(url)
    assert response.context["cl"].result_count == 0


def test_lead_and_task_counts_match_the_rows_made(tenant, owner):
    make_tasks(tenant, owner, 3)
    assert Lead.objects.count() == 3
    assert LeadTask.objects.count() == 3
    assert Pipeline.objects.filter(tenant=tenant).count() == 1
