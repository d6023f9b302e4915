"""Reads of pipelines, stages and leads that do more than a `.get()`."""

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Expression, Prefetch, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.api.parsers import parse_json
from crm.bounds import MAX_BIGINT
from crm.errors import NotFound, ValidationFailed
from crm.models import User
from crm.tenancy import check_may_touch, sees_whole_tenant
from pipelines.filtersets import lead_filters_apply, lead_filters_parse
from pipelines.models import Lead, LeadCount, LeadHistory, Pipeline, Stage


def lead_get_for_user(*, user, lead_id) -> Lead:
    """The lead of the user's tenant: 404 when it is not there (or the id is malformed), 403 for a colleague's."""
    try:
        lead_id = int(lead_id)
    except (TypeError, ValueError):
        raise NotFound(f"Lead {str(lead_id)[:32]} not found.") from None
    leads = Lead.objects.for_tenant(user.tenant_id)
    lead = leads.filter(pk=lead_id).first() if 0 < lead_id <= MAX_BIGINT else None
    if lead is None:
        raise NotFound(f"Lead {lead_id} not found.")
    check_may_touch(user, lead, "This lead is assigned to a colleague.")
    return lead


def pipelines_with_stages(pipelines: QuerySet[Pipeline]) -> QuerySet[Pipeline]:
    """Pipelines default first, each with its stages in board order (two queries in all)."""
    stages = Stage.objects.order_by("order_index", "id")
    return pipelines.order_by("-is_default", "id").prefetch_related(Prefetch("stages", stages))


def lead_history_list(*, lead: Lead) -> QuerySet[LeadHistory]:
    """A lead's history, newest first."""
    return LeadHistory.objects.filter(lead=lead).order_by("-created_at", "-id")


@dataclass(frozen=True)
class StageSummary:
    stage_id: int
    leads: int
    price_total: Decimal


def _visible(model, *, pipeline: Pipeline, user):
    # A platform superuser (no tenant of their own) reads the pipeline's tenant, as on the board.
    return model.objects.for_tenant(pipeline.tenant_id) if sees_whole_tenant(user) else model.objects.visible_to(user)


def pipeline_summary(
    *, pipeline: Pipeline, stages: Iterable[Stage], user, filters: dict | None = None
) -> list[StageSummary]:
    """How many of the pipeline's leads that `user` may see (narrowed by `filters`, as `lead_filters_parse` gives
    them) sit in each of `stages`, and what their budgets add up to, in the order of `stages`; an empty stage is
    0 and 0 (a lead without a budget counts and adds nothing).

    One grouped query. On PostgreSQL, unless a filter needs the leads themselves (search, budget bounds), it sums
    the trigger-kept LeadCount cells (a few hundred rows) instead of reading up to every lead of the tenant.
    """
    filters = filters or {}
    if connection.vendor == "postgresql" and set(filters) <= {"assigned_to_user_id", "source"}:
        cells = _visible(LeadCount, pipeline=pipeline, user=user).filter(pipeline_id=pipeline.pk)
        for name in ("assigned_to_user_id", "source"):
            if name in filters:
                cells = cells.filter(**{_COUNTED_FILTERS[name]: filters[name]})
        grouped = cells.order_by().values_list("stage_id").annotate(Sum("n"), Sum("price_total"))
    else:
        leads = _visible(Lead, pipeline=pipeline, user=user).filter(pipeline_id=pipeline.pk)
        leads = lead_filters_apply(leads, filters)
        grouped = leads.order_by().values_list("stage_id").annotate(Count("pk"), Sum("price"))
    totals = {stage_id: (count, price_total) for stage_id, count, price_total in grouped}
    summaries = []
    for stage in stages:
        count, price_total = totals.get(stage.pk, (0, None))
        summaries.append(StageSummary(stage_id=stage.pk, leads=int(count), price_total=price_total or Decimal("0.00")))
    return summaries


# ---------------------------------------------------------------- the lead table (/api/v2/leads/table)

# Columns other apps compute (the tasks app fills open_tasks_count / next_task_due_at): key -> a function
# returning a query expression evaluated per lead row (e.g. a correlated Subquery on OuterRef("pk")).
_EXTRA_COLUMNS: dict[str, Callable[[], Expression]] = {}


