"""`GET /api/pipelines/{id}/summary` (SPEC §12 «Budget»): leads and the sum of their budgets per stage."""

from decimal import Decimal

import pytest

from pipelines import services
from pipelines.tests.factories import LeadFactory, PipelineFactory, StageFactory


def _summary(client, pipeline):
    response = client.get(f"/api/pipelines/{pipeline.pk}/summary")
    assert response.status_code == 200, response.content
    return response.json()


def test_every_stage_in_stage_order_with_its_count_and_sum(owner_client, pipeline, stages, make_lead):
    make_lead(stage=stages[0], price=Decimal("0.10"))
    make_lead(stage=stages[0], price=Decimal("0.20"))
    make_lead(stage=stages[0], price=None)
    make_lead(stage=stages[2], price=Decimal("999999999999.99"))

    body = _summary(owner_client, pipeline)

    assert body == {
        "pipeline_id": pipeline.pk,
        "stages": [
            {"stage_id": stages[0].pk, "leads": 3, "price_total": 0.3},
            {"stage_id": stages[1].pk, "leads": 0, "price_total": 0},
            {"stage_id": stages[2].pk, "leads": 1, "price_total": 999999999999.99},
            {"stage_id": stages[3].pk, "leads": 0, "price_total": 0},
            {"stage_id": stages[4].pk, "leads": 0, "price_total": 0},
        ],
    }


def test_stage_order_follows_order_index_not_ids(owner_client, pipeline, stages):
    first = services.stage_create(pipeline=pipeline, name="Самая первая", order_index=0)

    body = _summary(owner_client, pipeline)

    assert [row["stage_id"] for row in body["stages"]] == [first.pk, *(stage.pk for stage in stages)]


def test_leads_of_other_pipelines_and_tenants_are_not_counted(owner_client, tenant, pipeline, stages, other_pipeline):
    second = StageFactory(pipeline=PipelineFactory(tenant=tenant))
    LeadFactory(stage=second, price=Decimal("5"))
    LeadFactory(stage=other_pipeline.stages.order_by("order_index").first(), price=Decimal("7"))
    LeadFactory(stage=stages[0], price=Decimal("1"))

    body = _summary(owner_client, pipeline)

    assert body["stages"][0] == {"stage_id": stages[0].pk, "leads": 1, "price_total": 1}
    assert sum(row["leads"] for row in body["stages"]) == 1


@pytest.mark.parametrize("role", ["owner", "rop", "admin"])
def test_supervisors_see_the_whole_tenant(api_client, tenant, role, manager, other_manager, pipeline, stages):
    from crm.tests.factories import UserFactory

    supervisor = UserFactory(tenant=tenant, role=role, username=f"boss-{role}")
    LeadFactory(stage=stages[1], assigned_to=manager, price=Decimal("100"))
    LeadFactory(stage=stages[1], assigned_to=other_manager, price=Decimal("250.50"))
    LeadFactory(stage=stages[1], price=Decimal("1"))

    body = _summary(api_client(supervisor), pipeline)

    assert body["stages"][1] == {"stage_id": stages[1].pk, "leads": 3, "price_total": 351.5}


def test_a_manager_counts_only_their_own_leads(manager_client, manager, other_manager, pipeline, stages):
    LeadFactory(stage=stages[1], assigned_to=manager, price=Decimal("100"))
    LeadFactory(stage=stages[1], assigned_to=other_manager, price=Decimal("250.50"))
    LeadFactory(stage=stages[3], assigned_to=other_manager, price=Decimal("9"))
    LeadFactory(stage=stages[0], price=Decimal("1"))

    body = _summary(manager_client, pipeline)

    assert [(row["leads"], row["price_total"]) for row in body["stages"]] == [(0, 0), (1, 100), (0, 0), (0, 0), (0, 0)]


def test_the_sum_follows_moves_and_edits(owner_client, manager, pipeline, stages, make_lead):
    lead = make_lead(price=Decimal("10"))
    services.lead_move_to_stage(lead=lead, stage=stages[1])
    services.lead_update(lead=lead, price=Decimal("15.25"))

    body = _summary(owner_client, pipeline)

    assert [(row["leads"], row["price_total"]) for row in body["stages"][:2]] == [(0, 0), (1, 15.25)]


