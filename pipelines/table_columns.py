"""The lead table's row (`/api/v2/leads/table`), declared once.

Each column of LEAD_TABLE_COLUMNS names its key, the SQL that reads it (table and column names from the models'
`_meta`), its kind and what else it serves: keyset pagination, an equality filter answered by the LeadCount cells,
a cheaper sort. The SELECT list, the row formatting, the cursor checks, the filters' count cells and the OpenAPI row
(`pipelines.api.serializers.LeadTableRowSerializer`) are all derived from it; showing one more Lead field in the
table is one `_lead_column(...)` line here.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from django.db import connection
from django.db.models import DateTimeField, DecimalField, Expression, Field, ForeignKey, IntegerField, Model

from crm.models import User
from pipelines.models import Lead, LeadCount, Pipeline, Stage


class Kind(enum.Enum):
    """How a column's value is checked in a cursor, formatted in a row and documented."""

    INTEGER = "integer"
    TEXT = "text"
    CHOICE = "choice"
    PRICE = "price"
    DATETIME = "datetime"


@dataclass(frozen=True)
class TableColumn:
    key: str
    sql: str
    kind: Kind
    nullable: bool = False
    choices: tuple | None = None
    # Keyset (cursor) pagination needs a non-null sort key (`price` sorts by its non-null `sort_sql`).
    cursor: bool = False
    # The LeadCount cell column answering the `?<key>=` filter (set on the table's equality filters only).
    counted_as: str | None = None
    # The lead's field an equality filter narrows, for the ORM (`lead_filters_apply`).
    lookup: str | None = None
    # The ORDER BY expression when it is not `sql`.
    sort_sql: str | None = None
    # A column of a small related table: (that table, its column, the lead's foreign key). Ordered by it, a broad
    # scope walks that table's rows instead of sorting every lead (see table_sql.grouped_ids_sql).
    grouped: tuple[str, str, str] | None = None


_quote = connection.ops.quote_name
LEAD = _quote(Lead._meta.db_table)
CELLS = _quote(LeadCount._meta.db_table)


def _field(model: type[Model], name: str) -> Field:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is no stored column.")
    return field


def _db_column(model: type[Model], name: str) -> str:
    return cast(str, _field(model, name).column)


def _sql(model: type[Model], name: str) -> str:
    return f"{_quote(model._meta.db_table)}.{_quote(_db_column(model, name))}"


def _join(kind: str, model: type[Model], foreign_key: str) -> str:
    return f" {kind} JOIN {_quote(model._meta.db_table)} ON ({_sql(Lead, foreign_key)} = {_sql(model, 'id')})"


FROM = (
    LEAD
    + _join("INNER", Pipeline, "pipeline")
    + _join("INNER", Stage, "stage")
    + _join("LEFT OUTER", User, "assigned_to")
)


def _kind(field: Field) -> Kind:
    if field.choices:
        return Kind.CHOICE
    if isinstance(field, DateTimeField):
        return Kind.DATETIME
    if isinstance(field, DecimalField):
        return Kind.PRICE
    if isinstance(field, IntegerField | ForeignKey) or field.primary_key:
        return Kind.INTEGER
    return Kind.TEXT


def _column(key: str, model: type[Model], name: str, *, nullable: bool = False, **options) -> TableColumn:
    """A stored column of `model` (the lead or a table it joins): kind and nullability from its field."""
    field = _field(model, name)
    return TableColumn(
        key=key,
        sql=_sql(model, name),
        kind=_kind(field),
        nullable=nullable or field.null,
        choices=tuple(field.choices) if field.choices else None,
        **options,
    )


def _related_column(key: str, via: str, name: str, **options) -> TableColumn:
    """A column of the pipeline or stage the lead's foreign key `via` points to (a small table: its sorts walk it)."""
    model = cast(type[Model], _field(Lead, via).related_model)
    grouped = (_quote(model._meta.db_table), _db_column(model, name), _db_column(Lead, via))
    return _column(key, model, name, grouped=grouped, **options)


