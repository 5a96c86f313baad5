"""The ledger's commands end to end, in a subprocess, as a user runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

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