def test_another_tenants_pipeline_is_404(owner_client, pipeline, other_pipeline):
    LeadFactory(stage=other_pipeline.stages.first(), price=Decimal("7"))

    response = owner_client.get(f"/api/pipelines/{other_pipeline.pk}/summary")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "7" not in response.content.decode()


@pytest.mark.parametrize("pk", ["999999", "abc", "0", "-1", "99999999999999999999"])
def test_an_unknown_or_malformed_pipeline_is_404(owner_client, pipeline, pk):
    response = owner_client.get(f"/api/pipelines/{pk}/summary")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_anonymous_is_401(api_client, pipeline):
    response = api_client(None).get(f"/api/pipelines/{pipeline.pk}/summary")

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_only_get(owner_client, pipeline, method):
    response = getattr(owner_client, method)(f"/api/pipelines/{pipeline.pk}/summary", {}, format="json")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("user_fixture", ["owner", "manager"])
def test_query_count_is_constant(
    api_client, request, tenant, manager, pipeline, stages, django_assert_num_queries, user_fixture
):
    """The user, the pipeline, its stages, the grouped leads: the same with 5 stages and 2 leads as with 25 and 122."""
    user = request.getfixturevalue(user_fixture)
    client = api_client(user)
    LeadFactory(stage=stages[0], assigned_to=manager, price=Decimal("1"))
    LeadFactory(stage=stages[1], price=None)
    with django_assert_num_queries(4) as small:
        _summary(client, pipeline)

    for n in range(20):
        services.stage_create(pipeline=pipeline, name=f"Ещё {n}")
    all_stages = list(pipeline.stages.all())
    for n in range(120):
        LeadFactory(stage=all_stages[n % len(all_stages)], assigned_to=manager if n % 2 else None, price=Decimal(n))
    with django_assert_num_queries(4):
        body = _summary(client, pipeline)

    assert len(body["stages"]) == 25
    assert sum(row["leads"] for row in body["stages"]) == (122 if user_fixture == "owner" else 61)
    assert len(small.captured_queries) == 4


def _direct(pipeline, user=None):
    """The figures counted from the leads themselves, per stage id."""
    from django.db.models import Count, Sum

    from pipelines.models import Lead

    leads = Lead.objects.filter(pipeline=pipeline)
    if user is not None:
        leads = leads.filter(assigned_to=user)
    grouped = leads.values_list("stage_id").annotate(Count("pk"), Sum("price"))
    return {stage_id: (count, float(total or 0)) for stage_id, count, total in grouped}


def test_the_figures_stay_exact_through_every_kind_of_write(
    owner_client, manager_client, tenant, manager, other_manager, pipeline, stages
):
    """On PostgreSQL the summary reads trigger-kept cells: every write path must keep them equal to the leads."""
    from pipelines.models import Lead

    leads = [
        services.lead_create(tenant=tenant, name=f"L{n}", price=Decimal(f"{n}00.25"), assigned_to=manager)
        for n in range(1, 7)
    ]
    services.lead_update(lead=leads[0], price=Decimal("1.10"))
    services.lead_update(lead=leads[1], price=None)
    services.lead_update(lead=leads[2], assigned_to=other_manager)
    services.lead_move_to_stage(lead=leads[3], stage=stages[2])
    Lead.objects.filter(pk=leads[4].pk).update(price=Decimal("77.70"), stage=stages[1], source="site")
    Lead.objects.filter(pk=leads[5].pk).delete()
    Lead.objects.filter(pk__in=[leads[0].pk, leads[3].pk]).update(price=Decimal("0.05"))

    for client, user in ((owner_client, None), (manager_client, manager)):
        body = _summary(client, pipeline)
        expected = _direct(pipeline, user)
        shown = {row["stage_id"]: (row["leads"], row["price_total"]) for row in body["stages"] if row["leads"]}
        assert shown == expected


def test_a_board_search_sums_the_matching_leads(owner, pipeline, stages):
    from pipelines.selectors import pipeline_summary

    LeadFactory(stage=stages[0], name="Анна", price=Decimal("10"))
    LeadFactory(stage=stages[0], name="Борис", price=Decimal("20"))

    [first, *_] = pipeline_summary(pipeline=pipeline, stages=stages, user=owner, filters={"search": "Анна"})
    [bounded, *_] = pipeline_summary(pipeline=pipeline, stages=stages, user=owner, filters={"price_from": 15})

    assert (first.leads, first.price_total) == (1, Decimal("10"))
    assert (bounded.leads, bounded.price_total) == (1, Decimal("20"))
