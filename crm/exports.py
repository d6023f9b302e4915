"""Streamed CSV and XLSX exports of an admin changelist (whatever filter, search and tenant it shows).

Rows are read in keyset chunks (newest first), so 100,000 rows never sit in memory: CSV goes out chunk by chunk,
XLSX is written by openpyxl's write-only workbook into a temporary file and then sent in pieces. Under ASGI the
response body is an async iterator (Django would otherwise collect a sync iterator into a list first).
CSV is UTF-8 with a BOM and `;` between fields: what Excel with Russian regional settings opens correctly.
"""

import csv
import io
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Model, Q, QuerySet
from django.http import Http404, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from openpyxl import Workbook

CHUNK_SIZE = 2000
CSV_DELIMITER = ";"
# Text that a spreadsheet would run as a formula gets a leading apostrophe (CSV/formula injection).
_FORMULA_START = ("=", "@", "\t", "\r")
_XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], object]  # reads a row of its spec's model


@dataclass(frozen=True)
class ExportSpec:
    """What one changelist exports: its columns, the relations they read, the file name stem."""

    model: type[Model]
    columns: Sequence[Column]
    filename: str
    select_related: Sequence[str] = ()


def safe_text(value: str) -> str:
    if value.startswith(_FORMULA_START) or (value[:1] in ("+", "-") and not _is_number(value)):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    return value[1:].replace(".", "", 1).isdigit()


def iter_chunks(queryset: QuerySet, size: int = CHUNK_SIZE) -> Iterator[list[Model]]:
    """The queryset newest first in chunks of `size`, each one query (keyset on created_at, pk: no OFFSET)."""
    ordered = queryset.order_by("-created_at", "-pk")
    last = None
    while True:
        page = ordered
        if last is not None:
            page = ordered.filter(Q(created_at__lt=last.created_at) | Q(created_at=last.created_at, pk__lt=last.pk))
        rows = list(page[:size])
        if rows:
            yield rows
        if len(rows) < size:
            return
        last = rows[-1]


def _plain(value, tz: tzinfo, *, for_xlsx: bool):
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = timezone.localtime(value, tz).replace(tzinfo=None, microsecond=0)
        return local if for_xlsx else local.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value if for_xlsx else value.isoformat()
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, int | float) and for_xlsx:
        return value
    return safe_text(str(value))


def csv_stream(spec: ExportSpec, queryset: QuerySet, tz: tzinfo) -> Generator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow([column.header for column in spec.columns])
    yield ("\ufeff" + buffer.getvalue()).encode()
    for chunk in iter_chunks(queryset):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_plain(c.value(obj), tz, for_xlsx=False) for c in spec.columns] for obj in chunk)
        yield buffer.getvalue().encode()


def xlsx_stream(spec: ExportSpec, queryset: QuerySet, tz: tzinfo, piece: int = 64 * 1024) -> Generator[bytes]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=spec.filename[:31])
    sheet.append([column.header for column in spec.columns])
    for chunk in iter_chunks(queryset):
        for obj in chunk:
            sheet.append([_plain(c.value(obj), tz, for_xlsx=True) for c in spec.columns])
    with tempfile.TemporaryFile() as handle:
        workbook.save(handle)
        handle.seek(0)
        while data := handle.read(piece):
            yield data


async def _as_async(iterator: Generator[bytes]):
    # Each step runs in the request's sync thread, where its database connection lives.
    # The two-argument next(): sync_to_async's signature keeps only its first overload.
    step = sync_to_async(next, thread_sensitive=True)
    done = object()
    try:
        while (chunk := await step(iterator, done)) is not done:  # type: ignore[call-arg]
            yield chunk
    finally:
        await sync_to_async(iterator.close, thread_sensitive=True)()


def export_response(request, *, spec: ExportSpec, queryset: QuerySet, fmt: str, tz: tzinfo) -> StreamingHttpResponse:
    queryset = queryset.select_related(*spec.select_related) if spec.select_related else queryset
    if fmt == "xlsx":
        body, content_type = xlsx_stream(spec, queryset, tz), _XLSX_CONTENT_TYPE
    else:
        body, content_type = csv_stream(spec, queryset, tz), "text/csv; charset=utf-8"
    response = StreamingHttpResponse(_as_async(body) if isinstance(request, ASGIRequest) else body)
    response["Content-Type"] = content_type
    stamp = timezone.localtime(timezone=tz).strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="{spec.filename}-{stamp}.{fmt}"'
    return response


def export_view(request, fmt: str, *, site, spec: ExportSpec):
    """The changelist's own queryset (tenant scope, filters, search) streamed as a file."""
    if fmt not in FORMATS:
        raise Http404("Unknown export format.")
    try:
        model_admin = site.get_model_admin(spec.model)
    except NotRegistered:
        raise Http404("This list is not in the admin.") from None
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    user = request.user
    tz = user.tenant.tzinfo if user.tenant_id else timezone.get_current_timezone()
    # The ChangeList applies the admin's own queryset (the tenant scope), its list filters and its search.
    changelist = model_admin.get_changelist_instance(request)
    return export_response(request, spec=spec, queryset=changelist.queryset, fmt=fmt, tz=tz)


def export_urls(site, spec: ExportSpec) -> list:
    opts = spec.model._meta
    return [
        path(
            f"{opts.app_label}/{opts.model_name}/export/<str:fmt>/",
            site.admin_view(partial(export_view, site=site, spec=spec)),
            name=f"{opts.app_label}_{opts.model_name}_export",
        )
    ]
