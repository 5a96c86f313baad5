"""CSV export of the ledger, one row per transaction, streamed.

The file opens cleanly in a spreadsheet: UTF-8 with a header row, ISO 8601 UTC times, exact
decimals (``usd`` = ``token_value`` / 1e6, computed on integers), and any text a spreadsheet would
run as a formula prefixed with an apostrophe (OWASP's advice for CSV injection). Rows are read in
pages and written as they come, so memory stays flat whatever the ledger's size, and the file
appears under its name only once it is complete.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, select, type_coerce
from sqlalchemy.orm import Session

from app.core.errors import TallybookError
from app.core.models import Conversation, Transaction
from app.core.reports import time_filters

HEADER = (
    "created_at",
    "conversation_id",
    "conversation_title",
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
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
PAGE_ROWS = 5000


class ExportCancelled(TallybookError):
    """The caller asked to stop; the partial file was removed."""


@dataclass(frozen=True)
class ExportFilter:
    """Which transactions to export (all of them when every field is ``None``)."""

    since: date | None = None
    until: date | None = None
    model: str | None = None
    conversation_id: int | None = None


def export_csv(
    session: Session,
    target: Path,
    selection: ExportFilter = ExportFilter(),
    *,
    progress: Callable[[int], bool] | None = None,
) -> int:
    """Write the selected transactions to ``target`` and return how many rows were written.

    Args:
        progress: called after every page with the rows written so far; returning ``False``
            cancels the export, leaving no file under ``target``.

    Raises:
        TallybookError: the folder is missing or not writable (checked before reading the ledger).
        ExportCancelled: ``progress`` returned ``False``.
    """
    partial = target.with_name(f".{target.name}.partial")
    try:
        handle = partial.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise TallybookError(f"Cannot write {target}: {error.strerror}.") from None
    written = 0
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for page in _pages(session, selection):
                writer.writerows(page)
                written += len(page)
                if progress is not None and not progress(written):
                    raise ExportCancelled(
                        f"Export cancelled after {written:,} rows; no file was written."
                    )
        partial.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return written


def _pages(session: Session, selection: ExportFilter) -> Iterator[list[tuple[Any, ...]]]:
    """Formatted rows in the order they were recorded, a keyset page at a time.

    pysqlite hands SQLAlchemy every row of a result at once, so streaming one big query would
    hold the whole ledger in memory; pages of ``id > last`` keep it to ``PAGE_ROWS`` rows. Amounts
    are read as the stored integers and formatted with integer arithmetic: exact, and several
    times faster than building a Decimal for every cell.
    """
    amounts = (Transaction.raw_amount, Transaction.rate, Transaction.token_value)
    statement = (
        select(
            Transaction.id,
            type_coerce(Transaction.created_at, String),  # the stored text: no parsing
            Transaction.conversation_id,
            Conversation.title,
            Transaction.message_id,
            Transaction.provider,
            Transaction.model,
            Transaction.token_type,
            *(type_coerce(column, BigInteger) for column in amounts),
            Transaction.context,
            Transaction.estimated,
        )
        .outerjoin(Conversation, Conversation.id == Transaction.conversation_id)
        .where(*_filters(selection))
        .order_by(Transaction.id)
        .limit(PAGE_ROWS)
    )
    last_id = 0
    while rows := session.execute(statement.where(Transaction.id > last_id)).all():
        last_id = rows[-1][0]
        yield [_format(row) for row in rows]


def _filters(selection: ExportFilter) -> list[ColumnElement[bool]]:
    clauses = time_filters(selection.since, selection.until)
    if selection.model is not None:
        clauses.append(Transaction.model == selection.model)
    if selection.conversation_id is not None:
        clauses.append(Transaction.conversation_id == selection.conversation_id)
    return clauses


def _format(row: Any) -> tuple[Any, ...]:
    (
        _id,
        created,
        conversation_id,
        title,
        message_id,
        provider,
        model,
        token_type,
        raw_amount,
        rate,
        token_value,
        context,
        estimated,
    ) = row
    return (
        created.replace(" ", "T", 1) + "Z",
        conversation_id,
        _neutralise(title),
        message_id,
        _neutralise(provider),
        _neutralise(model),
        token_type,
        millionths_text(raw_amount),
        millionths_text(rate),
        millionths_text(token_value),
        millionths_text(token_value, decimals=12),
        _neutralise(context),
        "true" if estimated else "false",
    )


def millionths_text(value: int, *, decimals: int = 6) -> str:
    """An integer count of 10^-decimals as exact decimal text, without trailing zeros."""
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**decimals)
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{decimals}d}".rstrip("0")


def _neutralise(text: str | None) -> str | None:
    """Prefix text a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``, tab, CR) with ``'``."""
    if text and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text
