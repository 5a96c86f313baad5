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
import json
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from sqlalchemy import BigInteger, String, select, type_coerce
from sqlalchemy.orm import Session

from app.core.errors import TallybookError
from app.core.models import Conversation, Transaction
from app.core.transactions import Filter

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
    selection: Filter | None = None,
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
            written = writer(handle, _pages(session, selection or Filter()), progress)
        partial.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return written


def _write_csv(
    handle: IO[str], pages: Iterator[list[tuple[Any, ...]]], progress: Progress | None
) -> int:
    writer = csv.writer(handle)
    writer.writerow(HEADER)
    written = 0
    for page in pages:
        writer.writerows(
            tuple(_neutralise(v) if i in _TEXT else v for i, v in enumerate(row)) for row in page
        )
        written += len(page)
        _report(written, progress)
    return written


def _write_json(
    handle: IO[str], pages: Iterator[list[tuple[Any, ...]]], progress: Progress | None
) -> int:
    handle.write("[")
    written = 0
    for page in pages:
        for row in page:
            record = dict(zip(HEADER, row, strict=True))
            record["estimated"] = record["estimated"] == "true"
            handle.write(("\n" if written == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
            written += 1
        _report(written, progress)
    handle.write("\n]\n" if written else "]\n")
    return written


def _report(written: int, progress: Progress | None) -> None:
    if progress is not None and not progress(written):
        raise ExportCancelled(f"Export cancelled after {written:,} rows; no file was written.")


_TEXT = {HEADER.index(name) for name in ("conversation_title", "provider", "model", "context")}


def _pages(session: Session, selection: Filter) -> Iterator[list[tuple[Any, ...]]]:
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
        .where(*selection.clauses())
        .order_by(Transaction.id)
        .limit(PAGE_ROWS)
    )
    last_id = 0
    while rows := session.execute(statement.where(Transaction.id > last_id)).all():
        last_id = rows[-1][0]
        yield [_format(row) for row in rows]


def _format(row: Any) -> tuple[Any, ...]:
    (_id, created, conversation_id, title, message_id, provider, model, token_type,
     raw_amount, rate, token_value, context, estimated) = row  # fmt: skip
    return (
        created.replace(" ", "T", 1) + "Z",
        conversation_id,
        title,
        message_id,
        provider,
        model,
        token_type,
        millionths_text(raw_amount),
        millionths_text(rate),
        millionths_text(token_value),
        millionths_text(token_value, decimals=12),
        context,
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
