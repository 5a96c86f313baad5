from __future__ import annotations

import csv
import dataclasses
import json
import tracemalloc
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import update

from app.core import conversations
from app.core.errors import TallybookError
from app.core.ledger import demo_data, entries, export
from app.core.ledger.export import ExportCancelled
from app.core.ledger.selection import Selection
from app.core.pricing.prices import PriceBook
from app.core.pricing.units import is_default_rated
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


# --- order, rate source, Excel, workbook, JSON types ------------------------------------------


def _spend_at(db: Database, *moments: datetime, title: str = "Plain title") -> None:
    with db.write() as session:
        chat = conversations.create_conversation(session, title=title)
        for moment in moments:
            record = dataclasses.replace(spend(1, 1), conversation_id=chat.id)
            entries.spend_tokens(session, record, now=moment)


def test_rows_come_in_time_order_whatever_order_they_were_recorded(
    db: Database, tmp_path: Path
) -> None:
    """A request recorded late (an import, a recovered crash) takes its place by time."""
    _spend_at(db, datetime(2026, 12, 1, 9), datetime(2026, 9, 3, 8), datetime(2026, 10, 2))
    with db.read() as session:
        export.export(session, tmp_path / "x.csv")
        export.export(session, tmp_path / "x.json")
    times = [row["created_at"] for row in _read(tmp_path / "x.csv")]
    assert times == sorted(times) and times[0].startswith("2026-09-03")
    assert [row["token_type"] for row in _read(tmp_path / "x.csv")][:2] == ["prompt", "completion"]
    as_json = json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))
    assert [row["created_at"] for row in as_json] == times


def test_time_order_holds_where_most_rows_need_quotes(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rest of such an export is read after the last row written, in the same order."""
    monkeypatch.setattr(export, "PAGE_ROWS", 2)
    moments = [datetime(2026, 12, day) for day in (9, 1, 7, 3, 5, 2)]
    _spend_at(db, *moments, title="Hello, world")
    with db.read() as session:
        assert export.export(session, tmp_path / "x.csv") == 12
    rows = _read(tmp_path / "x.csv")
    assert [row["created_at"][:10] for row in rows[::2]] == [
        f"2026-12-0{day}" for day in (1, 2, 3, 5, 7, 9)
    ]
    assert {row["conversation_title"] for row in rows} == {"Hello, world"}


def test_a_model_at_the_unknown_model_default_says_so(db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        typo = PriceBook.load(session).rates("gpt-4o-mini@slow")
        entries.spend_tokens(session, spend(100, 10, model_rates=typo))
    with db.read() as session:
        export.export(session, tmp_path / "x.csv")
    sources = {row["rate_source"] for row in _read(tmp_path / "x.csv")}
    assert len(sources) == 1
    assert is_default_rated(sources.pop())


def test_the_excel_flavour_has_a_bom_and_times_excel_reads(db: Database, tmp_path: Path) -> None:
    _spend_at(db, datetime(2026, 12, 1, 9, 44, 6, 430213))
    out = tmp_path / "excel.csv"
    with db.read() as session:
        export.export(session, out, fmt=export.Format.for_path(out, excel=True))
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfcreated_at (UTC),conversation_id,")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["created_at (UTC)"] for row in rows] == ["2026-12-01 09:44:06"] * 2
    assert rows[0]["token_value"] == "-1.5"


def test_a_workbook_has_typed_cells_in_time_order(db: Database, tmp_path: Path) -> None:
    _spend_at(db, datetime(2026, 12, 1, 9, 44, 6), datetime(2026, 9, 3), title="=cmd()")
    with db.write() as session:
        entries.add_credits(session, Decimal("123456.789012"), now=datetime(2026, 12, 2))
    out = tmp_path / "spend.xlsx"
    with db.read() as session:
        assert export.export(session, out) == 5
    assert zipfile.is_zipfile(out)  # a real workbook, not a CSV under its name
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None
    header, *rows = sheet.iter_rows(values_only=True)
    assert header == export.EXCEL_HEADER
    named = [dict(zip(header, row, strict=True)) for row in rows]
    assert [row["created_at (UTC)"] for row in named] == [
        datetime(2026, 9, 3),
        datetime(2026, 9, 3),
        datetime(2026, 12, 1, 9, 44, 6),
        datetime(2026, 12, 1, 9, 44, 6),
        datetime(2026, 12, 2),
    ]
    first = named[0]
    assert first["conversation_title"] == "=cmd()"  # text, not a formula
    assert (first["raw_amount"], first["rate"], first["token_value"]) == (-1, 1.5, -1.5)
    assert first["estimated"] is False
    assert isinstance(first["conversation_id"], int)
    top_up = named[-1]
    assert (top_up["token_value"], top_up["usd"]) == (123456.789012, 0.123456789012)
    assert sheet.cell(2, 3).data_type == "s"


def test_a_workbook_over_excels_rows_is_refused(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXCEL_MAX_ROWS", 3)
    _spend_at(db, datetime(2026, 1, 1), datetime(2026, 1, 2))
    folder = tmp_path / "out"
    folder.mkdir()
    with (
        pytest.raises(TallybookError, match="holds 3 rows and this export has 4"),
        db.read() as session,
    ):
        export.export(session, folder / "x.xlsx")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "excel", "expected"),
    [
        ("a.csv", False, export.Format.CSV),
        ("a.CSV", True, export.Format.EXCEL_CSV),
        ("a", False, export.Format.CSV),
        ("a.json", False, export.Format.JSON),
        ("a.xlsx", False, export.Format.XLSX),
        ("a.xlsx", True, export.Format.XLSX),
    ],
)
def test_the_format_follows_the_name(name: str, excel: bool, expected: export.Format) -> None:
    assert export.Format.for_path(Path(name), excel=excel) is expected


@pytest.mark.parametrize(
    ("name", "excel", "message"),
    [
        ("a.xls", False, "Cannot write .xls files: name the file .csv, .xlsx"),
        ("a.ods", False, "Cannot write .ods files"),
        ("a.json", True, "A CSV for Excel cannot be a .json file"),
    ],
)
def test_a_name_tallybook_cannot_honour_is_refused_before_writing(
    db: Database, tmp_path: Path, name: str, excel: bool, message: str
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(TallybookError, match=message):
        export.Format.for_path(folder / name, excel=excel)
    if not excel:
        with pytest.raises(TallybookError, match=message), db.read() as session:
            export.export(session, folder / name)
    assert list(folder.iterdir()) == []


def test_json_gives_every_field_one_type_in_every_row(db: Database, tmp_path: Path) -> None:
    """Amounts are exact decimal strings whether whole or not; ids integers or null."""
    _spend_at(db, datetime(2026, 1, 1))  # a rate of 1.5: whole and fractional values
    with db.write() as session:
        entries.add_credits(session, Decimal(4_000_000))
        entries.add_credits(session, Decimal("0.000005"))
    with db.read() as session:
        export.export(session, tmp_path / "x.json")
    rows = json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))
    assert len(rows) == 4
    for field in export.HEADER:
        kinds = {type(row[field]) for row in rows if row[field] is not None}
        assert len(kinds) <= 1, (field, kinds)
    for field in ("raw_amount", "rate", "token_value", "usd"):
        assert {type(row[field]) for row in rows} == {str}
    assert [row["token_value"] for row in rows] == ["-1.5", "-2", "4000000", "0.000005"]
    assert {type(row["conversation_id"]) for row in rows} == {int, type(None)}
    assert {type(row["estimated"]) for row in rows} == {bool}
