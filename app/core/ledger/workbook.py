"""The export as an Excel workbook (``tallybook export --out spend.xlsx``), written by openpyxl.

Cells are typed, so Excel sorts, filters and sums them as they are: times are date cells (UTC,
the header says so), ids and counts numbers, ``estimated`` a boolean, free text always text
(never a formula, whatever it starts with; characters a workbook cannot hold are dropped).
Amounts are number cells holding every digit of the exact decimal; Excel computes with 15
significant digits, which keeps all of them for any amount under $1,000. openpyxl's write-only
mode streams the rows to the file, so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

_WIDTHS = {"created_at (UTC)": 20, "conversation_title": 40, "model": 24, "rate_source": 24}
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def write(
    handle: IO[bytes],
    header: Sequence[str],
    pages: Iterable[Sequence[Sequence[Any]]],
    written: Callable[[int], None],
) -> int:
    """One sheet, "Transactions": the header (bold, frozen), then the rows as they come.

    Args:
        pages: rows of ``datetime``, ``int``, ``Decimal``, ``bool``, ``str`` or ``None``.
        written: called after each page with the rows written so far (it may raise to stop).

    Returns:
        How many rows were written.
    """
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Transactions")
    sheet.freeze_panes = "A2"
    for column, name in enumerate(header, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = _WIDTHS.get(name, 14)
    bold = Font(bold=True)
    sheet.append([_styled(sheet, name, font=bold) for name in header])
    count = 0
    for page in pages:
        for row in page:
            sheet.append([_cell(sheet, value) for value in row])
        count += len(page)
        written(count)
    book.save(handle)
    return count


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    """The value as openpyxl writes it, or a cell of its own where the plain value would be
    misread: text starting with ``=`` (a formula) and times (a format to the second)."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        return _styled(sheet, value) if value.startswith("=") else value
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value)
        cell.number_format = _TIME_FORMAT
        return cell
    return value


def _styled(sheet: WriteOnlyWorksheet, text: str, *, font: Font | None = None) -> Cell:
    """A text cell that stays text."""
    cell = WriteOnlyCell(sheet, text)
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell
