"""Reads of the deals domain that do more than `.get()`: search expressions and the id-first page."""

import json
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import cast

from django.db import connection
from django.db.models import F, JSONField, Q, TextField, Value
from django.db.models.functions import Lower, Replace
from django.db.models.lookups import IContains

from crm.api.pagination import (
    CountedPage,
    V1Pagination,
    page_column,
    parse_limit_offset,
    timestamp_positions,
    timestamps_parsed,
    total_and_rows,
)
from crm.tenancy import sees_whole_tenant, tenant_pk
from deals.models import (
    Client,
    Deal,
    DealWeekCount,
    JournalEntry,
    Policy,
)

SQLITE_LOWER = "deals_unicode_lower"


class ILikeContains(IContains):
    """`col ILIKE '%fragment%'` on PostgreSQL, which the pg_trgm GIN indexes serve.

    Django's own icontains compiles to `UPPER(col) LIKE UPPER(…)`, which no trigram index on `col` can answer.
    SQLite's LIKE and LOWER fold ASCII only, so there both sides go through Python's `str.lower` (see apps.py).
    """

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.lhs)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", (*lhs_params, *rhs_params)

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.lhs)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{SQLITE_LOWER}({lhs}) LIKE {SQLITE_LOWER}({rhs}) ESCAPE '\\'", (*lhs_params, *rhs_params)


def deal_search_q(fragment: str) -> Q:
    """Deals whose title or journal contains the fragment: a union of two trigram-index lookups.

    The union is a `pk__in` subquery of the caller's queryset, which the viewset has already scoped to the tenant
    and role; scoping the subquery too would only add a second tenant filter the trigram plan does not need.
    """
    by_title = Deal.objects.unscoped().filter(ILikeContains(F("title"), fragment)).order_by().values("pk")
    by_journal = JournalEntry.objects.unscoped().filter(ILikeContains(F("text"), fragment)).order_by().values("deal_id")
    return Q(pk__in=by_title.union(by_journal))


# What people write between the digits of a phone number; dropped on both sides before a contact comparison.
_PHONE_SEPARATORS = (" ", "-", "(", ")", ".", "\u00a0")


def _without_separators(expression):
    for separator in _PHONE_SEPARATORS:
        expression = Replace(expression, Value(separator), Value(""), output_field=TextField())
    return expression


def client_contact_candidates(*, tenant, fragments: list[str]):
    """The tenant's clients whose names, tax number or contact values contain one of `fragments` (case and the
    usual phone separators ignored), oldest first: candidates the caller confirms against each contact's value."""
    match = Q()
    for fragment in fragments:
        needle = fragment.lower()
        for separator in _PHONE_SEPARATORS:
            needle = needle.replace(separator, "")
        match |= Q(contact_haystack__contains=needle) if needle else Q()
    clients = Client.objects.for_tenant(tenant)
    if not match:
        return clients.none()
    clients = clients.annotate(contact_haystack=_without_separators(Lower("search_text")))
    return clients.filter(match).order_by("created_at", "id")


def with_renewal_deal(policies):
    """Policies with the id of their renewal deal read in the same query (the reverse one-to-one, its key only)."""
    policy_fields = (field.attname for field in Policy._meta.concrete_fields)
    return policies.select_related("renewal_deal").only(*policy_fields, "renewal_deal__id")


class IdFirstPage:
    """A queryset paged by ids first: OFFSET walks only the narrow ordering index, then one page of rows is read.

    V1Pagination calls `count()` and slices; the slice becomes `WHERE id IN (SELECT id … LIMIT n OFFSET m)` over
    `filtered`, and the full rows come from `rows` (the unfiltered, select_related queryset), so a deep offset
    neither fetches nor joins the rows it skips, and the filters are evaluated once.
    """

    def __init__(self, filtered, rows):
        self.filtered = filtered
        self.rows = rows

    def count(self) -> int:
        return self.filtered.count()

    def __getitem__(self, page: slice) -> list:
        return list(self.rows.filter(pk__in=self.filtered.values("pk")[page]))


