"""The lead table's one hand-assembled SELECT (`pipelines.selectors.lead_table` runs it).

The ORM compiles only the WHERE clause of the caller's scoped queryset (tenant, role, filters) and, once per
process, the columns other apps register; building and compiling the whole annotated queryset on every request cost
more than the query itself. The columns come from `pipelines.table_columns`.
"""

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from crm.tenancy import sees_whole_tenant
from pipelines.models import Lead, LeadCount
from pipelines.table_columns import CELLS, COLUMNS, COUNTED_FILTERS, EXTRA_COLUMNS, FROM, LEAD, TABLE_KEYS, Kind

_compiled_extra_columns: dict[tuple[str, str], tuple[str, tuple]] = {}


def _column_sql(key: str) -> tuple[str, tuple]:
    factory = EXTRA_COLUMNS.get(key)
    if factory is None:
        return COLUMNS[key].sql, ()
    cache_key = (connection.vendor, key)
    if cache_key not in _compiled_extra_columns:
        query = Lead.objects.annotate(**{key: factory()}).query
        sql, params = query.get_compiler(connection=connection).compile(query.annotations[key])
        _compiled_extra_columns[cache_key] = (sql, tuple(params))
    return _compiled_extra_columns[cache_key]


def _selected_sql(key: str) -> tuple[str, tuple]:
    sql, params = _column_sql(key)
    if COLUMNS[key].kind is Kind.DATETIME and connection.vendor == "postgresql":
        # As ISO text, which the page's rows parse in a fraction of what the driver's timestamptz loading costs
        # (crm.api.pagination.page_column); SQLite hands back text anyway.
        return f"({sql})::text", params
    return sql, params


def _sort_sql(key: str) -> tuple[str, tuple]:
    sort_sql = COLUMNS[key].sort_sql
    return (sort_sql, ()) if sort_sql else _column_sql(key)


def _sorts_on_lead_table(key: str) -> bool:
    """The sort key is a column of the lead table itself (no join needed to pick a page's ids)."""
    column = COLUMNS[key]
    return column.sort_sql is not None or (key not in EXTRA_COLUMNS and column.sql.startswith(f"{LEAD}."))


def broad(user, filters: dict) -> bool:
    """Walking the stages pays off over a broad scope; a narrow one (a manager's leads, a source, a search) is
    cheaper to sort whole. The stage walk needs LATERAL (PostgreSQL); elsewhere the plain sort serves."""
    is_broad = user is not None and sees_whole_tenant(user) and set(filters) <= {"pipeline_id", "stage_id"}
    return is_broad and connection.vendor == "postgresql"


def without_joins(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """The same leads with a WHERE on the lead table alone (a scope that joins goes through its ids)."""
    joined = {alias for alias, refs in leads.query.alias_refcount.items() if refs} - {Lead._meta.db_table}
    return Lead.objects.filter(pk__in=leads.values("pk")) if joined else leads


def _where(queryset: QuerySet) -> tuple[str, list]:
    query = queryset.query
    where, params = query.get_compiler(connection=connection).compile(query.where)
    return (f"({where})" if where else "1 = 1"), list(params)


def total_sql(*, user, leads: QuerySet[Lead], filters: dict) -> tuple[str, list]:
    """The number of leads matching, as a scalar subquery.

    On PostgreSQL, without a search term or a budget bound, it sums the trigger-kept LeadCount cells the user may
    see (a few hundred rows at most) instead of counting up to the whole tenant: COUNT(*) over 100,000 leads costs
    more than the page.
    """
    if user is None or not set(filters) <= set(COUNTED_FILTERS) or connection.vendor != "postgresql":
        where, params = _where(leads)
        return f"(SELECT COUNT(*) FROM {LEAD} WHERE {where})", params  # noqa: S608 - see page_sql
    cells = LeadCount.objects.visible_to(user)
    for name, column in COUNTED_FILTERS.items():
        if name in filters:
            cells = cells.filter(**{column: filters[name]})
    where, params = _where(cells)
    total = f'(SELECT CAST(COALESCE(SUM({CELLS}."n"), 0) AS bigint) FROM {CELLS} WHERE {where})'  # noqa: S608
    return total, params


def chosen_page_sql(leads: QuerySet[Lead], *, user, filters: dict, **page):
    """The page's SELECT read the cheapest way for this scope and these filters: a `broad` scope sorted by a
    stage's or pipeline's column walks that table, and a search on PostgreSQL reads its matches once."""
    tenant_id = user.tenant_id if broad(user, filters) else None
    if "search" in filters and connection.vendor == "postgresql":
        return page_sql_matched_once(leads, tenant_id=tenant_id, **page)
    return page_sql(leads, tenant_id=tenant_id, **page)


def page_sql(
    leads: QuerySet[Lead], *, key: str, descending: bool, after, limit: int, offset: int, total, tenant_id=None
):
    """The page's SELECT (the row keys, then the `total` scalar) and its parameters; `leads` is `without_joins`.

    `tenant_id` (of a `broad` scope) lets a sort by a stage's or pipeline's column walk that table (grouped_ids_sql).
    """
    where, where_params = _where(leads)
    selected = [*(_selected_sql(name) for name in TABLE_KEYS), total]
    order_sql, order_params = _sort_sql(key)
    op, direction = ("<", "DESC") if descending else (">", "ASC")
    order_by = f'{order_sql} {direction} {_NULLS[direction]}, {LEAD}."id" {direction}'
    if after is not None:
        offset = 0
    grouped = COLUMNS[key].grouped
    if grouped and tenant_id is not None:
        ids_sql, ids_params = grouped_ids_sql(
            grouped,
            where,
            where_params,
            op=op,
            direction=direction,
            after=after,
            tenant_id=tenant_id,
            end=offset + limit,
        )
        condition, condition_params = f'{LEAD}."id" IN ({ids_sql})', [*ids_params, limit, offset]
        offset = 0
    else:
        condition, condition_params = where, list(where_params)
        if after is not None:
            condition += f' AND ({order_sql}, {LEAD}."id") {op} (%s, %s)'
            condition_params += [*order_params, *after]
        if offset:
            # PostgreSQL computes the whole select list (the tasks' subqueries too) for every row an OFFSET skips:
            # pick the page's ids first, on the lead table alone when the sort key is one of its columns.
            source = LEAD if _sorts_on_lead_table(key) else FROM
            condition = (
                f'{LEAD}."id" IN (SELECT {LEAD}."id" FROM {source} WHERE {condition}'  # noqa: S608 - see below
                f" ORDER BY {order_by} LIMIT %s OFFSET %s)"
            )
            condition_params += [*order_params, limit, offset]
            offset = 0
    params = [*(param for _, column_params in selected for param in column_params), *condition_params]
    params += [*order_params, limit, offset]
    # Only fixed identifiers and ORM-compiled fragments go into the text; every value is a parameter.
    sql = (
        f"SELECT {', '.join(sql for sql, _ in selected)} FROM {FROM} WHERE {condition}"  # noqa: S608
        f" ORDER BY {order_by} LIMIT %s OFFSET %s"
    )
    return sql, params


def page_sql_matched_once(leads: QuerySet[Lead], **page):
    """`page_sql` for a search (PostgreSQL): the matching ids read once, in a materialized CTE that both the total
    and the page use. A search's trigram index scan is most of its cost, and with the total as its own subquery it
    ran twice. The `total` passed in is replaced by the count of those matches."""
    where, where_params = _where(leads)
    page["total"] = ("(SELECT COUNT(*) FROM matched)", ())
    sql, params = page_sql(Lead.objects.filter(id__in=RawSQL('SELECT "id" FROM matched', ())), **page)
    matched = f'WITH matched AS MATERIALIZED (SELECT {LEAD}."id" FROM {LEAD} WHERE {where}) '  # noqa: S608
    return matched + sql, [*where_params, *params]


# PostgreSQL's default placement of NULLs, spelled out so that SQLite sorts the same way (indexes still serve).
_NULLS = {"ASC": "NULLS LAST", "DESC": "NULLS FIRST"}


def grouped_ids_sql(
    grouped: tuple[str, str, str], where: str, where_params, *, op, direction, after, tenant_id, end: int
):
    """The ids of the page (its LIMIT and OFFSET params left to the caller) when ordering by a stage's or a
    pipeline's column.

    Sorting every lead of the tenant joined to its stage is a full scan; instead the tenant's few stages are
    walked in that column's order, each giving at most `end` (offset + limit) leads from the (tenant, stage, id)
    index, and only those few hundred are sorted. The `g.tenant_id` condition only narrows the walk: `where`
    keeps the caller's scope.
    """
    table, column, foreign_key = grouped
    inner, outer, inner_params, outer_params = "", "", [], []
    if after is not None:
        value, lead_id = after
        inner = f' AND ("g"."{column}" {op} %s OR {LEAD}."id" {op} %s)'
        outer = f' AND "g"."{column}" {op}= %s AND ("g"."{column}", "ids"."id") {op} (%s, %s)'
        inner_params, outer_params = [value, lead_id], [value, value, lead_id]
    sql = (
        f'SELECT "ids"."id" FROM {table} AS "g" CROSS JOIN LATERAL ('  # noqa: S608 - see page_sql
        f'SELECT {LEAD}."id" FROM {LEAD} WHERE {where} AND {LEAD}."{foreign_key}" = "g"."id"{inner}'
        f' ORDER BY {LEAD}."id" {direction} LIMIT %s) AS "ids"'
        f' WHERE "g"."tenant_id" = %s{outer}'
        f' ORDER BY "g"."{column}" {direction} {_NULLS[direction]}, "ids"."id" {direction} LIMIT %s OFFSET %s'
    )
    return sql, [*where_params, *inner_params, end, tenant_id, *outer_params]
