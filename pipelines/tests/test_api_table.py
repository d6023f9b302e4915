import base64
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from pipelines.models import Lead
from pipelines.selectors import TABLE_KEYS
from pipelines.tests.factories import PipelineFactory, StageFactory

ROW_KEYS = {
    "id",
    "name",
    "phone",
    "email",
    "source",
    "pipeline_id",
    "pipeline_name",
    "stage_id",
    "stage_name",
    "stage_color",
    "assigned_to_user_id",
    "assigned_to_name",
    "price",
    "open_tasks_count",
    "next_task_due_at",
    "moved_to_stage_at",
    "created_at",
    "updated_at",
}


def test_row_has_exactly_the_spec_keys(owner_client, manager, stages, make_lead):
    lead = make_lead(assigned_to=manager, email="a@example.com")

    response = owner_client.get("/api/v2/leads/table")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"rows", "total"}
    assert body["total"] == 1
    [row] = body["rows"]
    assert set(row) == ROW_KEYS == set(TABLE_KEYS)
    assert row["id"] == lead.pk
    assert (row["pipeline_name"], row["stage_name"], row["stage_id"]) == ("Основная", "Новые", stages[0].pk)
    assert (row["assigned_to_user_id"], row["assigned_to_name"]) == (manager.pk, manager.full_name)
    assert (row["open_tasks_count"], row["next_task_due_at"]) == (0, None)
    assert row["created_at"].endswith("+03:00")
    assert row["email"] == "a@example.com"


def test_unassigned_row(owner_client, make_lead):
    make_lead()

    [row] = owner_client.get("/api/v2/leads/table").json()["rows"]

    assert (row["assigned_to_user_id"], row["assigned_to_name"]) == (None, None)


def test_default_order_is_newest_first(owner_client, make_lead):
    now = timezone.now()
    old = make_lead()
    new = make_lead()
    Lead.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=1))
    Lead.objects.filter(pk=new.pk).update(created_at=now)

    rows = owner_client.get("/api/v2/leads/table").json()["rows"]

    assert [row["id"] for row in rows] == [new.pk, old.pk]


@pytest.mark.parametrize("key", sorted(ROW_KEYS))
def test_every_column_sorts_both_ways(owner_client, manager, other_manager, tenant, stages, make_lead, key):
    make_lead(name="Борис", assigned_to=manager, stage=stages[1], source="site")
    make_lead(name="Анна", assigned_to=other_manager, email="z@example.com")
    make_lead(name="Вера", stage=StageFactory(pipeline=PipelineFactory(tenant=tenant, name="Ещё"), color="#fff"))

    ascending = owner_client.get(f"/api/v2/leads/table?ordering={key}")
    descending = owner_client.get(f"/api/v2/leads/table?ordering=-{key}")

    assert (ascending.status_code, descending.status_code) == (200, 200)
    up = ascending.json()["rows"]
    down = descending.json()["rows"]
    assert len(up) == len(down) == 3
    values = [row[key] for row in up if row[key] is not None]
    assert values == sorted(values)
    if len({row[key] for row in up}) == 3:
        assert [row["id"] for row in down] == [row["id"] for row in reversed(up)]


def test_sort_by_stage_name(owner_client, stages, make_lead):
    make_lead(name="в переговорах", stage=stages[2])
    make_lead(name="новый", stage=stages[0])
    make_lead(name="в работе", stage=stages[1])

    rows = owner_client.get("/api/v2/leads/table?ordering=stage_name").json()["rows"]

    assert [row["stage_name"] for row in rows] == ["В работе", "Новые", "Переговоры"]


def test_filters_and_search(owner_client, manager, tenant, stages, make_lead):
    other_stage = StageFactory(pipeline=PipelineFactory(tenant=tenant))
    a = make_lead(name="Анна", source="whatsapp", assigned_to=manager)
    b = make_lead(name="Борис", stage=stages[1], phone="+79035550011")
    c = make_lead(name="Вера", stage=other_stage)

    def ids(query):
        response = owner_client.get(f"/api/v2/leads/table?{query}")
        assert response.status_code == 200
        assert response.json()["total"] == len(response.json()["rows"])
        return {row["id"] for row in response.json()["rows"]}

    assert ids(f"pipeline_id={other_stage.pipeline_id}") == {c.pk}
    assert ids(f"stage_id={stages[1].pk}") == {b.pk}
    assert ids(f"assigned_to_user_id={manager.pk}") == {a.pk}
    assert ids("source=whatsapp") == {a.pk}
    assert ids("search=Бор") == {b.pk}
    assert ids("search=5550011") == {b.pk}


