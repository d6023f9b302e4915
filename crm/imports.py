"""CSV/XLSX imports in the admin: upload, a dry-run preview, then the real import of the same file.

Every row goes through the app's own service (`ImportSpec.import_row`), each in a savepoint, so a bad row is
reported and skipped while the others go in. The preview runs the very same code inside a transaction that is
rolled back (no events: they are sent only on commit). Between preview and confirmation the file waits in the
session (database-backed, so any server process can finish the import).

Why not django-import-export: its admin mixin would have to be mixed into every owner's ModelAdmin, its resources
save rows with `instance.save()` (we need the services: history, events, normalised phones), its import is one
all-or-nothing transaction, and its export builds the whole dataset in memory. Parsing CSV and XLSX is the small
part, done here with the csv module and openpyxl (read-only mode).
"""

import base64
import csv
import io
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from django import forms
from django.contrib import messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Model
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from openpyxl import load_workbook

from crm.dashboard import backoffice_tenant
from crm.errors import ApplicationError

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
_SESSION_PREFIX = "backoffice-import:"
NEW, DUPLICATE, ERROR = "new", "duplicate", "error"
STATUS_LABELS = {NEW: "новая", DUPLICATE: "дубликат", ERROR: "ошибка"}


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, encoding, size, missing columns)."""


class DuplicateRow(Exception):  # noqa: N818 - an outcome, not a failure
    """The row describes something the tenant already has; it is reported and not imported."""


@dataclass(frozen=True)
class ImportColumn:
    key: str
    headers: tuple[str, ...]
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class ImportSpec:
    """One importable changelist: its columns and the function that imports one row through the services.

    `import_row(*, tenant, user, values)` returns a short label of what it created, raises DuplicateRow for a
    duplicate and an ApplicationError for a row the service refuses.
    """

    model: type[Model]
    title: str
    columns: Sequence[ImportColumn]
    import_row: Callable[..., str]


@dataclass
class RowOutcome:
    line: int
    status: str
    message: str = ""

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass
class ImportReport:
    outcomes: list[RowOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def created(self) -> int:
        return self.count(NEW)

    @property
    def duplicates(self) -> int:
        return self.count(DUPLICATE)

    @property
    def errors(self) -> int:
        return self.count(ERROR)


def _header_key(text) -> str:
    return str(text or "").replace("\ufeff", "").strip().strip("*").strip().lower()


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("Не удалось прочитать файл: сохраните CSV в кодировке UTF-8.")


def _csv_rows(content: bytes) -> list[list[str]]:
    text = _decode(content)
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    return [
        row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(c.strip() for c in row)
    ]


def _xlsx_rows(content: bytes) -> list[list[str]]:
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a broken file
        raise ImportFileError("Не удалось прочитать XLSX-файл.") from exc
    try:
        sheet = workbook.worksheets[0]
        rows = []
        for values in sheet.iter_rows(values_only=True):
            cells = ["" if value is None else str(value) for value in values]
            if any(cell.strip() for cell in cells):
                rows.append(cells)
            if len(rows) > MAX_IMPORT_ROWS + 1:
                break
        return rows
    finally:
        workbook.close()


def read_table(*, name: str, content: bytes, spec: ImportSpec) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column key: text}) for each data row; the header row names the columns (any order)."""
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportFileError(f"Файл больше {MAX_IMPORT_BYTES // (1024 * 1024)} МБ.")
    if name.lower().endswith(".xlsx"):
        rows = _xlsx_rows(content)
    elif name.lower().endswith((".csv", ".txt")):
        rows = _csv_rows(content)
    else:
        raise ImportFileError("Загрузите файл CSV или XLSX.")
    if not rows:
        raise ImportFileError("Файл пуст.")
    header = [_header_key(cell) for cell in rows[0]]
    positions = {}
    for column in spec.columns:
        names = {_header_key(name) for name in (column.key, *column.headers)}
        index = next((i for i, cell in enumerate(header) if cell in names), None)
        if index is None and column.required:
            raise ImportFileError(f"Нет обязательной колонки «{column.headers[0]}».")
        if index is not None:
            positions[column.key] = index
    if not positions:
        raise ImportFileError("Ни одна колонка не узнана: первая строка должна содержать заголовки.")
    data = rows[1:]
    if len(data) > MAX_IMPORT_ROWS:
        raise ImportFileError(f"Не больше {MAX_IMPORT_ROWS} строк за один импорт.")
    return [
        (line, {key: _unguard(row[index].strip()) if index < len(row) else "" for key, index in positions.items()})
        for line, row in enumerate(data, start=2)
    ]


