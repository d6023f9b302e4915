"""Due buckets as filters: boundaries on the tenant's wall clock."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q

from tasks.selectors import due_bucket_q

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")


def test_today_is_the_tenants_calendar_day():
    now = datetime(2025, 3, 10, 14, 30, tzinfo=UTC)  # 00:30 on 11 March in Vladivostok

    q = due_bucket_q("today", tz=VLADIVOSTOK, now=now)

    assert q == Q(
        due_at__gte=datetime(2025, 3, 11, tzinfo=VLADIVOSTOK), due_at__lt=datetime(2025, 3, 12, tzinfo=VLADIVOSTOK)
    )


def test_week_spans_seven_calendar_days_from_the_start_of_today():
    now = datetime(2025, 3, 10, 14, 30, tzinfo=UTC)

    q = due_bucket_q("week", tz=VLADIVOSTOK, now=now)

    assert q == Q(
        due_at__gte=datetime(2025, 3, 11, tzinfo=VLADIVOSTOK), due_at__lt=datetime(2025, 3, 18, tzinfo=VLADIVOSTOK)
    )


def test_overdue_is_open_and_before_now():
    now = datetime(2025, 3, 10, 14, 30, tzinfo=UTC)

    assert due_bucket_q("overdue", tz=VLADIVOSTOK, now=now) == Q(status="open", due_at__lt=now)


def test_an_unknown_bucket_is_a_programming_error():
    with pytest.raises(ValueError, match="tomorrow"):
        due_bucket_q("tomorrow", tz=VLADIVOSTOK)