def test_manager_sees_only_their_rows(manager_client, manager, other_manager, make_lead):
    mine = make_lead(assigned_to=manager)
    make_lead(assigned_to=other_manager)

    body = manager_client.get("/api/v2/leads/table").json()

    assert [row["id"] for row in body["rows"]] == [mine.pk]
    assert body["total"] == 1


def test_another_tenant_never_shows(owner_client, make_lead, other_pipeline):
    from pipelines.tests.factories import LeadFactory

    LeadFactory(stage=other_pipeline.stages.first())
    mine = make_lead()

    body = owner_client.get("/api/v2/leads/table").json()

    assert [row["id"] for row in body["rows"]] == [mine.pk]
    assert body["total"] == 1


def test_anonymous_is_401(api_client, pipeline):
    response = api_client(None).get("/api/v2/leads/table")

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("ordering=secret", "ordering"),
        ("ordering=-tenant_id", "ordering"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("offset=-5", "offset"),
        ("offset=x", "offset"),
        ("stage_id=x", "stage_id"),
        ("source=fax", "source"),
        ("cursor=garbage", "cursor"),
        ("cursor=&offset=10", "cursor"),
        ("cursor=&ordering=phone", "cursor"),
    ],
)
def test_bad_query_is_400(owner_client, make_lead, query, field):
    make_lead()

    response = owner_client.get(f"/api/v2/leads/table?{query}")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]


def test_offset_pagination(owner_client, make_lead):
    leads = [make_lead() for _ in range(5)]

    body = owner_client.get("/api/v2/leads/table?limit=2&offset=2&ordering=id").json()

    assert [row["id"] for row in body["rows"]] == [leads[2].pk, leads[3].pk]
    assert body["total"] == 5


