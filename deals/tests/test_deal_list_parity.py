"""The deal list's fast path (a supervisor's plain or status-filtered page, one hand-written statement over the
per-week counters, see deals.selectors.DealWeekPage) shows every deal exactly as the ORM path shows it.

The ORM path is the deal's own detail (`GET /api/v1/deals/<id>`: the model read by the viewset's queryset, then
`DealSerializer`), so a column read into the wrong attribute, a value converted differently or a deal left out
fails here, naming the deal and the field.
"""

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.http import QueryDict

from crm.bounds import MAX_BIGINT
from crm.tests.factories import UserFactory
from deals.models import Deal, DealStatus
from deals.selectors import DealWeekPage, deal_week_page
from deals.tests.factories import ClientFactory, DealFactory, PolicyFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the fast path runs on PostgreSQL only")


@pytest.fixture
def deals(tenant, owner) -> list[Deal]:
    """Deals as unlike each other as the list's fields allow: every nullable field null in one, extremes in others."""
    agent = UserFactory(tenant=tenant, role="manager", username="parity_agent")
    executor = UserFactory(tenant=tenant, role="manager", username="parity_executor")
    nameless = ClientFactory(tenant=tenant, full_name="")
    quoted = ClientFactory(tenant=tenant, full_name='ООО "Ёлка" \\ Ltd\n😀')
    renewed = PolicyFactory(deal=DealFactory(tenant=tenant, client=quoted, sales_agent=agent, title="Старая"))
    full = DealFactory(
        tenant=tenant,
        client=quoted,
        sales_agent=agent,
        executor=executor,
        title="Полная " + "я" * 240,
        description='Строка 1\nстрока "2"\t\\ 😀',
        status=DealStatus.ACTIVE,
        expected_close_date=date(9999, 12, 31),
        tags=["VIP", "ёлка", 'в "кавычках"', "😀", ""],
        folder_id="drive-" + "x" * 240,
        lead_id=MAX_BIGINT,
        renews_policy=renewed,
    )
    bare = DealFactory(tenant=tenant, client=nameless, sales_agent=agent, title="Пустая", folder_id="", tags=[])
    oldest = DealFactory(
        tenant=tenant, client=quoted, sales_agent=owner, title="Давняя", expected_close_date=date(1, 1, 1), lead_id=1
    )
    Deal.objects.filter(pk=oldest.pk).update(
        created_at=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), version=2_147_483_647
    )
    # Two deals created in the same microsecond: the id breaks the tie, in both paths.
    twin_moment = datetime(2020, 2, 29, 12, 0, 0, 1, tzinfo=UTC)
    twins = [DealFactory(tenant=tenant, client=nameless, sales_agent=agent, title=f"Близнец {n}") for n in (1, 2)]
    Deal.objects.filter(pk__in=[twin.pk for twin in twins]).update(created_at=twin_moment, updated_at=twin_moment)
    DealFactory(tenant=tenant, client=nameless, sales_agent=agent, title="Закрытая", status=DealStatus.CLOSED)
    return [full, bare, oldest, *twins]


def listed_and_detailed(owner_client, query: str) -> tuple[list[dict], dict[str, dict]]:
    response = owner_client.get(f"/api/v1/deals?{query}")
    assert response.status_code == 200, response.content
    rows = response.json()
    details = {}
    for row in rows:
        detail = owner_client.get(f"/api/v1/deals/{row['id']}")
        assert detail.status_code == 200, detail.content
        details[row["id"]] = detail.json()
    return rows, details


def differences(rows: list[dict], details: dict[str, dict]) -> list[str]:
    return [
        f"deal {row['id']}.{key}: list {row.get(key)!r}, detail {details[row['id']].get(key)!r}"
        for row in rows
        for key in sorted(set(row) | set(details[row["id"]]))
        if row.get(key) != details[row["id"]].get(key)
    ]


@pytest.mark.parametrize("query", ["limit=200", "status=draft&status=active&limit=200", "limit=3&offset=2"])
def test_the_fast_path_lists_every_deal_as_its_detail_shows_it(owner, owner_client, deals, query):
    assert deal_week_page(user=owner, query_params=QueryDict(query), statuses=[]) is not None, "not the fast path"

    rows, details = listed_and_detailed(owner_client, query)

    statuses = QueryDict(query).getlist("status")
    expected = Deal.objects.filter(tenant=owner.tenant).order_by("-created_at", "-id")
    expected = expected.filter(status__in=statuses) if statuses else expected
    offset, limit = int(QueryDict(query).get("offset", 0)), int(QueryDict(query)["limit"])
    assert [row["id"] for row in rows] == [str(pk) for pk in expected.values_list("pk", flat=True)][offset:][:limit]
    assert not differences(rows, details), "\n".join(differences(rows, details))


def test_a_deep_page_found_through_the_weeks_lists_deals_as_their_details(owner_client, deals, monkeypatch):
    # The week seek serves offsets from SEEK_FROM on; lowered here so that a few deals reach it.
    monkeypatch.setattr(DealWeekPage, "SEEK_FROM", 1)

    rows, details = listed_and_detailed(owner_client, "limit=2&offset=3")

    expected = Deal.objects.filter(tenant=deals[0].tenant).order_by("-created_at", "-id").values_list("pk", flat=True)
    assert [row["id"] for row in rows] == [str(pk) for pk in expected[3:5]]
    assert not differences(rows, details), "\n".join(differences(rows, details))
