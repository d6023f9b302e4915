"""Reads of lead tasks: due buckets in the tenant's timezone, the lead table's task columns and the lean task list."""

from datetime import datetime, time, timedelta, tzinfo
from functools import cache
from types import SimpleNamespace
from typing import cast

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import DateTimeField, F, Func, IntegerField, OuterRef, Q, Subquery
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.api.pagination import (
    ApiPagination,
    CountedPage,
    page_column,
    parse_limit_offset,
    timestamp_positions,
    timestamps_parsed,
    total_and_rows,
)
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


# `/api/tasks` in one statement: the exact total (SPEC §4) and one page of the task's own columns. `{where}` is the
# tenancy layer's and the filters' WHERE as Django compiles it (values travel as parameters); the order is
# LeadTask.Meta.ordering, which the (tenant, [status|type|assignee,] due_at, id) indexes serve. A page past the end
# is the total alone, on one row of NULLs.
_TASK_PAGE_SQL = """
WITH total AS (SELECT COUNT(*) AS n FROM {table} WHERE {where}),
page AS (SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s)
SELECT total.n, {page_columns} FROM total LEFT JOIN page ON TRUE ORDER BY {page_order}
"""
# What the task list shows: every column but the tenant's (LeadTaskSerializer.present reads them by attname).
_LISTED = tuple(field for field in LeadTask._meta.concrete_fields if field.name != "tenant")
_LISTED_NAMES = tuple(field.attname for field in _LISTED)
_LISTED_TIMESTAMPS = timestamp_positions(_LISTED)  # selected as text (crm.api.pagination.page_column)


@cache  # the same text for the life of the process; quoting each name per request cost 0.05 ms
def _task_page_names() -> dict[str, str]:
    def quote(name: str | None) -> str:
        return connection.ops.quote_name(cast(str, name))  # a concrete field's column is never None

    due_at, pk = quote(LeadTask._meta.get_field("due_at").column), quote(LeadTask._meta.pk.column)
    return {
        "table": quote(LeadTask._meta.db_table),
        "columns": ", ".join(quote(field.column) for field in _LISTED),
        "page_columns": ", ".join(page_column("page", field) for field in _LISTED),
        "order": f"{due_at} ASC NULLS LAST, {pk} ASC",
        "page_order": f"page.{due_at} ASC NULLS LAST, page.{pk} ASC",
    }


class TaskRow(SimpleNamespace):
    """A task as the list reads it (every attribute `LeadTaskSerializer.present` uses), without building a model."""


def _task_row(values: tuple) -> TaskRow:
    """The row of the page's columns (_LISTED), by attribute name, its timestamps read from their text."""
    return TaskRow(**dict(zip(_LISTED_NAMES, timestamps_parsed(list(values), _LISTED_TIMESTAMPS), strict=True)))


class TaskListPage(CountedPage):
    """One page of `/api/tasks` and its exact total in one statement, as rows rather than models."""

    def __init__(self, tasks, *, limit: int, offset: int):
        super().__init__(limit=limit, offset=offset)
        self.tasks = tasks

    def _read(self) -> tuple[int, list]:
        query = self.tasks.query
        try:
            where, params = query.get_compiler(connection=connection).compile(query.where)
        except EmptyResultSet:  # a scope that matches nothing (`.none()`): nothing to ask the database
            return 0, []
        sql = _TASK_PAGE_SQL.format(where=where, **_task_page_names())
        return total_and_rows(sql, [*params, *params, self.limit, self.offset], _task_row)


def task_list_page(*, visible, conditions: list[Q] | None, query_params) -> TaskListPage | None:
    """The lean page of a task list (PostgreSQL, `conditions` read from the filters), else None.

    `visible` is the viewset's tenant-and-role queryset (`crm.tenancy`): its WHERE is the whole access rule here;
    `conditions` come from the list's FilterSet (`LeadTaskFilterSet.conditions`), None when it has to answer itself.
    """
    if connection.vendor != "postgresql" or conditions is None:
        return None
    limit, offset = parse_limit_offset(query_params, default_limit=ApiPagination.default_limit)
    return TaskListPage(visible.filter(*conditions), limit=limit, offset=offset)
