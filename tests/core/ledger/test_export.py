from __future__ import annotations

import csv
import dataclasses
import tracemalloc
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update

from app.core import conversations
from app.core.errors import TallybookError
from app.core.ledger import demo_data, entries, export
from app.core.ledger.export import ExportCancelled
from app.core.ledger.selection import Selection
from app.core.storage.db import Database
from app.core.storage.models import Transaction
from tests.factories import spend


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_header_and_exact_values(db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        chat = conversations.create_conversation(session, title="Plain title")
        base = spend(137, 0)
        entries.spend_tokens(
            session,
            entries.Spend("openai", "test-model", base.usage, base.rates, chat.id),
            now=datetime(2026, 5, 6, 7, 8, 9, 123456),
        )
    out = tmp_path / "ledger.csv"
    with db.read() as session:
        assert export.export(session, out) == 2
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(export.HEADER)
    prompt = _read(out)[0]
    assert prompt == {
        "created_at": "2026-05-06T07:08:09.123456Z",
        "conversation_id": str(chat.id),
        "conversation_title": "Plain title",
        "conversation_source": "chat",
        "message_id": "",
        "provider": "openai",
        "model": "test-model",
        "token_type": "prompt",
        "raw_amount": "-137",
        "rate": "1.5",
        "token_value": "-205.5",
        "usd": "-0.0002055",
        "context": "message",
        "estimated": "false",
        "rate_source": "test",
        "requested_model": "",
        "usage_notes": "",
    }


@pytest.mark.parametrize(
    "title", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rx"]
)
def test_formula_text_is_neutralised(db: Database, tmp_path: Path, title: str) -> None:
    with db.write() as session:
        chat = conversations.create_conversation(session, title=title)
        base = spend(1, 1)
        entries.spend_tokens(
            session, entries.Spend("openai", "test-model", base.usage, base.rates, chat.id)
        )
    out = tmp_path / "x.csv"
    with db.read() as session:
        export.export(session, out)
    row = _read(out)[0]
    assert row["conversation_title"] == "'" + title
    assert row["token_value"] == "-1.5"  # numbers keep their sign, unquoted


def test_a_unit_named_like_a_formula_is_neutralised(db: Database, tmp_path: Path) -> None:
    """A rate adjustment's unit is ``<tier>:<unit>``, the tier named by the provider."""
    with db.write() as session:
        entries.spend_tokens(session, spend(1, 1))
        session.execute(
            update(Transaction)
            .where(Transaction.token_type == "prompt")
            .values(token_type="=cmd():prompt")
        )
    out = tmp_path / "x.csv"
    with db.read() as session:
        export.export(session, out)
    assert {row["token_type"] for row in _read(out)} == {"'=cmd():prompt", "completion"}


QUOTED_TEXT = ("Hello, world", 'say "hi"', "two\nlines", "carriage\rreturn", '"quoted", twice')


@pytest.mark.parametrize("plain_between", [4, 1], ids=["few-quoted", "most-quoted"])
def test_text_needing_quotes_reads_back_in_order(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain_between: int
) -> None:
    """Commas, quotes and line breaks in any free text, among plain rows or in most rows: a
    CSV reader gets every cell back, every row in its place."""
    monkeypatch.setattr(export, "PAGE_ROWS", 2 + 2 * plain_between)  # a block of rows a page
    expected: list[tuple[str, ...]] = []
    with db.write() as session:
        quiet = conversations.create_conversation(session, title="Plain title")
        plain = dataclasses.replace(spend(1, 1), conversation_id=quiet.id)
        rows = [("Plain title", plain)] * (1 + plain_between)  # a first page without quotes
        for text in QUOTED_TEXT:
            chat = conversations.create_conversation(session, title=text)
            for title, special in (
                (text, dataclasses.replace(plain, conversation_id=chat.id)),
                ("Plain title", dataclasses.replace(plain, model=text, context=text)),
                ("Plain title", dataclasses.replace(plain, requested_model=text, usage_notes=text)),
            ):
                rows += [(title, special), *[("Plain title", plain)] * plain_between]
        for title, record in rows:
            entries.spend_tokens(session, record)
            notes = (record.requested_model or "", record.usage_notes or "")
            expected += [(title, record.model, record.context, *notes)] * 2  # prompt, completion
    out = tmp_path / "x.csv"
    with db.read() as session:
        assert export.export(session, out) == len(expected)
    fields = ("conversation_title", "model", "context", "requested_model", "usage_notes")
    assert [tuple(row[name] for name in fields) for row in _read(out)] == expected


def test_filters(db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        entries.spend_tokens(session, spend(1, 1), now=datetime(2026, 1, 1))
        entries.spend_tokens(session, spend(2, 2), now=datetime(2026, 1, 5))
    out = tmp_path / "x.csv"
    with db.read() as session:
        assert export.export(session, out, Selection(since=date(2026, 1, 2))) == 2
        assert (
            export.export(
                session, out, Selection(until=date(2026, 1, 1), models=frozenset({"test-model"}))
            )
            == 2
        )
        assert export.export(session, out, Selection(models=frozenset({"nope"}))) == 0
    assert _read(out) == []


def test_cancel_leaves_no_file(db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        demo_data.fill(session, 12_000, 5)
    out = tmp_path / "x.csv"
    with pytest.raises(ExportCancelled), db.read() as session:
        export.export(session, out, progress=lambda rows: rows < 5000)
    assert not out.exists()
    assert not list(tmp_path.glob(".x.csv*"))


def test_unwritable_target_is_a_clear_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(TallybookError, match="Cannot write"), db.read() as session:
        export.export(session, tmp_path / "missing-folder" / "x.csv")


def test_memory_stays_flat_as_rows_grow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "PAGE_ROWS", 500)  # both sizes span many pages
    peaks = []
    for rows in (3_000, 30_000):
        database = Database(tmp_path / f"{rows}.sqlite3")
        with database.write() as session:
            demo_data.fill(session, rows, 10)
        tracemalloc.start()
        with database.read() as session:
            export.export(session, tmp_path / f"{rows}.csv")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        database.close()
    assert peaks[1] < peaks[0] * 1.5, (
        f"peak grew from {peaks[0]:,} to {peaks[1]:,} bytes for 10x the rows"
    )


@pytest.mark.parametrize(
    ("credits", "usd"),
    [
        ("-205.5", "-0.0002055"),
        ("1", "0.000001"),
        ("0.000005", "0.000000000005"),
        ("-1", "-0.000001"),
        ("123456.789012", "0.123456789012"),
        ("-1000000", "-1"),
        ("4000000", "4"),
    ],
)
def test_decimals_are_exact_text(db: Database, tmp_path: Path, credits: str, usd: str) -> None:
    with db.write() as session:
        entries.add_credits(session, Decimal(credits))
    with db.read() as session:
        export.export(session, tmp_path / "x.csv")
    (row,) = _read(tmp_path / "x.csv")
    assert (row["raw_amount"], row["token_value"], row["usd"], row["rate"]) == (
        credits,
        credits,
        usd,
        "1",
    )
    assert Decimal(row["usd"]) == Decimal(credits) / 1_000_000
