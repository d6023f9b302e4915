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
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

from django import forms
from django.contrib import messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from openpyxl import load_workbook

from crm.admin_base import acting_user
from crm.dashboard import backoffice_tenant
from crm.errors import ApplicationError

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000  # data rows, blank ones included
MAX_IMPORT_COLUMNS = 50  # columns read from the left; the specs have at most ten
# An XLSX is a zip: a 5,000-row export of every lead column unpacks to a few MB; a "bomb" to hundreds.
MAX_XLSX_UNPACKED_BYTES = 25 * 1024 * 1024
MAX_IMPORT_READ_SECONDS = 10
_SESSION_PREFIX = "backoffice-import:"
NEW, DUPLICATE, ERROR = "new", "duplicate", "error"
STATUS_LABELS = {NEW: gettext_lazy("новая"), DUPLICATE: gettext_lazy("дубликат"), ERROR: gettext_lazy("ошибка")}


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, encoding, size, missing columns)."""


class DuplicateRow(Exception):  # noqa: N818 - an outcome, not a failure
    """The row describes something the tenant already has; it is reported and not imported."""


@dataclass(frozen=True)
class ImportColumn:
    key: str
    headers: tuple[str, ...]
    required: bool = False
    help: str | Promise = ""


@dataclass(frozen=True)
class ImportSpec:
    """One importable changelist: its columns and the function that imports one row through the services.

    `import_row(*, tenant, acting_user, values)` returns a short label of what it created, raises DuplicateRow for a
    duplicate and an ApplicationError for a row the service refuses.
    """

    model: type[Model]
    title: str | Promise
    columns: Sequence[ImportColumn]
    import_row: Callable[..., str]


@dataclass
class RowOutcome:
    line: int
    status: str
    message: str = ""

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])


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
    raise ImportFileError(_("Не удалось прочитать файл: сохраните CSV в кодировке UTF-8."))


def _bounded_rows(rows: Iterator[list]) -> list[list[str]]:
    """The file's rows as text, blank ones included: each counts toward the cap, and reading stops past it.

    Blank rows used to be skipped before counting, so 3 million of them (a 429 KB XLSX) were all read: a worker
    tied for 30 s. The time bound is the last line of defence behind the size and row caps.
    """
    deadline = time.monotonic() + MAX_IMPORT_READ_SECONDS
    read: list[list[str]] = []
    for row in rows:
        if len(read) == MAX_IMPORT_ROWS + 1:
            raise ImportFileError(
                _("Не больше %(rows)s строк за один импорт (пустые строки тоже считаются).") % {"rows": MAX_IMPORT_ROWS}
            )
        if time.monotonic() > deadline:
            raise ImportFileError(_("Файл читается слишком долго: разбейте его на части поменьше."))
        cells = ["" if value is None else str(value) for value in row[:MAX_IMPORT_COLUMNS]]
        if any("\x00" in cell for cell in cells):
            # PostgreSQL cannot store U+0000; a file full of them is usually UTF-16 text read as cp1251.
            raise ImportFileError(_("В файле есть символы NUL: сохраните его как CSV в кодировке UTF-8."))
        read.append(cells)
    return read


def _csv_rows(content: bytes) -> list[list[str]]:
    text = _decode(content)
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    try:
        return _bounded_rows(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:  # a field over the csv module's size limit, a stray quote at the end
        raise ImportFileError(_("Не удалось прочитать CSV-файл: %(reason)s.") % {"reason": exc}) from exc


def _xlsx_rows(content: bytes) -> list[list[str]]:
    _check_unpacked_size(content)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a broken file
        raise ImportFileError(_("Не удалось прочитать XLSX-файл.")) from exc
    try:
        # max_row stops the parser right after the cap (openpyxl fills gaps in the row numbers with empty rows).
        rows = workbook.worksheets[0].iter_rows(
            max_row=MAX_IMPORT_ROWS + 2, max_col=MAX_IMPORT_COLUMNS, values_only=True
        )
        return _bounded_rows(rows)
    except ImportFileError:
        raise
    except Exception as exc:  # a broken sheet part surfaces only while it is read
        raise ImportFileError(_("Не удалось прочитать XLSX-файл.")) from exc
    finally:
        workbook.close()


def _check_unpacked_size(content: bytes) -> None:
    # The sizes a zip declares bound what zipfile will inflate (it stops at the declared size), so checking them
    # refuses a small file that would inflate to gigabytes before any of it is inflated.
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportFileError(_("Не удалось прочитать XLSX-файл.")) from exc
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ImportFileError(
            _(
                "XLSX-файл распаковывается в %(unpacked)s МБ, больше %(limit)s МБ: "
                "сохраните его без пустых строк или как CSV."
            )
            % {"unpacked": unpacked // (1024 * 1024), "limit": MAX_XLSX_UNPACKED_BYTES // (1024 * 1024)}
        )


def read_table(*, name: str, content: bytes, spec: ImportSpec) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column key: text}) for each non-blank data row; the first non-blank row names the columns."""
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportFileError(_("Файл больше %(limit)s МБ.") % {"limit": MAX_IMPORT_BYTES // (1024 * 1024)})
    if name.lower().endswith(".xlsx"):
        rows = _xlsx_rows(content)
    elif name.lower().endswith((".csv", ".txt")):
        rows = _csv_rows(content)
    else:
        raise ImportFileError(_("Загрузите файл CSV или XLSX."))
    lines = [(line, row) for line, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not lines:
        raise ImportFileError(_("Файл пуст."))
    header = [_header_key(cell) for cell in lines[0][1]]
    positions = {}
    for column in spec.columns:
        names = {_header_key(name) for name in (column.key, *column.headers)}
        index = next((i for i, cell in enumerate(header) if cell in names), None)
        if index is None and column.required:
            raise ImportFileError(_("Нет обязательной колонки «%(column)s».") % {"column": column.headers[0]})
        if index is not None:
            positions[column.key] = index
    if not positions:
        raise ImportFileError(_("Ни одна колонка не узнана: первая строка должна содержать заголовки."))
    return [
        (line, {key: _unguard(row[index].strip()) if index < len(row) else "" for key, index in positions.items()})
        for line, row in lines[1:]
    ]


def _unguard(text: str) -> str:
    # Our exports prefix formula-like text with an apostrophe; take it off again on the way back in.
    return text[1:] if text.startswith("'") and text[1:2] in ("=", "@", "+", "-") else text


def _error_text(exc: ApplicationError) -> str:
    details = exc.details if isinstance(exc.details, dict) else {}
    return "; ".join(f"{name}: {' '.join(map(str, texts))}" for name, texts in details.items()) or exc.message


def run_import(*, spec: ImportSpec, rows, tenant, acting_user, dry_run: bool) -> ImportReport:
    """Import each row through the spec's service call in its own savepoint; a dry run rolls everything back."""
    report = ImportReport()
    with transaction.atomic():
        for line, values in rows:
            try:
                with transaction.atomic():
                    label = spec.import_row(tenant=tenant, acting_user=acting_user, values=values)
                report.outcomes.append(RowOutcome(line=line, status=NEW, message=label))
            except DuplicateRow as exc:
                report.outcomes.append(RowOutcome(line=line, status=DUPLICATE, message=str(exc)))
            except ApplicationError as exc:
                report.outcomes.append(RowOutcome(line=line, status=ERROR, message=_error_text(exc)))
        if dry_run:
            transaction.set_rollback(True)
    return report


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Файл CSV или XLSX"))


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
        return _import_previewed(request, spec=spec, tenant=tenant, context=context)
    if request.method == "POST":
        _preview_upload(request, spec=spec, tenant=tenant, context=context)
    return TemplateResponse(request, "admin/backoffice/import.html", context)


def _import_previewed(request, *, spec: ImportSpec, tenant, context: dict):
    """The real import of the file this session previewed (the token names it)."""
    opts = spec.model._meta
    stored = request.session.pop(_SESSION_PREFIX + request.POST["token"], None)
    if stored is None or stored["model"] != opts.label_lower or stored["tenant"] != tenant.pk:
        messages.error(request, _("Предпросмотр устарел: загрузите файл ещё раз."))
        return HttpResponseRedirect(request.path)
    rows = read_table(name=stored["name"], content=base64.b64decode(stored["content"]), spec=spec)
    report = run_import(spec=spec, rows=rows, tenant=tenant, acting_user=acting_user(request), dry_run=False)
    messages.success(
        request,
        _("Импорт «%(file)s»: %(created)s, %(duplicates)s, %(errors)s.")
        % {
            "file": stored["name"],
            "created": ngettext("создана %(count)d строка", "создано %(count)d строк", report.created)
            % {"count": report.created},
            "duplicates": ngettext("пропущен %(count)d дубликат", "пропущено %(count)d дубликатов", report.duplicates)
            % {"count": report.duplicates},
            "errors": ngettext("%(count)d строка с ошибкой", "%(count)d строк с ошибками", report.errors)
            % {"count": report.errors},
        },
    )
    return TemplateResponse(request, "admin/backoffice/import.html", {**context, "report": report, "done": True})


def _preview_upload(request, *, spec: ImportSpec, tenant, context: dict) -> None:
    """The dry run of an uploaded file: its report in `context`, the file kept in the session for the real run."""
    form = ImportForm(request.POST, request.FILES)
    context["form"] = form
    if not form.is_valid():
        return
    upload = form.cleaned_data["file"]
    try:
        if upload.size > MAX_IMPORT_BYTES:
            raise ImportFileError(_("Файл больше %(limit)s МБ.") % {"limit": MAX_IMPORT_BYTES // (1024 * 1024)})
        content = upload.read()
        rows = read_table(name=upload.name, content=content, spec=spec)
    except ImportFileError as exc:
        form.add_error("file", str(exc))
        return
    report = run_import(spec=spec, rows=rows, tenant=tenant, acting_user=acting_user(request), dry_run=True)
    token = secrets.token_urlsafe(16)
    # One pending preview per session: an older one goes with its file (a session is not iterable).
    for key in [key for key in request.session.keys() if key.startswith(_SESSION_PREFIX)]:  # noqa: SIM118
        del request.session[key]
    request.session[_SESSION_PREFIX + token] = {
        "name": upload.name,
        "content": base64.b64encode(content).decode(),
        "model": spec.model._meta.label_lower,
        "tenant": tenant.pk,
    }
    context.update(report=report, token=token, file_name=upload.name)


def import_urls(site, spec: ImportSpec) -> list:
    opts = spec.model._meta
    return [
        path(
            f"{opts.app_label}/{opts.model_name}/import/",
            site.admin_view(partial(import_view, site=site, spec=spec)),
            name=f"{opts.app_label}_{opts.model_name}_import",
        )
    ]
