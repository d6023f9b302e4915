"""Reads of lead tasks: due buckets in the tenant's timezone and the lead table's task columns."""

from datetime import datetime, time, timedelta, tzinfo

from django.db.models import DateTimeField, F, Func, IntegerField, OuterRef, Q, Subquery
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Coalesce
from django.utils import timezone

from tasks.models import DueBucket, LeadTask, TaskStatus


def day_start(day, tz: tzinfo) -> datetime:
    """Midnight of a calendar day on the wall clock of `tz`."""
    return datetime.combine(day, time.min, tzinfo=tz)


def due_bucket_q(bucket: str, *, tz: tzinfo, now: datetime | None = None) -> Q:
    """The filter of one due bucket, with «today» taken on the tenant's wall clock (SPEC §7).

    today: due within the tenant's current calendar day; overdue: open and due before now;
    week: start of today <= due_at < start of today + 7 days.
    """
    now = now or timezone.now()
    today = timezone.localtime(now, tz).date()
    start = day_start(today, tz)
    if bucket == DueBucket.TODAY:
        return Q(due_at__gte=start, due_at__lt=day_start(today + timedelta(days=1), tz))
    if bucket == DueBucket.OVERDUE:
        return Q(status=TaskStatus.OPEN, due_at__lt=now)
    if bucket == DueBucket.WEEK:
        return Q(due_at__gte=start, due_at__lt=day_start(today + timedelta(days=7), tz))
    raise ValueError(f"Unknown due bucket {bucket!r}")


def lead_task_annotations(lead_ref: str = "pk") -> dict[str, BaseExpression]:
    """`open_tasks_count` and `next_task_due_at` of a lead, as correlated subqueries for a Lead queryset.

    `lead_ref` names the lead's id in the outer query. Both read the (lead, status, due_at) index.
    """
    open_tasks = LeadTask.objects.filter(lead=OuterRef(lead_ref), status=TaskStatus.OPEN).order_by()
    # COUNT as a plain function, not an aggregate, so the subquery has no GROUP BY and always yields one row.
    count = open_tasks.annotate(n=Func(F("pk"), function="COUNT", output_field=IntegerField())).values("n")
    next_due = open_tasks.filter(due_at__isnull=False).order_by("due_at").values("due_at")[:1]
    return {
        "open_tasks_count": Coalesce(Subquery(count, output_field=IntegerField()), 0),
        "next_task_due_at": Subquery(next_due, output_field=DateTimeField()),
    }