def _lead_column(name: str, key: str | None = None, **options) -> TableColumn:
    return _column(key or name, Lead, name, **options)


def _equality_filter(name: str, key: str, counted_as: str, **options) -> TableColumn:
    """A lead column that is also a `?<key>=` filter, which the LeadCount cells can count."""
    lookup = _field(Lead, name).attname
    return _lead_column(name, key, counted_as=counted_as, lookup=lookup, **options)


# Above the largest budget (12 integer digits): what a lead without one sorts as.
PRICE_ABOVE_ALL = Decimal("1000000000000")

# The rows' keys, in order (SPEC §12).
LEAD_TABLE_COLUMNS = (
    _lead_column("id", cursor=True),
    _lead_column("name", cursor=True),
    _lead_column("phone"),
    _lead_column("email"),
    _equality_filter("source", "source", "source", cursor=True),
    _equality_filter("pipeline", "pipeline_id", "pipeline_id", cursor=True),
    _related_column("pipeline_name", "pipeline", "name", cursor=True),
    _equality_filter("stage", "stage_id", "stage_id", cursor=True),
    _related_column("stage_name", "stage", "name", cursor=True),
    _related_column("stage_color", "stage", "color"),
    _equality_filter("assigned_to", "assigned_to_user_id", "assignee_key"),
    TableColumn(
        "assigned_to_name",
        # A user without a full name is shown by login; an unassigned lead (the LEFT JOIN's NULLs) by null.
        f"COALESCE(NULLIF({_sql(User, 'full_name')}, ''), {_sql(User, 'username')})",
        Kind.TEXT,
        nullable=True,
    ),
    # A lead without a budget sorts as PRICE_ABOVE_ALL, which is where NULLs go anyway (last ascending, first
    # descending, as for every nullable key) and gives the cursor a value. The CAST is a no-op on PostgreSQL; on
    # SQLite it gives the expression numeric affinity, so the cursor's text compares as a number.
    _lead_column("price", cursor=True, sort_sql=f"CAST(COALESCE({_sql(Lead, 'price')}, {PRICE_ABOVE_ALL}) AS NUMERIC)"),
    # The tasks app fills these two (lead_table_column_register); without it a lead has no tasks.
    TableColumn("open_tasks_count", "0", Kind.INTEGER),
    TableColumn("next_task_due_at", "NULL", Kind.DATETIME, nullable=True),
    _lead_column("moved_to_stage_at", cursor=True),
    _lead_column("created_at", cursor=True),
    _lead_column("updated_at", cursor=True),
)

COLUMNS = {column.key: column for column in LEAD_TABLE_COLUMNS}
TABLE_KEYS = tuple(COLUMNS)
CURSOR_KEYS = frozenset(column.key for column in LEAD_TABLE_COLUMNS if column.cursor)
DATETIME_KEYS = tuple(column.key for column in LEAD_TABLE_COLUMNS if column.kind is Kind.DATETIME)
# The table's filters that the LeadCount cells answer, and the cell column each maps to.
COUNTED_FILTERS = {column.key: column.counted_as for column in LEAD_TABLE_COLUMNS if column.counted_as}
# The `?<key>=` equality filters of the table, `/api/leads` and the board (pipelines.filtersets).
EQUALITY_FILTERS = tuple(column for column in LEAD_TABLE_COLUMNS if column.lookup)

# Columns other apps compute (the tasks app fills open_tasks_count / next_task_due_at): key -> a function
# returning a query expression evaluated per lead row (e.g. a correlated Subquery on OuterRef("pk")).
EXTRA_COLUMNS: dict[str, Callable[[], Expression]] = {}


def lead_table_column_register(key: str, expression_factory: Callable[[], Expression]) -> None:
    """Let another app fill a table column (call from its AppConfig.ready()); must be one of TABLE_KEYS."""
    if key not in COLUMNS:
        raise ValueError(f"{key} is not a column of the lead table.")
    EXTRA_COLUMNS[key] = expression_factory
