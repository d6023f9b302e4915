"""Bounds of the back-office import (crm.imports): every row counts toward the cap, blank ones too; an XLSX that
would inflate far beyond its size (a "bomb") is refused before it is read; unreadable text is a clear error."""

import io
import zipfile

import pytest
from openpyxl import Workbook

from crm.imports import MAX_IMPORT_ROWS, MAX_XLSX_UNPACKED_BYTES
from crm.tests.factories import TEST_PASSWORD
from pipelines.models import Lead

IMPORT_URL = "/admin/pipelines/lead/import/"

_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    b"</Types>"
)
_ROOT_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    b'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    b'Target="worksheets/sheet1.xml"/></Relationships>'
)
_HEADER_ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>Phone</t></is></c></row>'


def _row(number: int, phone: str) -> bytes:
    return f'<row r="{number}"><c r="A{number}" t="inlineStr"><is><t>{phone}</t></is></c></row>'.encode()


def xlsx_with_sheet(rows: bytes) -> bytes:
    """A minimal workbook whose only sheet holds `rows` (the XML of its <row> elements), zipped as Excel does."""
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        + rows
        + b"</sheetData></worksheet>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


@pytest.fixture
def staff(client, owner):
    client.login(username=owner.username, password=TEST_PASSWORD)
    return client


def post_file(client, name: str, content: bytes):
    handle = io.BytesIO(content)
    handle.name = name
    return client.post(IMPORT_URL, {"file": handle})


def file_error(response) -> str:
    assert response.status_code == 200
    assert "report" not in response.context
    return str(response.context["form"].errors["file"])


def test_the_generated_workbook_imports(staff, pipeline):
    # The control: the hand-made workbook of the tests below is a valid XLSX for the importer.
    content = xlsx_with_sheet(_HEADER_ROW + _row(2, "+79160000101") + _row(3, "+79160000102"))

    preview = post_file(staff, "leads.xlsx", content)

    assert [(o.line, o.status) for o in preview.context["report"].outcomes] == [(2, "new"), (3, "new")]


def test_an_xlsx_bomb_is_refused_before_it_is_read(staff, pipeline):
    # 3 million blank rows: a few hundred KB zipped, tens of MB of XML.
    blank_rows = b'<row r="2"/>' * 3_000_000
    content = xlsx_with_sheet(_HEADER_ROW + blank_rows + _row(3_000_002, "+79160000103"))
    assert len(content) < 1024 * 1024

    error = file_error(post_file(staff, "bomb.xlsx", content))

    assert "распаковывается" in error
    assert f"{MAX_XLSX_UNPACKED_BYTES // (1024 * 1024)} МБ" in error
    assert not Lead.objects.exists()


def test_blank_xlsx_rows_count_toward_the_row_cap(staff, pipeline):
    blank_rows = b"".join(f'<row r="{n}"/>'.encode() for n in range(2, MAX_IMPORT_ROWS + 3))
    content = xlsx_with_sheet(_HEADER_ROW + blank_rows + _row(MAX_IMPORT_ROWS + 3, "+79160000104"))

    error = file_error(post_file(staff, "blank.xlsx", content))

    assert f"Не больше {MAX_IMPORT_ROWS} строк" in error
    assert "пустые строки тоже считаются" in error
    assert not Lead.objects.exists()


def test_a_row_numbered_a_million_is_refused_without_reading_the_gap(staff, pipeline):
    # openpyxl fills a gap in the row numbers with empty rows: row 1,048,576 alone is a million rows.
    content = xlsx_with_sheet(_HEADER_ROW + _row(1_048_576, "+79160000105"))

    error = file_error(post_file(staff, "gap.xlsx", content))

    assert f"Не больше {MAX_IMPORT_ROWS} строк" in error


def test_the_cap_itself_is_allowed_and_line_numbers_count_blank_rows(staff, pipeline):
    blank_rows = b"".join(f'<row r="{n}"/>'.encode() for n in range(2, MAX_IMPORT_ROWS))
    content = xlsx_with_sheet(_HEADER_ROW + blank_rows + _row(MAX_IMPORT_ROWS + 1, "+79160000106"))

    preview = post_file(staff, "edge.xlsx", content)

    assert [(o.line, o.status) for o in preview.context["report"].outcomes] == [(MAX_IMPORT_ROWS + 1, "new")]


def test_blank_csv_lines_count_toward_the_row_cap(staff, pipeline):
    content = ("Телефон\r\n+79160000107\r\n" + "\r\n" * MAX_IMPORT_ROWS).encode()

    error = file_error(post_file(staff, "blank.csv", content))

    assert f"Не больше {MAX_IMPORT_ROWS} строк" in error
    assert not Lead.objects.exists()


def test_csv_line_numbers_count_blank_lines(staff, pipeline):
    content = "\r\nТелефон;Имя\r\n\r\n+79160000108;Анна\r\n;\r\n+79160000109;Борис\r\n".encode()

    preview = post_file(staff, "gaps.csv", content)

    assert [(o.line, o.status) for o in preview.context["report"].outcomes] == [(4, "new"), (6, "new")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Телефон;Имя\r\n+79160000110;Ан\x00на\r\n".encode(), "NUL"),
        ("Телефон\r\n+79160000110\r\n".encode("utf-16"), "NUL"),
        ("Телефон\r\n".encode() + b'"' + b"x" * 200_000 + b'"\r\n', "CSV"),
    ],
    ids=["nul", "utf-16", "huge-field"],
)
def test_unreadable_csv_text_is_a_clear_error(staff, pipeline, content, message):
    assert message in file_error(post_file(staff, "bad.csv", content))
    assert not Lead.objects.exists()


def test_a_broken_sheet_part_is_a_clear_error(staff, pipeline):
    content = xlsx_with_sheet(_HEADER_ROW + b'<row r="2"><c r="A2" t="inlineStr"><is><t>unclosed')

    assert "XLSX" in file_error(post_file(staff, "broken.xlsx", content))


def test_columns_far_to_the_right_are_not_read(staff, pipeline):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Телефон"] + [""] * 200 + ["Имя"])
    sheet.append(["+79160000111"] + [""] * 200 + ["Далеко"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    preview = post_file(staff, "wide.xlsx", buffer.getvalue())

    assert [o.status for o in preview.context["report"].outcomes] == ["new"]
    assert "Далеко" not in preview.context["report"].outcomes[0].message