@pytest.mark.parametrize("ordering", ["-created_at", "created_at", "name", "-stage_name", "id", "-moved_to_stage_at"])
def test_cursor_pagination_walks_every_row_once(owner_client, stages, make_lead, ordering):
    now = timezone.now()
    leads = [make_lead(name=f"L{n % 3}", stage=stages[n % 2]) for n in range(7)]
    for n, lead in enumerate(leads):
        Lead.objects.filter(pk=lead.pk).update(created_at=now - timedelta(minutes=n // 2))
    expected = [row["id"] for row in owner_client.get(f"/api/v2/leads/table?ordering={ordering}").json()["rows"]]

    seen = []
    cursor = ""
    while cursor is not None:
        body = owner_client.get("/api/v2/leads/table", {"ordering": ordering, "limit": 3, "cursor": cursor}).json()
        assert body["total"] == 7
        seen += [row["id"] for row in body["rows"]]
        cursor = body["next_cursor"]

    assert seen == expected


def test_query_count_is_constant(owner_client, manager, make_lead, django_assert_max_num_queries):
    for n in range(30):
        make_lead(assigned_to=manager if n % 2 else None)
    # The user, then the page with its total.
    for limit in (5, 30):
        with django_assert_max_num_queries(2):
            response = owner_client.get(f"/api/v2/leads/table?limit={limit}&ordering=stage_name")
        assert len(response.json()["rows"]) == limit


def test_totals_follow_every_filter_and_write(owner_client, manager, other_manager, tenant, stages, make_lead):
    from pipelines import services

    leads = [make_lead(assigned_to=manager, source="site") for _ in range(3)] + [make_lead() for _ in range(2)]
    services.lead_move_to_stage(lead=leads[0], stage=stages[1])
    services.lead_update(lead=leads[1], assigned_to=other_manager)
    Lead.objects.filter(pk=leads[4].pk).delete()

    def total(query=""):
        return owner_client.get(f"/api/v2/leads/table?{query}").json()["total"]

    assert total() == 4
    assert total(f"stage_id={stages[1].pk}") == 1
    assert total(f"stage_id={stages[0].pk}") == 3
    assert total(f"assigned_to_user_id={manager.pk}") == 2
    assert total(f"assigned_to_user_id={other_manager.pk}&source=site") == 1
    assert total(f"pipeline_id={stages[0].pipeline_id}&source=manual") == 1
    assert total("search=Lead") == 4


def test_the_scoped_where_is_used_as_is(owner, make_lead):
    from pipelines.table_sql import page_sql

    leads = Lead.objects.visible_to(owner).filter(source="site")

    sql, params = page_sql(leads, key="created_at", descending=True, after=None, limit=50, offset=0, total=("0", []))

    assert "IN (SELECT" not in sql
    assert params[-2:] == [50, 0]


def test_a_joined_scope_goes_through_its_ids(owner, stages, make_lead):
    from pipelines.table_sql import without_joins

    leads = without_joins(Lead.objects.visible_to(owner).filter(stage__is_closed=False))

    assert "IN (SELECT" in str(leads.query)


def test_a_page_past_the_end_still_has_the_total(owner_client, make_lead):
    make_lead()

    body = owner_client.get("/api/v2/leads/table?offset=10").json()

    assert body == {"rows": [], "total": 1}


@pytest.mark.parametrize("ordering", ["stage_name", "-stage_name", "pipeline_name", "-pipeline_name", "stage_color"])
def test_related_sorts_page_like_a_full_sort(owner_client, tenant, stages, make_lead, ordering):
    second = PipelineFactory(tenant=tenant, name="Альфа")
    twins = [StageFactory(pipeline=second, name="Новые", color="#000"), StageFactory(pipeline=second, name="Архив")]
    leads = [make_lead(stage=(stages + twins)[n % 7]) for n in range(23)]
    key = ordering.lstrip("-")
    column = {"stage_name": "stage__name", "pipeline_name": "pipeline__name", "stage_color": "stage__color"}[key]
    values = dict(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("pk", column))
    expected = sorted(values, key=lambda pk: (values[pk] is None, values[pk] or "", pk))
    if ordering.startswith("-"):
        expected.reverse()

    pages = [
        owner_client.get("/api/v2/leads/table", {"ordering": ordering, "limit": 5, "offset": offset}).json()
        for offset in range(0, 25, 5)
    ]

    assert [row["id"] for page in pages for row in page["rows"]] == expected
    assert {page["total"] for page in pages} == {23}


@pytest.mark.parametrize(
    "ordering", ["-created_at", "name", "-email", "assigned_to_name", "-assigned_to_name", "-open_tasks_count"]
)
def test_offset_pages_are_slices_of_one_sort(owner_client, manager, other_manager, make_lead, ordering):
    # Offset pages pick their ids in a subquery first (on the lead table alone for its own columns): the pages
    # must still be exact slices of the whole sort, NULLs and ties included.
    for n in range(17):
        make_lead(
            name=f"Лид {n % 4}",
            email=None if n % 3 else f"l{n}@example.com",
            assigned_to=[None, manager, other_manager][n % 3],
        )

    whole = owner_client.get("/api/v2/leads/table", {"ordering": ordering, "limit": 100}).json()["rows"]
    pages = [
        owner_client.get("/api/v2/leads/table", {"ordering": ordering, "limit": 4, "offset": offset}).json()
        for offset in range(0, 20, 4)
    ]

    assert [row["id"] for page in pages for row in page["rows"]] == [row["id"] for row in whole]
    assert pages[1]["rows"] == whole[4:8]
    assert {page["total"] for page in pages} == {17}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's LIKE folds the case of ASCII letters only")
def test_search_ignores_the_case_of_cyrillic(owner_client, make_lead):
    lead = make_lead(name="Анна Каренина")

    rows = owner_client.get("/api/v2/leads/table?search=аННа кар").json()["rows"]

    assert [row["id"] for row in rows] == [lead.pk]


# ---------------------------------------------------------------- the budget column (SPEC §12 «Budget»)


def test_price_is_a_json_number_or_null(owner_client, make_lead):
    priced = make_lead(price=Decimal("999999999999.99"))
    make_lead(price=None)
    zero = make_lead(price=Decimal("0.00"))

    rows = owner_client.get("/api/v2/leads/table?ordering=id").json()["rows"]

    assert [row["price"] for row in rows] == [999999999999.99, None, 0]
    assert [row["id"] for row in rows][0::2] == [priced.pk, zero.pk]
    assert b'"price":999999999999.99' in owner_client.get("/api/v2/leads/table?ordering=id").content


def _priced_leads(make_lead):
    prices = [None, "10.50", "0.00", None, "10.50", "999.99", "2.00"]
    return [make_lead(price=Decimal(price) if price else None) for price in prices]


def test_price_sorts_with_nulls_where_other_nullable_keys_put_them(owner_client, make_lead):
    leads = _priced_leads(make_lead)
    by_price = sorted(leads, key=lambda lead: (lead.price is None, lead.price or 0, lead.pk))

    up = owner_client.get("/api/v2/leads/table?ordering=price").json()["rows"]
    down = owner_client.get("/api/v2/leads/table?ordering=-price").json()["rows"]
    # email is another nullable key: NULLs last ascending, first descending.
    email_up = owner_client.get("/api/v2/leads/table?ordering=email").json()["rows"]

    assert [row["id"] for row in up] == [lead.pk for lead in by_price]
    assert [row["id"] for row in down] == [lead.pk for lead in reversed(by_price)]
    assert [row["price"] for row in up] == [0, 2, 10.5, 10.5, 999.99, None, None]
    assert email_up[-1]["email"] is None


@pytest.mark.parametrize("ordering", ["price", "-price"])
def test_cursor_pages_by_price_walk_every_row_once(owner_client, make_lead, ordering):
    _priced_leads(make_lead)
    expected = [row["id"] for row in owner_client.get(f"/api/v2/leads/table?ordering={ordering}").json()["rows"]]

    seen, cursor = [], ""
    while cursor is not None:
        body = owner_client.get("/api/v2/leads/table", {"ordering": ordering, "limit": 2, "cursor": cursor}).json()
        seen += [row["id"] for row in body["rows"]]
        cursor = body["next_cursor"]

    assert seen == expected


@pytest.mark.parametrize("ordering", ["price", "-price"])
def test_offset_pages_by_price_are_slices_of_one_sort(owner_client, make_lead, ordering):
    _priced_leads(make_lead)
    whole = owner_client.get("/api/v2/leads/table", {"ordering": ordering}).json()["rows"]

    pages = [
        owner_client.get("/api/v2/leads/table", {"ordering": ordering, "limit": 3, "offset": offset}).json()["rows"]
        for offset in (0, 3, 6)
    ]

    assert [row["id"] for page in pages for row in page] == [row["id"] for row in whole]


def test_a_price_cursor_of_another_shape_is_400(owner_client, make_lead):
    make_lead()
    bad = [
        base64.urlsafe_b64encode(json.dumps(["price", value, 1]).encode()).decode()
        for value in ("abc", "NaN", "-1", "Infinity", 10.5, None, "1e400")
    ]

    for cursor in bad:
        response = owner_client.get("/api/v2/leads/table", {"ordering": "price", "cursor": cursor})
        assert response.status_code == 400
        assert list(response.json()["details"]) == ["cursor"]


def test_price_bounds_filter_inclusively_with_the_total(owner_client, manager, make_lead):
    leads = _priced_leads(make_lead)

    def ids(query):
        body = owner_client.get(f"/api/v2/leads/table?ordering=id&{query}").json()
        assert body["total"] == len(body["rows"])
        return [row["id"] for row in body["rows"]]

    assert ids("price_from=10.5") == [leads[1].pk, leads[4].pk, leads[5].pk]
    assert ids("price_to=2") == [leads[2].pk, leads[6].pk]
    assert ids("price_from=1&price_to=100") == [leads[1].pk, leads[4].pk, leads[6].pk]
    assert ids(f"price_from=0&assigned_to_user_id={manager.pk}") == []
    assert owner_client.get("/api/leads?price_from=999").json()["total"] == 1


@pytest.mark.parametrize("query", ["price_from=-1", "price_to=abc", "price_from=1.001", "price_to=NaN"])
def test_bad_price_bounds_are_400(owner_client, make_lead, query):
    make_lead()
    field = query.split("=")[0]

    for path in ("/api/v2/leads/table", "/api/leads"):
        response = owner_client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert response.json()["error"] == "validation_error"
        assert field in response.json()["details"]


def test_query_count_is_constant_by_price(owner_client, make_lead, django_assert_max_num_queries):
    for n in range(30):
        make_lead(price=Decimal(n * 100) if n % 3 else None)
    for limit in (5, 30):
        with django_assert_max_num_queries(2):
            response = owner_client.get(f"/api/v2/leads/table?limit={limit}&ordering=-price&price_from=0")
        assert len(response.json()["rows"]) == min(limit, 20)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the matches read once is PostgreSQL's plan")
def test_a_search_pages_and_counts_its_matches_in_two_statements(
    owner_client, owner, manager, make_lead, django_assert_num_queries
):
    """On PostgreSQL a search reads its matches once for the total and the page (table_sql.page_sql_matched_once)."""
    found = [make_lead(name=f"Искомый {n}", assigned_to=manager) for n in range(7)]
    make_lead(name="Другой", assigned_to=manager)
    newest_first = [lead.pk for lead in sorted(found, key=lambda lead: (lead.created_at, lead.pk), reverse=True)]

    def page(query, statements=2):  # the user and tenant, then the page with its total
        with django_assert_num_queries(statements):
            body = owner_client.get(f"/api/v2/leads/table?search=искомый&{query}").json()
        return [row["id"] for row in body["rows"]], body["total"]

    assert page("limit=3") == (newest_first[:3], 7)
    assert page("limit=3&offset=3") == (newest_first[3:6], 7)
    assert page("limit=3&offset=9", statements=3) == ([], 7)  # past the end the total is counted on its own
    first = owner_client.get("/api/v2/leads/table?search=искомый&limit=4&cursor=").json()
    after = owner_client.get(f"/api/v2/leads/table?search=искомый&limit=4&cursor={first['next_cursor']}").json()
    assert [row["id"] for row in first["rows"] + after["rows"]] == newest_first
    assert after["total"] == 7
