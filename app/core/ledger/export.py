"""Export of the ledger, one record per transaction in time order (``created_at``, then
``id``), streamed, as CSV, CSV for Excel, an Excel workbook or JSON.

The CSV opens cleanly in a spreadsheet: UTF-8 with a header row, ISO 8601 UTC times, exact
decimals (``usd`` = ``token_value`` / 1e6, computed on integers), and any text a spreadsheet
would run as a formula prefixed with an apostrophe (OWASP's advice for CSV injection). The
Excel flavour adds a UTF-8 byte order mark (without it Excel on Windows reads the file as the
local code page) and writes times as ``2026-12-01 09:44:06`` in a ``created_at (UTC)`` column,
which Excel reads as times, not text. The workbook (:mod:`app.core.ledger.workbook`) has typed
cells. JSON has the same fields with one JSON type per field in every row: amounts
(``raw_amount``, ``rate``, ``token_value``, ``usd``) are exact decimal strings so no reader
rounds them, ids are integers (or null), ``estimated`` is a boolean, the rest strings (or null).

SQLite formats every cell and joins each row into its CSV line or JSON object, so Python mostly
hands finished pages to the file (close to the ``sqlite3`` shell's own CSV speed). Rows are read
a page at a time and written as they come, so memory stays flat whatever the ledger's size, and
the file appears under its name only once it is complete: a cancelled or failed export leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable, Generator, Sequence
from enum import StrEnum
from itertools import chain
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.orm import Session

from app.core.errors import TallybookError
from app.core.ledger.selection import Selection
from app.core.money import credits_to_usd
from app.core.storage.models import Conversation, Request, Transaction

HEADER = (
    "created_at",
    "conversation_id",
    "conversation_title",
    "conversation_source",
    "message_id",
    "provider",
    "model",
    "token_type",
    "raw_amount",
    "rate",
    "token_value",
    "usd",
    "context",
    "estimated",
    "rate_source",
    "requested_model",
    "usage_notes",
)
"""``model`` is the model that served (and priced) the request; ``requested_model`` the one it
asked for, where the reply named another. ``rate_source`` says where each rate came from (the
price table's version, a user override, a default for an unknown model or unit, the provider's
own figure); ``usage_notes`` what the provider reported that Tallybook did not understand."""
EXCEL_HEADER = ("created_at (UTC)", *HEADER[1:])
"""The Excel CSV's and the workbook's header: their times carry no ``Z`` to say UTC."""
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_BOM = "\ufeff"
PAGE_ROWS = 5000
EXCEL_MAX_ROWS = 1_048_575
"""Rows an Excel sheet holds below its header."""


class Format(StrEnum):
    """File formats of an export."""

    CSV = "csv"
    EXCEL_CSV = "excel-csv"
    """CSV with a byte order mark and times Excel reads as times."""
    XLSX = "xlsx"
    JSON = "json"

    @classmethod
    def for_path(cls, path: Path, *, excel: bool = False) -> Format:
        """The format a file's name asks for: JSON for ``.json``, a workbook for ``.xlsx``,
        CSV for ``.csv``, ``.txt`` or no extension (for Excel if ``excel``).

        Raises:
            TallybookError: another extension (a ``.xls`` or ``.ods`` would be a CSV under a
                spreadsheet's name), or ``excel`` for a JSON file.
        """
        suffix = path.suffix.lower()
        if suffix in ("", ".csv", ".txt"):
            return cls.EXCEL_CSV if excel else cls.CSV
        if suffix == ".xlsx":
            return cls.XLSX
        if suffix == ".json" and not excel:
            return cls.JSON
        if suffix == ".json":
            raise TallybookError(
                "A CSV for Excel cannot be a .json file: name it .csv (or .xlsx for a workbook)."
            )
        raise TallybookError(
            f"Cannot write {suffix} files: name the file .csv, .xlsx (an Excel workbook) or .json."
        )


class ExportCancelled(TallybookError):
    """The caller asked to stop; the partial file was removed."""


Progress = Callable[[int], bool]


def export(
    session: Session,
    target: Path,
    selection: Selection | None = None,
    *,
    fmt: Format | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the selected transactions to ``target``; returns how many were written.

    Args:
        fmt: the file's format (default: from its extension, :meth:`Format.for_path`).
        progress: called after every page with the rows written so far; returning ``False``
            cancels the export, leaving no file under ``target``.

    Raises:
        TallybookError: an extension Tallybook does not write, or the folder is missing or not
            writable (both checked before reading the ledger); more rows than an Excel sheet
            holds, for a workbook.
        ExportCancelled: ``progress`` returned ``False``.
    """
    fmt = fmt or Format.for_path(target)
    selection = selection or Selection()
    partial = target.with_name(f".{target.name}.partial")
    try:
        handle = partial.open("wb")
    except OSError as error:
        raise TallybookError(f"Cannot write {target}: {error.strerror}.") from None
    try:
        with handle:
            if fmt is Format.XLSX:
                written = _write_xlsx(handle, session, selection, progress)
            else:
                with io.TextIOWrapper(handle, encoding="utf-8", newline="") as text:
                    if fmt is Format.JSON:
                        written = _write_json(text, session, selection, progress)
                    else:
                        written = _write_csv(
                            text, session, selection, progress, excel=fmt is Format.EXCEL_CSV
                        )
        partial.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return written


def cells(selection: Selection, *, excel: bool = False) -> Select[Any]:
    """The CSV's rows as SQL: one column per :data:`HEADER` field, named after it, each cell
    the text the CSV holds before CSV quoting, in time order (``created_at``, then ``id``).

    The benchmark hands this to the ``sqlite3`` shell as its baseline.
    """
    return _select(_fields(_neutralised, excel=excel), selection)


def _write_csv(
    handle: IO[str],
    session: Session,
    selection: Selection,
    progress: Progress | None,
    *,
    excel: bool,
) -> int:
    """The header, then the rows: pages of lines SQLite wrote (:func:`_write_lines`) while
    few rows need quotes; from a page where more than a quarter do (a ledger of titles with
    commas), the rest by ``csv.writer`` from their cells, which is then the quicker way.
    """
    if excel:
        handle.write(_BOM)
    csv.writer(handle).writerow(EXCEL_HEADER if excel else HEADER)
    fields = _fields(_neutralised, excel=excel)
    line = func.printf(",".join(["%s"] * len(HEADER)), *fields)
    ids: Select[Any] = select(literal_column("value")).select_from(func.json_each(bindparam("ids")))
    by_id = _select((Transaction.id, *fields), Selection())
    by_id = by_id.where(Transaction.id.in_(ids.scalar_subquery()))  # one parameter, any count
    written, last = 0, None
    with contextlib.closing(_pages(session, _select((Transaction.id, line), selection))) as pages:
        for page in pages:
            quoted = _write_lines(handle, session, page, by_id)
            written += len(page)
            _report(written, progress)
            if quoted * 4 > len(page):
                last = page[-1][0]
                break
    if last is not None:
        for page in _pages(session, cells(selection, excel=excel).where(_after(last))):
            csv.writer(handle).writerows(page)
            written += len(page)
            _report(written, progress)
    return written


def _after(row_id: int) -> ColumnElement[bool]:
    """The rows after transaction ``row_id`` in the export's order (time, then id)."""
    at = select(Transaction.created_at).where(Transaction.id == row_id).scalar_subquery()
    return tuple_(Transaction.created_at, Transaction.id) > tuple_(at, row_id)


def _write_lines(handle: IO[str], session: Session, page: Sequence[Any], by_id: Select[Any]) -> int:
    """A page of ``(id, line)``, lines as SQLite joined them (cells and commas, ``NULL`` as
    nothing: what ``csv.writer`` writes for a row none of whose cells needs quotes).

    The page is checked whole, at C speed: commas only as separators, no quote, CR or LF.
    A page that fails (a title "Hello, world") goes row by row: its plain lines as they are,
    the others through ``csv.writer`` from their cells, read again ``by_id``. So the file is
    what ``csv.writer`` writes, and Python does no work per row on a plain page. (Only text
    holding a NUL character, which no spreadsheet reads, differs: SQLite's printf cuts it.)

    Returns:
        How many rows needed quotes.
    """
    lines = [text for _, text in page]
    if _plain("".join(lines), len(lines)):
        handle.write("\r\n".join(lines) + "\r\n")
        return 0
    quoting = [row_id for row_id, text in page if not _plain(text, 1)]
    rows = chain.from_iterable(_pages(session, by_id, {"ids": json.dumps(quoting)}))
    cells = {row[0]: row[1:] for row in rows}
    writer = csv.writer(handle)
    for row_id, text in page:
        if row_id in cells:
            writer.writerow(cells[row_id])
        else:
            handle.write(text + "\r\n")
    return len(quoting)


def _plain(text: str, lines: int) -> bool:
    """No cell of these ``lines`` (run together in ``text``) needs CSV quotes: only the
    separators are commas, and no quote, CR or LF appears."""
    return (
        text.count(",") == (len(HEADER) - 1) * lines
        and '"' not in text
        and "\r" not in text
        and "\n" not in text
    )


def _write_json(
    handle: IO[str], session: Session, selection: Selection, progress: Progress | None
) -> int:
    """A JSON array of objects; each object was built by SQLite (``json_object``)."""
    handle.write("[")
    written = 0
    for page in _pages(session, _select((_json_object(_fields(_as_text)),), selection)):
        handle.write(("\n" if written == 0 else ",\n") + ",\n".join(chain.from_iterable(page)))
        written += len(page)
        _report(written, progress)
    handle.write("\n]\n" if written else "]\n")
    return written


def _write_xlsx(
    handle: IO[bytes], session: Session, selection: Selection, progress: Progress | None
) -> int:
    """A workbook of typed cells (openpyxl is imported only for one)."""
    from app.core.ledger import workbook

    count = select(func.count()).select_from(_select((Transaction.id,), selection).subquery())
    total = session.scalar(count) or 0
    if total > EXCEL_MAX_ROWS:
        raise TallybookError(
            f"An Excel sheet holds {EXCEL_MAX_ROWS:,} rows and this export has {total:,}: "
            "export to .csv, or narrow the range."
        )
    typed = _select(_typed_fields(), selection).execution_options(yield_per=PAGE_ROWS)
    pages = (
        [(*row[:11], credits_to_usd(row[10]), *row[11:]) for row in page]
        for page in session.execute(typed).partitions()
    )
    return workbook.write(handle, EXCEL_HEADER, pages, lambda written: _report(written, progress))


def _report(written: int, progress: Progress | None) -> None:
    if progress is not None and not progress(written):
        raise ExportCancelled(f"Export cancelled after {written:,} rows; no file was written.")


def _pages(
    session: Session, statement: Select[Any], params: dict[str, Any] | None = None
) -> Generator[Sequence[Any]]:
    """The statement's rows, ``PAGE_ROWS`` at a time, as SQLite steps.

    SQLite formats every cell itself (exact decimals from the stored integers, ISO times,
    formula neutralising) and joins them into the row's line or JSON object. SQLAlchemy
    compiles the query and binds the filter's values; the rows are then read straight from
    the driver's cursor (finished text, nothing for SQLAlchemy to convert): memory stays at
    one page whatever the ledger's size.
    """
    result = session.connection().execute(statement, params)
    try:
        while rows := result.cursor.fetchmany(PAGE_ROWS):
            yield rows
    finally:
        result.close()


def _select(columns: Sequence[Any], selection: Selection) -> Select[Any]:
    return (
        select(*columns)
        .outerjoin(Conversation, Conversation.id == Transaction.conversation_id)
        .outerjoin(Request, Request.id == Transaction.request_id)
        .where(*selection.transaction_clauses())
        .order_by(Transaction.created_at, Transaction.id)
    )


def _fields(
    text: Callable[[Any], ColumnElement[str]], *, excel: bool = False
) -> list[ColumnElement[Any]]:
    """The :data:`HEADER` fields, labelled after it, free text passed through ``text``; times
    as ISO 8601 with a ``Z``, or for Excel to the second with a space (``2026-12-01 09:44:06``).
    """
    stored = type_coerce(Transaction.created_at, String)  # "2026-12-01 09:44:06.430213"
    columns = (
        func.substr(stored, 1, 19) if excel else func.replace(stored, " ", "T") + "Z",
        Transaction.conversation_id,
        text(Conversation.title),
        text(Conversation.source),
        Transaction.message_id,
        text(Transaction.provider),
        text(Transaction.model),
        text(Transaction.token_type),  # an adjustment's carries the provider's tier name
        _decimal_text(Transaction.raw_amount, 6),
        _decimal_text(Transaction.rate, 6),
        _decimal_text(Transaction.token_value, 6),
        _decimal_text(Transaction.token_value, 12),
        text(Transaction.context),
        case((type_coerce(Transaction.estimated, Integer) != 0, "true"), else_="false"),
        text(Transaction.rate_source),
        text(Request.requested_model),
        text(Request.usage_notes),
    )
    return [column.label(label) for label, column in zip(HEADER, columns, strict=True)]


def _typed_fields() -> tuple[Any, ...]:
    """The :data:`HEADER` fields but ``usd`` as SQLAlchemy reads them: datetimes, ints,
    exact Decimals, a bool, text (the workbook's cells)."""
    return (
        Transaction.created_at,
        Transaction.conversation_id,
        Conversation.title,
        Conversation.source,
        Transaction.message_id,
        Transaction.provider,
        Transaction.model,
        Transaction.token_type,
        Transaction.raw_amount,
        Transaction.rate,
        Transaction.token_value,
        Transaction.context,
        Transaction.estimated,
        Transaction.rate_source,
        Request.requested_model,
        Request.usage_notes,
    )


def _json_object(fields: Sequence[ColumnElement[Any]]) -> ColumnElement[str]:
    """One JSON object per row, built by SQLite: the same fields, ``estimated`` a boolean."""
    pairs: list[Any] = []
    for name, column in zip(HEADER, fields, strict=True):
        pairs += [name, func.json(column) if name == "estimated" else column]
    return func.json_object(*pairs)


def _decimal_text(column: Any, decimals: int) -> ColumnElement[str]:
    """An integer count of 10^-decimals as exact decimal text without trailing zeros, in SQL."""
    value = type_coerce(column, Integer)
    scale = 10**decimals
    whole = func.abs(value).op("/")(scale)  # SQLite's integer division (no FLOOR needed)
    fraction = func.abs(value) % scale
    signed = case((value < 0, "-"), else_="") + func.rtrim(
        func.printf(f"%d.%0{decimals}d", whole, fraction), "0"
    )
    # CAST, not type_coerce: a whole number is text too, so JSON has one type per field.
    return case((value % scale == 0, cast(value.op("/")(scale), String)), else_=signed)


def _neutralised(column: Any) -> ColumnElement[str]:
    """Text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR, LF)
    prefixed with an apostrophe (OWASP's advice for CSV injection)."""
    text = type_coerce(column, String)
    return case((func.substr(text, 1, 1).in_(_FORMULA_STARTS), "'" + text), else_=text)


def _as_text(column: Any) -> ColumnElement[str]:
    return type_coerce(column, String)