class SearchPage:
    """A `search` page (newest first) that runs the trigram search once: page ids and total in one statement.

    Counting and paging separately would run the `ILIKE` index lookups twice; here the matches are counted by a
    window over the same pass that sorts them. Only when the page is empty (offset past the end) is the total
    counted on its own.
    """

    def __init__(self, filtered, rows, *, limit: int, offset: int):
        self.filtered = filtered
        self.rows = rows
        self.limit, self.offset = limit, offset
        self._ids: list | None = None
        self._total = 0

    def _run(self) -> None:
        matches, params = self.filtered.order_by().values_list("id", "created_at").query.sql_with_params()
        # `matches` is Django's own compiled SQL (values travel in `params`), wrapped to sort and count it once.
        # MATERIALIZED keeps the trigram bitmap scan: inlined, the planner walks the ordering index instead and
        # filters every row of the tenant (60x slower for a name that matches 1 % of 50,000 clients).
        sql = (
            f"WITH hits AS MATERIALIZED ({matches}) SELECT hits.id, COUNT(*) OVER () FROM hits "  # noqa: S608
            "ORDER BY hits.created_at DESC, hits.id DESC LIMIT %s OFFSET %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, self.limit, self.offset])
            found = cursor.fetchall()
        self._ids = [row[0] for row in found]
        self._total = found[0][1] if found else (self.filtered.count() if self.offset else 0)

    def count(self) -> int:
        if self._ids is None:
            self._run()
        return self._total

    def __getitem__(self, page: slice) -> list:
        return list(self.rows.filter(pk__in=self._ids)) if self._ids else []


def list_source(filtered, rows, query_params):
    """What V1Pagination pages: one pass for a PostgreSQL `search`, else count + id-first page."""
    if connection.vendor == "postgresql" and query_params.get("search", "").strip():
        limit, offset = parse_limit_offset(query_params, default_limit=V1Pagination.default_limit)
        return SearchPage(filtered, rows, limit=limit, offset=offset)
    return IdFirstPage(filtered, rows)


# The hot path of the API in one statement: the total from the counters, then the page by ids first (OFFSET walks
# only the narrow ordering index) with the client's name. `{statuses}` is "" or "AND status IN (%s, …)" and
# `{seek}` one of the two fragments below: placeholders and fixed SQL only, never values. Table names come from the
# models' `_meta` (`{counts}`, `{deals}`, `{clients}`), and so do the row's `{columns}` (_LISTED); the tenant
# parameter from `crm.tenancy.tenant_pk`.
_WEEK_PAGE_SQL = """
WITH total AS (
    SELECT COALESCE(SUM(count), 0) AS n FROM {counts}
    WHERE tenant_id = %s AND (%s::text[] IS NULL OR status = ANY(%s::text[]))
){seek}, page AS (
    SELECT id FROM {deals}
    WHERE tenant_id = %s {statuses} {before}
    ORDER BY created_at DESC, id DESC LIMIT %s OFFSET {offset}
)
SELECT total.n, {columns}
FROM total
LEFT JOIN (page JOIN {deals} d ON d.id = page.id JOIN {clients} c ON c.id = d.client_id) ON TRUE
ORDER BY d.created_at DESC, d.id DESC
"""
# For a deep offset: the week (UTC, from Monday) that row `offset` falls in, and how many rows are newer.
_SEEK = """, seek AS (
    SELECT week, newer FROM (
        SELECT week, SUM(SUM(count)) OVER (ORDER BY week DESC) - SUM(count) AS newer
        FROM {counts}
        WHERE tenant_id = %s AND (%s::text[] IS NULL OR status = ANY(%s::text[]))
        GROUP BY week HAVING SUM(count) > 0
    ) AS per_week
    WHERE newer <= %s ORDER BY week LIMIT 1
)"""
_SEEK_BEFORE = "AND created_at < (SELECT (week + 7)::timestamp AT TIME ZONE 'UTC' FROM seek)"
_SEEK_OFFSET = "(%s - (SELECT newer FROM seek))"


# The list reads what the ORM path reads (DealViewSet.scope_queryset): the deal's own columns and its client's name.
_LISTED = tuple(field for field in Deal._meta.concrete_fields if field.name != "tenant")
_LISTED_NAMES = tuple(field.attname for field in _LISTED)
# Django's PostgreSQL backend hands jsonb to raw cursors as text (JSONField parses it for the ORM).
_LISTED_JSON = tuple(index for index, field in enumerate(_LISTED) if isinstance(field, JSONField))
_LISTED_TIMESTAMPS = timestamp_positions(_LISTED)  # selected as text (crm.api.pagination.page_column)


@cache  # the same text for the life of the process
def _week_page_names() -> dict[str, str]:
    def quote(name: str | None) -> str:
        return connection.ops.quote_name(cast(str, name))  # a concrete field's column is never None

    client_name = quote(Client._meta.get_field("full_name").column)
    return {
        "counts": quote(DealWeekCount._meta.db_table),
        "deals": quote(Deal._meta.db_table),
        "clients": quote(Client._meta.db_table),
        "columns": ", ".join([*(page_column("d", field) for field in _LISTED), f"c.{client_name}"]),
    }


@dataclass(slots=True)
class ClientName:
    full_name: str


class DealRow(SimpleNamespace):
    """A deal as the list reads it (every attribute `DealSerializer.present` uses), without building a model."""


def _deal_row(values: tuple) -> DealRow:
    """The row of the page's columns (_LISTED, then the client's name), by attribute name."""
    *deal_values, client_name = values
    timestamps_parsed(deal_values, _LISTED_TIMESTAMPS)
    for index in _LISTED_JSON:
        if isinstance(deal_values[index], str):
            deal_values[index] = json.loads(deal_values[index])
    return DealRow(**dict(zip(_LISTED_NAMES, deal_values, strict=True)), client=ClientName(client_name))


class DealWeekPage(CountedPage):
    """One page of a tenant's deals (all, or some statuses) read through the per-week counters (DealWeekCount).

    One statement gives the exact total (a sum of a few hundred counters) and the page. For a deep offset the
    counters' running sum also tells in which creation week row `offset` falls, so the page's index walk starts at
    the end of that week instead of at the newest deal: `offset=100000` costs about what the first page costs.
    """

    # Below this offset walking the ordering index from the newest deal is cheaper than the running sum.
    SEEK_FROM = 1000

    def __init__(self, *, tenant, statuses: list[str], limit: int, offset: int):
        super().__init__(limit=limit, offset=offset)
        self.tenant_id = tenant_pk(tenant)
        self.statuses = statuses

    def _read(self) -> tuple[int, list]:
        statuses = self.statuses or None
        counters = [self.tenant_id, statuses, statuses]
        in_statuses = f"AND status IN ({', '.join(['%s'] * len(self.statuses))})" if self.statuses else ""
        tables = _week_page_names()
        if self.offset >= self.SEEK_FROM:
            seek = _SEEK.format(**tables)
            sql = _WEEK_PAGE_SQL.format(
                seek=seek, statuses=in_statuses, before=_SEEK_BEFORE, offset=_SEEK_OFFSET, **tables
            )
            params = [*counters, *counters, self.offset, self.tenant_id, *self.statuses, self.limit, self.offset]
        else:
            sql = _WEEK_PAGE_SQL.format(seek="", statuses=in_statuses, before="", offset="%s", **tables)
            params = [*counters, self.tenant_id, *self.statuses, self.limit, self.offset]
        return total_and_rows(sql, params, _deal_row)


# Query parameters the per-week counters can answer; any other filter counts the matching rows instead.
WEEK_COUNTED_PARAMS = frozenset({"limit", "offset", "status"})


def deal_week_page(*, user, query_params, statuses: list[str]) -> DealWeekPage | None:
    """The counters' page for GET /deals when they cover the request (PostgreSQL, whole tenant), else None.

    Only supervisors qualify: they see the whole tenant, so the tenant filter in the SQL is the whole access rule;
    a manager's list goes through the viewset's tenant-and-role queryset like every other read.
    """
    if connection.vendor != "postgresql" or not sees_whole_tenant(user) or user.tenant_id is None:
        return None
    if not set(query_params) <= WEEK_COUNTED_PARAMS:
        return None
    limit, offset = parse_limit_offset(query_params, default_limit=V1Pagination.default_limit)
    return DealWeekPage(tenant=user.tenant_id, statuses=statuses, limit=limit, offset=offset)
