"""The trigger-kept per-week deal counters and the deep-offset page built on them (PostgreSQL only)."""

import datetime
import random

import pytest
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncWeek

from deals.models import Deal, DealStatus, DealWeekCount
from deals.selectors import DealWeekPage
from deals.tests.factories import DealFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the counters are kept by PostgreSQL triggers"),
]

START = datetime.datetime(2025, 3, 2, 21, 30, tzinfo=datetime.UTC)  # a Sunday evening


def counters(tenant) -> dict:
    rows = DealWeekCount.objects.filter(tenant=tenant, count__gt=0)
    return {(row.week, row.status): row.count for row in rows}


def recount(tenant) -> dict:
    rows = (
        Deal.objects.filter(tenant=tenant)
        .annotate(week=TruncWeek("created_at", tzinfo=datetime.UTC))
        .values("week", "status")
        .annotate(n=Count("id"))
    )
    return {(row["week"].date(), row["status"]): row["n"] for row in rows}


@pytest.fixture
def spread(tenant, manager):
    """40 deals over 8 weeks (several around Monday midnight UTC), in every status."""
    rng = random.Random(7)
    statuses = list(DealStatus.values)
    return [
        DealFactory(
            tenant=tenant,
            sales_agent=manager,
            status=statuses[index % len(statuses)],
            created_at=START + datetime.timedelta(hours=rng.randrange(0, 8 * 24 * 7), minutes=rng.randrange(60)),
        )
        for index in range(40)
    ]


def test_counters_follow_inserts_status_changes_and_deletes(owner_client, tenant, other_tenant, spread):
    DealFactory(tenant=other_tenant)
    assert counters(tenant) == recount(tenant)

    draft = next(deal for deal in spread if deal.status == "draft")
    owner_client.patch(f"/api/v1/deals/{draft.id}", {"status": "estimating"}, format="json")
    Deal.objects.filter(pk=spread[1].pk).delete()
    Deal.objects.filter(pk=spread[2].pk).update(status="closed", created_at=START - datetime.timedelta(days=10))

    assert counters(tenant) == recount(tenant)
    assert sum(counters(other_tenant).values()) == 1


@pytest.mark.parametrize("seek_from", [0, 1000])
@pytest.mark.parametrize("query", ["", "status=active,draft", "status=closed&status=issuing"])
def test_every_offset_matches_the_plain_ordering(owner_client, tenant, spread, query, seek_from, monkeypatch):
    monkeypatch.setattr(DealWeekPage, "SEEK_FROM", seek_from)
    statuses = set(query.replace("status=", "").replace("&", ",").split(",")) - {""}
    expected = [
        str(deal.id)
        for deal in Deal.objects.filter(tenant=tenant).order_by("-created_at", "-id")
        if not statuses or deal.status in statuses
    ]

    for offset in range(len(expected) + 1):
        response = owner_client.get(f"/api/v1/deals?{query}&limit=3&offset={offset}")
        assert response.status_code == 200
        assert response["X-Total-Count"] == str(len(expected))
        assert [row["id"] for row in response.json()] == expected[offset : offset + 3], offset
