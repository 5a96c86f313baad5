"""Export of the ledger, one record per transaction, streamed, as CSV or JSON.

The CSV opens cleanly in a spreadsheet: UTF-8 with a header row, ISO 8601 UTC times, exact
decimals (``usd`` = ``token_value`` / 1e6, computed on integers), and any text a spreadsheet
would run as a formula prefixed with an apostrophe (OWASP's advice for CSV injection). JSON has
the same fields, decimals as strings so no reader rounds them. Rows are read in keyset pages and
written as they come, so memory stays flat whatever the ledger's size, and the file appears
under its name only once it is complete: a cancelled or failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from sqlalchemy import ColumnElement, Integer, String, case, func, select, type_coerce
from sqlalchemy.orm import Session

from app.core.errors import TallybookError
from app.core.ledger.selection import Selection
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
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
PAGE_ROWS = 5000


class Format(StrEnum):
    """File formats of an export."""

    CSV = "csv"
    JSON = "json"

    @classmethod
    def for_path(cls, path: Path) -> Format:
        """JSON for a ``.json`` file, CSV otherwise."""
        return cls.JSON if path.suffix.lower() == ".json" else cls.CSV


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
        fmt: CSV or JSON (default: from the file's extension).
        progress: called after every page with the rows written so far; returning ``False``
            cancels the export, leaving no file under ``target``.

    Raises:
        TallybookError: the folder is missing or not writable (checked before reading the ledger).
        ExportCancelled: ``progress`` returned ``False``.
    """
    fmt = fmt or Format.for_path(target)
    partial = target.with_name(f".{target.name}.partial")
    try:
        handle = partial.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise TallybookError(f"Cannot write {target}: {error.strerror}.") from None
    try:
        with handle:
            writer = _write_csv if fmt is Format.CSV else _write_json
            written = writer(handle, _pages(session, selection or Selection(), fmt), progress)
        partial.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return written


def _write_csv(handle: IO[str], pages: Iterator[Sequence[Any]], progress: Progress | None) -> int:
    writer = csv.writer(handle)
    writer.writerow(HEADER)
    written = 0
    for page in pages:
        writer.writerows(page)
        written += len(page)
        _report(written, progress)
    return written


def _write_json(handle: IO[str], pages: Iterator[Sequence[Any]], progress: Progress | None) -> int:
    """A JSON array of objects; each object was built by SQLite (``json_object``)."""
    handle.write("[")
    written = 0
    for page in pages:
        handle.write(("\n" if written == 0 else ",\n") + ",\n".join(row[0] for row in page))
        written += len(page)
        _report(written, progress)
    handle.write("\n]\n" if written else "]\n")
    return written


def _report(written: int, progress: Progress | None) -> None:
    if progress is not None and not progress(written):
        raise ExportCancelled(f"Export cancelled after {written:,} rows; no file was written.")


def _pages(session: Session, selection: Selection, fmt: Format) -> Iterator[Sequence[Any]]:
    """Finished rows in the order they were recorded, ``PAGE_ROWS`` at a time.

    SQLite formats every cell itself (exact decimals from the stored integers, ISO times,
    formula neutralising), so Python only hands finished text to the writer.
    """
    text = _neutralised if fmt is Format.CSV else _as_text
    columns: Sequence[Any] = (
        func.replace(type_coerce(Transaction.created_at, String), " ", "T") + "Z",
        Transaction.conversation_id,
        text(Conversation.title),
        text(Conversation.source),
        Transaction.message_id,
        text(Transaction.provider),
        text(Transaction.model),
        Transaction.token_type,
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
    if fmt is Format.JSON:
        columns = _as_json(columns)
    statement = (
        select(*columns)
        .outerjoin(Conversation, Conversation.id == Transaction.conversation_id)
        .outerjoin(Request, Request.id == Transaction.request_id)
        .where(*selection.transaction_clauses())
        .order_by(Transaction.id)
    )
    # SQLAlchemy compiles the query and binds the filter's values; the rows are then read
    # straight from the driver's cursor, a page at a time as SQLite steps (the cells are
    # finished text already, so there is nothing for SQLAlchemy to convert): memory stays at
    # one page whatever the ledger's size.
    result = session.connection().execute(statement)
    try:
        while rows := result.cursor.fetchmany(PAGE_ROWS):
            yield rows
    finally:
        result.close()


def _as_json(columns: Sequence[Any]) -> tuple[ColumnElement[str]]:
    """One JSON object per row, built by SQLite: the same fields, ``estimated`` a boolean."""
    pairs: list[Any] = []
    for name, column in zip(HEADER, columns, strict=True):
        pairs += [name, func.json(column) if name == "estimated" else column]
    return (func.json_object(*pairs),)


def _decimal_text(column: Any, decimals: int) -> ColumnElement[str]:
    """An integer count of 10^-decimals as exact decimal text without trailing zeros, in SQL."""
    value = type_coerce(column, Integer)
    scale = 10**decimals
    whole = func.abs(value).op("/")(scale)  # SQLite's integer division (no FLOOR needed)
    fraction = func.abs(value) % scale
    signed = case((value < 0, "-"), else_="") + func.rtrim(
        func.printf(f"%d.%0{decimals}d", whole, fraction), "0"
    )
    return case((value % scale == 0, type_coerce(value.op("/")(scale), String)), else_=signed)


def _neutralised(column: Any) -> ColumnElement[str]:
    """Text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR, LF)
    prefixed with an apostrophe (OWASP's advice for CSV injection)."""
    text = type_coerce(column, String)
    return case((func.substr(text, 1, 1).in_(_FORMULA_STARTS), "'" + text), else_=text)


def _as_text(column: Any) -> ColumnElement[str]:
    return type_coerce(column, String)
