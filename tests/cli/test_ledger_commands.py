"""The ledger's commands end to end, in a subprocess, as a user runs them."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import openpyxl

from tests.cli.command import tallybook


def test_balance_commands(home: Path) -> None:
    assert tallybook("add-balance", "1500", home=home).returncode == 0
    added = tallybook("add-balance", "--usd", "5.00", home=home)
    assert "5,001,500 credits ($5.00)" in added.stdout
    settings = tallybook(
        "set-balance",
        "--enable",
        "--auto-refill",
        "1000",
        "--every",
        "2",
        "--unit",
        "weeks",
        home=home,
    )
    assert settings.returncode == 0, settings.stderr
    listing = json.loads(tallybook("list-balances", "--json", home=home).stdout)
    assert listing["credits"] == "5001500"
    assert listing["usd"] == "5.0015"
    assert listing["enabled"] is True
    assert listing["auto_refill"] == {
        "enabled": True,
        "amount": "1000",
        "interval_value": 2,
        "interval_unit": "weeks",
        "last_refill_at": None,
    }
    assert tallybook("set-balance", "42", home=home).returncode == 0
    assert json.loads(tallybook("list-balances", "--json", home=home).stdout)["credits"] == "42"


def test_demo_data_report_and_export_agree(home: Path, tmp_path: Path) -> None:
    demo = tallybook("demo-data", "--rows", "2000", "--days", "10", home=home)
    assert demo.returncode == 0, demo.stderr
    assert "Added 2,000 transactions" in demo.stdout
    report = json.loads(tallybook("report", "--by", "model", "--json", home=home).stdout)
    table = tallybook("report", "--by", "day", home=home).stdout
    assert "Total" in table and "Cost (USD)" in table
    out = tmp_path / "all.csv"
    exported = tallybook("export", "--out", str(out), home=home)
    assert exported.returncode == 0, exported.stderr
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2000
    from decimal import Decimal

    spend = -sum(Decimal(r["token_value"]) for r in rows if r["token_type"] != "credits")
    assert Decimal(report["total"]["cost_credits"]) == spend
    assert Decimal(report["total"]["cost_usd"]) == -sum(
        Decimal(r["usd"]) for r in rows if r["token_type"] != "credits"
    )


def test_unwritable_export_path(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.csv"
    result = tallybook("export", "--out", str(target), home=home)
    assert result.returncode == 1
    expected = f"tallybook: error: Cannot write {target}: No such file or directory."
    assert result.stderr.strip().splitlines() == [expected]


def test_a_range_that_ends_before_it_starts_is_a_usage_error(home: Path) -> None:
    for command in ("report", "export --out x.csv"):
        result = tallybook(
            *command.split(), "--until", "2026-12-01", "--since", "2026-12-05", home=home
        )
        assert result.returncode == 2
        name = command.split()[0]
        assert result.stderr.splitlines() == [
            f"tallybook {name}: error: --since 2026-12-05 is after --until 2026-12-01"
            f" (see tallybook {name} --help)"
        ]
    assert not home.exists()  # refused before any ledger was opened


def test_export_for_excel_as_a_workbook_and_refusals(home: Path, tmp_path: Path) -> None:
    assert tallybook("demo-data", "--rows", "300", "--days", "5", home=home).returncode == 0
    excel = tmp_path / "excel.csv"
    assert tallybook("export", "--out", str(excel), "--excel", home=home).returncode == 0
    with excel.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert excel.read_bytes()[:3] == b"\xef\xbb\xbf"
    times = [row["created_at (UTC)"] for row in rows]
    assert times == sorted(times) and len(times[0]) == len("2026-12-01 09:44:06")
    book = tmp_path / "spend.xlsx"
    assert tallybook("export", "--out", str(book), home=home).returncode == 0
    assert zipfile.is_zipfile(book)
    sheet = openpyxl.load_workbook(book).active
    assert sheet is not None and len(list(sheet.iter_rows())) == 301  # the header, 300 rows
    for args, message in (
        (("--out", str(tmp_path / "spend.xls")), "Cannot write .xls files"),
        (("--out", str(tmp_path / "spend.json"), "--excel"), "cannot be a .json file"),
    ):
        refused = tallybook("export", *args, home=home)
        assert refused.returncode == 1
        (line,) = refused.stderr.splitlines()
        assert line.startswith("tallybook: error: ") and message in line
    assert not (tmp_path / "spend.xls").exists() and not (tmp_path / "spend.json").exists()
