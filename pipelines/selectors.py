"""Reads of pipelines, stages and leads that do more than a `.get()`."""

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.api.parsers import parse_json
from crm.bounds import MAX_BIGINT
from crm.errors import NotFound, ValidationFailed
from crm.tenancy import check_may_touch, sees_whole_tenant
from pipelines import table_sql
from pipelines.filtersets import lead_filters_apply, lead_filters_parse
from pipelines.models import Lead, LeadCount, LeadHistory, Pipeline, Stage
from pipelines.table_columns import (
    COLUMNS,
    COUNTED_FILTERS,
    CURSOR_KEYS,
    DATETIME_KEYS,
    LEAD_TABLE_COLUMNS,
    PRICE_ABOVE_ALL,
    TABLE_KEYS,
    Kind,
)
from pipelines.table_columns import lead_table_column_register as lead_table_column_register


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
                cells = cells.filter(**{COUNTED_FILTERS[name]: filters[name]})
        grouped = cells.order_by().values_list("stage_id").annotate(Sum("n"), Sum("price_total"))
    else:
        leads = _visible(Lead, pipeline=pipeline, user=user).filter(pipeline_id=pipeline.pk)
        leads = lead_filters_apply(leads, filters, tenant_id=pipeline.tenant_id)
        grouped = leads.order_by().values_list("stage_id").annotate(Count("pk"), Sum("price"))
    totals = {stage_id: (count, price_total) for stage_id, count, price_total in grouped}
    summaries = []
    for stage in stages:
        count, price_total = totals.get(stage.pk, (0, None))
        summaries.append(StageSummary(stage_id=stage.pk, leads=int(count), price_total=price_total or Decimal("0.00")))
    return summaries


# ---------------------------------------------------------------- the lead table (/api/v2/leads/table)
# Its columns are declared in pipelines.table_columns, its SELECT assembled in pipelines.table_sql.

DEFAULT_TABLE_ORDERING = "-created_at"
_PRICE_KEYS = tuple(column.key for column in LEAD_TABLE_COLUMNS if column.kind is Kind.PRICE)
# The cursor's value of each kind of sort key: what the JSON must hold, or how the text is read back.
_CURSOR_TYPES = {Kind.INTEGER: int, Kind.TEXT: str, Kind.CHOICE: str}


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
    elif COLUMNS[ordering.removeprefix("-")].kind is Kind.PRICE:
        value = str(PRICE_ABOVE_ALL if value is None else Decimal(str(value)))
    return base64.urlsafe_b64encode(orjson.dumps([ordering, value, lead_id])).decode().rstrip("=")


def _cursor_decode(raw: str, *, ordering: str, key: str):
    kind = COLUMNS[key].kind
    try:
        decoded = parse_json(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        cursor_ordering, value, lead_id = decoded
        if cursor_ordering != ordering or not isinstance(lead_id, int):
            raise ValueError
        if kind is Kind.DATETIME:
            value = connection.ops.adapt_datetimefield_value(datetime.fromisoformat(value))
        elif kind is Kind.PRICE:
            value = _cursor_price(value)
        elif not isinstance(value, _CURSOR_TYPES[kind]):
            raise TypeError
    except (ValueError, TypeError, ArithmeticError, binascii.Error, ValidationFailed):
        raise ValidationFailed.for_field("cursor", "Invalid cursor for this ordering.") from None
    return value, lead_id


def _cursor_price(value) -> Decimal:
    price = Decimal(value) if isinstance(value, str) else None
    if price is None or not price.is_finite() or not 0 <= price <= PRICE_ABOVE_ALL:
        raise ValueError
    return price


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
    leads = lead_filters_apply(leads, cleaned, tenant_id=getattr(user, "tenant_id", None))
    after = _cursor_decode(cursor, ordering=("-" if descending else "") + key, key=key) if cursor else None
    try:
        leads = table_sql.without_joins(leads)
        total = table_sql.total_sql(user=user, leads=leads, filters=cleaned)
        sql, params = table_sql.chosen_page_sql(
            leads,
            user=user,
            filters=cleaned,
            key=key,
            descending=descending,
            after=after,
            limit=limit,
            offset=offset,
            total=total,
        )
    except EmptyResultSet:
        return LeadTablePage(rows=[], total=0, next_cursor=None)
    with connection.cursor() as db_cursor:
        # The total rides along as one more column (evaluated once, as an InitPlan): one round trip in all.
        db_cursor.execute(sql, params)
        fetched = db_cursor.fetchall()
        if not fetched:
            db_cursor.execute(f"SELECT {total[0]}", total[1])  # noqa: S608 - see table_sql.page_sql
        total = fetched[0][-1] if fetched else db_cursor.fetchone()[0]
    page = _rows(fetched)
    next_cursor = None
    if cursor is not None and len(page) == limit:
        last = page[-1]
        next_cursor = lead_table_cursor_encode(
            ordering=("-" if descending else "") + key, value=last[key], lead_id=last["id"]
        )
    return LeadTablePage(rows=page, total=total, next_cursor=next_cursor)


def _rows(fetched: list[tuple]) -> list[dict]:
    """The page's rows from the SELECT's tuples (the row keys, then the total)."""
    tz = timezone.get_current_timezone()
    rows = []
    for values in fetched:
        row = dict(zip(TABLE_KEYS, values[:-1], strict=True))
        for name in DATETIME_KEYS:
            if row[name] is not None:
                row[name] = _aware(row[name]).astimezone(tz)
        for name in _PRICE_KEYS:
            if row[name] is not None:
                # A JSON number, as in the lead's own JSON (14 significant digits print back exactly).
                row[name] = float(row[name])
        rows.append(row)
    return rows


def _aware(value) -> datetime:
    # The page's timestamps come as ISO text: with their offset from PostgreSQL (table_sql), in UTC without one from
    # SQLite's raw cursor.
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