def lead_table_column_register(key: str, expression_factory: Callable[[], Expression]) -> None:
    """Let another app fill a table column (call from its AppConfig.ready()); must be one of TABLE_KEYS."""
    if key not in TABLE_KEYS:
        raise ValueError(f"{key} is not a column of the lead table.")
    _EXTRA_COLUMNS[key] = expression_factory


TABLE_KEYS = (
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
)
_INTEGER_KEYS = frozenset({"id", "pipeline_id", "stage_id"})
_DATETIME_KEYS = ("next_task_due_at", "moved_to_stage_at", "created_at", "updated_at")
# Keyset (cursor) pagination needs a non-null sort key (`price` sorts by a non-null stand-in, see _SORT_COLUMNS).
CURSOR_KEYS = frozenset(
    {
        "id",
        "name",
        "source",
        "pipeline_id",
        "pipeline_name",
        "stage_id",
        "stage_name",
        "price",
        "moved_to_stage_at",
        "created_at",
        "updated_at",
    }
)
# Above the largest budget (12 integer digits): what a lead without one sorts as.
PRICE_ABOVE_ALL = Decimal("1000000000000")
DEFAULT_TABLE_ORDERING = "-created_at"


@dataclass(frozen=True)
class LeadTablePage:
    rows: list[dict]
    total: int
    next_cursor: str | None


def lead_table_ordering_parse(raw: str | None) -> tuple[str, bool]:
    """`-created_at` -> ("created_at", True); an unknown key is a 400 naming `ordering`."""
    value = (raw or DEFAULT_TABLE_ORDERING).strip()
    descending = value.startswith("-")
    key = value.removeprefix("-")
    if key not in TABLE_KEYS:
        raise ValidationFailed.for_field("ordering", f"Order by one of: {', '.join(TABLE_KEYS)} (prefix - to reverse).")
    return key, descending


def lead_table_cursor_encode(*, ordering: str, value, lead_id: int) -> str:
    """The opaque cursor pointing after the row (value of the ordering key, id)."""
    if isinstance(value, datetime):
        value = value.isoformat()
    elif ordering.removeprefix("-") == "price":
        value = str(PRICE_ABOVE_ALL if value is None else Decimal(str(value)))
    return base64.urlsafe_b64encode(orjson.dumps([ordering, value, lead_id])).decode().rstrip("=")


def _cursor_decode(raw: str, *, ordering: str, key: str):
    try:
        decoded = parse_json(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        cursor_ordering, value, lead_id = decoded
        if cursor_ordering != ordering or not isinstance(lead_id, int):
            raise ValueError
        if key in _DATETIME_KEYS:
            value = connection.ops.adapt_datetimefield_value(datetime.fromisoformat(value))
        elif key == "price":
            value = _cursor_price(value)
        elif not isinstance(value, int if key in _INTEGER_KEYS else str):
            raise TypeError
    except (ValueError, TypeError, ArithmeticError, binascii.Error, ValidationFailed):
        raise ValidationFailed.for_field("cursor", "Invalid cursor for this ordering.") from None
    return value, lead_id


def _cursor_price(value) -> Decimal:
    price = Decimal(value) if isinstance(value, str) else None
    if price is None or not price.is_finite() or not 0 <= price <= PRICE_ABOVE_ALL:
        raise ValueError
    return price


# The table's filters that the LeadCount cells answer, and the cell column each maps to.
_COUNTED_FILTERS = {
    "pipeline_id": "pipeline_id",
    "stage_id": "stage_id",
    "assigned_to_user_id": "assignee_key",
    "source": "source",
}


def lead_table(
    *,
    leads: QuerySet[Lead],
    user=None,
    filters,
    ordering: str | None = None,
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
) -> LeadTablePage:
    """One page of flat lead rows of `leads` (already scoped to the caller), filtered and ordered by any column.

    Pagination: `limit`/`offset`, or keyset with `cursor` ("" for the first page) for constant-time deep
    pages. Two queries: the page and the total (pass `user`, whose visibility `leads` has, for the cheap total).
    """
    key, descending = lead_table_ordering_parse(ordering)
    if cursor is not None and key not in CURSOR_KEYS:
        message = f"Cursor pagination orders by one of: {', '.join(sorted(CURSOR_KEYS))}."
        raise ValidationFailed.for_field("cursor", message)
    cleaned = lead_filters_parse(filters)
    leads = lead_filters_apply(leads, cleaned)
    after = _cursor_decode(cursor, ordering=("-" if descending else "") + key, key=key) if cursor else None
    try:
        leads = _without_joins(leads)
        total = _total_sql(user=user, leads=leads, filters=cleaned)
        sql, params = _page_sql(
            leads,
            key=key,
            descending=descending,
            after=after,
            limit=limit,
            offset=offset,
            total=total,
            # Walking the stages pays off over a broad scope; a narrow one (a manager's leads, a source, a search)
            # is cheaper to sort whole.
            tenant_id=user.tenant_id if _broad(user, cleaned) else None,
        )
    except EmptyResultSet:
        return LeadTablePage(rows=[], total=0, next_cursor=None)
    with connection.cursor() as db_cursor:
        # The total rides along as one more column (evaluated once, as an InitPlan): one round trip in all.
        db_cursor.execute(sql, params)
        fetched = db_cursor.fetchall()
        if not fetched:
            db_cursor.execute(f"SELECT {total[0]}", total[1])  # noqa: S608 - see _page_sql
        total = fetched[0][-1] if fetched else db_cursor.fetchone()[0]
    tz = timezone.get_current_timezone()
    page = []
    for values in fetched:
        row = dict(zip(TABLE_KEYS, values[:-1], strict=True))
        for name in _DATETIME_KEYS:
            if row[name] is not None:
                row[name] = _aware(row[name]).astimezone(tz)
        if row["price"] is not None:
            # A JSON number, as in the lead's own JSON (14 significant digits print back exactly).
            row["price"] = float(row["price"])
        page.append(row)
    next_cursor = None
    if cursor is not None and len(page) == limit:
        last = page[-1]
        next_cursor = lead_table_cursor_encode(
            ordering=("-" if descending else "") + key, value=last[key], lead_id=last["id"]
        )
    return LeadTablePage(rows=page, total=total, next_cursor=next_cursor)


# The table's read path is one hand-assembled SELECT: the ORM compiles only the WHERE clause of the caller's
# scoped queryset (tenant, role, filters) and, once per process, the columns other apps register; building and
# compiling the whole annotated queryset on every request cost more than the query itself.
_LEAD = connection.ops.quote_name(Lead._meta.db_table)
_PIPELINE = connection.ops.quote_name(Pipeline._meta.db_table)
_STAGE = connection.ops.quote_name(Stage._meta.db_table)
_USER = connection.ops.quote_name(User._meta.db_table)
_CELLS = connection.ops.quote_name(LeadCount._meta.db_table)
_FROM = (
    f'{_LEAD} INNER JOIN {_PIPELINE} ON ({_LEAD}."pipeline_id" = {_PIPELINE}."id")'
    f' INNER JOIN {_STAGE} ON ({_LEAD}."stage_id" = {_STAGE}."id")'
    f' LEFT OUTER JOIN {_USER} ON ({_LEAD}."assigned_to_id" = {_USER}."id")'
)
_BASE_COLUMNS = {
    "id": f'{_LEAD}."id"',
    "name": f'{_LEAD}."name"',
    "phone": f'{_LEAD}."phone"',
    "email": f'{_LEAD}."email"',
    "source": f'{_LEAD}."source"',
    "pipeline_id": f'{_LEAD}."pipeline_id"',
    "pipeline_name": f'{_PIPELINE}."name"',
    "stage_id": f'{_LEAD}."stage_id"',
    "stage_name": f'{_STAGE}."name"',
    "stage_color": f'{_STAGE}."color"',
    "assigned_to_user_id": f'{_LEAD}."assigned_to_id"',
    "assigned_to_name": f'COALESCE(NULLIF({_USER}."full_name", \'\'), {_USER}."username")',
    "price": f'{_LEAD}."price"',
    "open_tasks_count": "0",
    "next_task_due_at": "NULL",
    "moved_to_stage_at": f'{_LEAD}."moved_to_stage_at"',
    "created_at": f'{_LEAD}."created_at"',
    "updated_at": f'{_LEAD}."updated_at"',
}
# Sort expressions other than the column shown: a lead without a budget sorts as PRICE_ABOVE_ALL, which is where
# NULLs go anyway (last ascending, first descending, as for every nullable key) and gives the cursor a value. The
# CAST is a no-op on PostgreSQL; on SQLite it gives the expression numeric affinity, so the cursor's text compares
# as a number.
_SORT_COLUMNS = {"price": f'CAST(COALESCE({_LEAD}."price", {PRICE_ABOVE_ALL}) AS NUMERIC)'}
_compiled_extra_columns: dict[tuple[str, str], tuple[str, tuple]] = {}


def _column_sql(key: str) -> tuple[str, tuple]:
    factory = _EXTRA_COLUMNS.get(key)
    if factory is None:
        return _BASE_COLUMNS[key], ()
    cache_key = (connection.vendor, key)
    if cache_key not in _compiled_extra_columns:
        query = Lead.objects.annotate(**{key: factory()}).query
        sql, params = query.get_compiler(connection=connection).compile(query.annotations[key])
        _compiled_extra_columns[cache_key] = (sql, tuple(params))
    return _compiled_extra_columns[cache_key]


def _sort_sql(key: str) -> tuple[str, tuple]:
    return (_SORT_COLUMNS[key], ()) if key in _SORT_COLUMNS else _column_sql(key)


def _sorts_on_lead_table(key: str) -> bool:
    """The sort key is a column of the lead table itself (no join needed to pick a page's ids)."""
    return key in _SORT_COLUMNS or (key not in _EXTRA_COLUMNS and _BASE_COLUMNS[key].startswith(f"{_LEAD}."))


def _broad(user, filters: dict) -> bool:
    # The stage walk needs LATERAL (PostgreSQL); elsewhere the plain sort serves.
    broad = user is not None and sees_whole_tenant(user) and set(filters) <= {"pipeline_id", "stage_id"}
    return broad and connection.vendor == "postgresql"


def _without_joins(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """The same leads with a WHERE on the lead table alone (a scope that joins goes through its ids)."""
    joined = {alias for alias, refs in leads.query.alias_refcount.items() if refs} - {Lead._meta.db_table}
    return Lead.objects.filter(pk__in=leads.values("pk")) if joined else leads


def _where(queryset: QuerySet) -> tuple[str, list]:
    query = queryset.query
    where, params = query.get_compiler(connection=connection).compile(query.where)
    return (f"({where})" if where else "1 = 1"), list(params)


def _total_sql(*, user, leads: QuerySet[Lead], filters: dict) -> tuple[str, list]:
    """The number of leads matching, as a scalar subquery.

    On PostgreSQL, without a search term or a budget bound, it sums the trigger-kept LeadCount cells the user may
    see (a few hundred rows at most) instead of counting up to the whole tenant: COUNT(*) over 100,000 leads costs
    more than the page.
    """
    if user is None or not set(filters) <= set(_COUNTED_FILTERS) or connection.vendor != "postgresql":
        where, params = _where(leads)
        return f"(SELECT COUNT(*) FROM {_LEAD} WHERE {where})", params  # noqa: S608 - see _page_sql
    cells = LeadCount.objects.visible_to(user)
    for name, column in _COUNTED_FILTERS.items():
        if name in filters:
            cells = cells.filter(**{column: filters[name]})
    where, params = _where(cells)
    total = f'(SELECT CAST(COALESCE(SUM({_CELLS}."n"), 0) AS bigint) FROM {_CELLS} WHERE {where})'  # noqa: S608
    return total, params


def _page_sql(
    leads: QuerySet[Lead], *, key: str, descending: bool, after, limit: int, offset: int, total, tenant_id=None
):
    """The page's SELECT (the row keys, then the `total` scalar) and its parameters; `leads` is `_without_joins`."""
    where, where_params = _where(leads)
    selected = [*(_column_sql(name) for name in TABLE_KEYS), total]
    order_sql, order_params = _sort_sql(key)
    op, direction = ("<", "DESC") if descending else (">", "ASC")
    order_by = f'{order_sql} {direction} {_NULLS[direction]}, {_LEAD}."id" {direction}'
    if after is not None:
        offset = 0
    if key in _GROUPED_SORTS and tenant_id is not None:
        ids_sql, ids_params = _grouped_ids_sql(
            key, where, where_params, op=op, direction=direction, after=after, tenant_id=tenant_id, end=offset + limit
        )
        condition, condition_params = f'{_LEAD}."id" IN ({ids_sql})', [*ids_params, limit, offset]
        offset = 0
    else:
        condition, condition_params = where, list(where_params)
        if after is not None:
            condition += f' AND ({order_sql}, {_LEAD}."id") {op} (%s, %s)'
            condition_params += [*order_params, *after]
        if offset:
            # PostgreSQL computes the whole select list (the tasks' subqueries too) for every row an OFFSET skips:
            # pick the page's ids first, on the lead table alone when the sort key is one of its columns.
            source = _LEAD if _sorts_on_lead_table(key) else _FROM
            condition = (
                f'{_LEAD}."id" IN (SELECT {_LEAD}."id" FROM {source} WHERE {condition}'  # noqa: S608 - see below
                f" ORDER BY {order_by} LIMIT %s OFFSET %s)"
            )
            condition_params += [*order_params, limit, offset]
            offset = 0
    params = [*(param for _, column_params in selected for param in column_params), *condition_params]
    params += [*order_params, limit, offset]
    # Only fixed identifiers and ORM-compiled fragments go into the text; every value is a parameter.
    sql = (
        f"SELECT {', '.join(sql for sql, _ in selected)} FROM {_FROM} WHERE {condition}"  # noqa: S608
        f" ORDER BY {order_by} LIMIT %s OFFSET %s"
    )
    return sql, params


# PostgreSQL's default placement of NULLs, spelled out so that SQLite sorts the same way (indexes still serve).
_NULLS = {"ASC": "NULLS LAST", "DESC": "NULLS FIRST"}
# Sorts by a column of a small related table: key -> (table, its column, the lead's foreign key).
_GROUPED_SORTS = {
    "stage_name": (_STAGE, "name", "stage_id"),
    "stage_color": (_STAGE, "color", "stage_id"),
    "pipeline_name": (_PIPELINE, "name", "pipeline_id"),
}


def _grouped_ids_sql(key: str, where: str, where_params, *, op, direction, after, tenant_id, end: int):
    """The ids of the page (its LIMIT and OFFSET params left to the caller) when ordering by a stage's or a
    pipeline's column.

    Sorting every lead of the tenant joined to its stage is a full scan; instead the tenant's few stages are
    walked in that column's order, each giving at most `end` (offset + limit) leads from the (tenant, stage, id)
    index, and only those few hundred are sorted. The `g.tenant_id` condition only narrows the walk: `where`
    keeps the caller's scope.
    """
    table, column, foreign_key = _GROUPED_SORTS[key]
    inner, outer, inner_params, outer_params = "", "", [], []
    if after is not None:
        value, lead_id = after
        inner = f' AND ("g"."{column}" {op} %s OR {_LEAD}."id" {op} %s)'
        outer = f' AND "g"."{column}" {op}= %s AND ("g"."{column}", "ids"."id") {op} (%s, %s)'
        inner_params, outer_params = [value, lead_id], [value, value, lead_id]
    sql = (
        f'SELECT "ids"."id" FROM {table} AS "g" CROSS JOIN LATERAL ('  # noqa: S608 - see _page_sql
        f'SELECT {_LEAD}."id" FROM {_LEAD} WHERE {where} AND {_LEAD}."{foreign_key}" = "g"."id"{inner}'
        f' ORDER BY {_LEAD}."id" {direction} LIMIT %s) AS "ids"'
        f' WHERE "g"."tenant_id" = %s{outer}'
        f' ORDER BY "g"."{column}" {direction} {_NULLS[direction]}, "ids"."id" {direction} LIMIT %s OFFSET %s'
    )
    return sql, [*where_params, *inner_params, end, tenant_id, *outer_params]


def _aware(value) -> datetime:
    # PostgreSQL hands back aware datetimes; SQLite's raw cursor gives ISO text in UTC.
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