def _unguard(text: str) -> str:
    # Our exports prefix formula-like text with an apostrophe; take it off again on the way back in.
    return text[1:] if text.startswith("'") and text[1:2] in ("=", "@", "+", "-") else text


def _error_text(exc: ApplicationError) -> str:
    details = exc.details if isinstance(exc.details, dict) else {}
    return "; ".join(f"{name}: {' '.join(map(str, texts))}" for name, texts in details.items()) or exc.message


def run_import(*, spec: ImportSpec, rows, tenant, user, dry_run: bool) -> ImportReport:
    """Import each row through the spec's service call in its own savepoint; a dry run rolls everything back."""
    report = ImportReport()
    with transaction.atomic():
        for line, values in rows:
            try:
                with transaction.atomic():
                    label = spec.import_row(tenant=tenant, user=user, values=values)
                report.outcomes.append(RowOutcome(line=line, status=NEW, message=label))
            except DuplicateRow as exc:
                report.outcomes.append(RowOutcome(line=line, status=DUPLICATE, message=str(exc)))
            except ApplicationError as exc:
                report.outcomes.append(RowOutcome(line=line, status=ERROR, message=_error_text(exc)))
            except DjangoValidationError as exc:
                # Some services let the model's own field validation speak for itself.
                text = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in exc.message_dict.items())
                report.outcomes.append(RowOutcome(line=line, status=ERROR, message=text))
        if dry_run:
            transaction.set_rollback(True)
    return report


class ImportForm(forms.Form):
    file = forms.FileField(label="Файл CSV или XLSX")


def import_view(request, *, site, spec: ImportSpec):
    """GET: the form. POST file: the dry-run preview. POST token: the real import of the previewed file."""
    try:
        model_admin = site.get_model_admin(spec.model)
    except NotRegistered:
        raise Http404("This list is not in the admin.") from None
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    tenant = backoffice_tenant(request)
    opts = spec.model._meta
    changelist_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    context = {
        **site.each_context(request),
        "title": spec.title,
        "opts": opts,
        "spec": spec,
        "tenant": tenant,
        "changelist_url": changelist_url,
        "max_rows": MAX_IMPORT_ROWS,
        "form": ImportForm(),
    }
    if request.method == "POST" and request.POST.get("token"):
        stored = request.session.pop(_SESSION_PREFIX + request.POST["token"], None)
        if stored is None or stored["model"] != opts.label_lower or stored["tenant"] != tenant.pk:
            messages.error(request, "Предпросмотр устарел: загрузите файл ещё раз.")
            return HttpResponseRedirect(request.path)
        rows = read_table(name=stored["name"], content=base64.b64decode(stored["content"]), spec=spec)
        report = run_import(spec=spec, rows=rows, tenant=tenant, user=_acting_user(request), dry_run=False)
        messages.success(
            request,
            f"Импорт «{stored['name']}»: создано {report.created}, дубликатов пропущено {report.duplicates}, "
            f"строк с ошибками {report.errors}.",
        )
        return TemplateResponse(request, "admin/backoffice/import.html", {**context, "report": report, "done": True})
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        context["form"] = form
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > MAX_IMPORT_BYTES:
                    raise ImportFileError(f"Файл больше {MAX_IMPORT_BYTES // (1024 * 1024)} МБ.")
                content = upload.read()
                rows = read_table(name=upload.name, content=content, spec=spec)
            except ImportFileError as exc:
                form.add_error("file", str(exc))
            else:
                report = run_import(spec=spec, rows=rows, tenant=tenant, user=_acting_user(request), dry_run=True)
                token = secrets.token_urlsafe(16)
                # One pending preview per session: an older one goes with its file (a session is not iterable).
                for key in [key for key in request.session.keys() if key.startswith(_SESSION_PREFIX)]:  # noqa: SIM118
                    del request.session[key]
                request.session[_SESSION_PREFIX + token] = {
                    "name": upload.name,
                    "content": base64.b64encode(content).decode(),
                    "model": opts.label_lower,
                    "tenant": tenant.pk,
                }
                context.update(report=report, token=token, file_name=upload.name)
    return TemplateResponse(request, "admin/backoffice/import.html", context)


def _acting_user(request):
    return request.user if request.user.tenant_id else None


def import_urls(site, spec: ImportSpec) -> list:
    opts = spec.model._meta
    return [
        path(
            f"{opts.app_label}/{opts.model_name}/import/",
            site.admin_view(partial(import_view, site=site, spec=spec)),
            name=f"{opts.app_label}_{opts.model_name}_import",
        )
    ]
