"""The ``tallybook`` command end to end, in a subprocess, as a user runs it."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tallybook(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "TALLYBOOK_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_help_lists_every_command_and_each_has_its_own_help(home: Path) -> None:
    result = tallybook("--help", home=home)
    assert result.returncode == 0
    commands = [
        "add-balance",
        "set-balance",
        "list-balances",
        "report",
        "export",
        "demo-data",
        "prices",
    ]
    for command in commands:
        assert command in result.stdout
        sub = tallybook(command, "--help", home=home)
        assert sub.returncode == 0 and "usage: tallybook " + command in sub.stdout
    assert not home.exists(), "--help must not create a ledger"


def test_balance_commands(home: Path) -> None:
    assert tallybook("add-balance", "1500", home=home).returncode == 0
    added = tallybook("add-balance", "--usd", "5.00", home=home)
    assert "5,001,500 credits ($5.0015)" in added.stdout
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


def test_prices_show_set_and_unset(home: Path) -> None:
    shown = tallybook("prices", "show", "gpt-4o-2024-08-06", home=home)
    assert "gpt-4o" in shown.stdout and "genai-prices" in shown.stdout
    assert tallybook("prices", "set", "gpt-4o", "--prompt", "2.4", home=home).returncode == 0
    assert "user override" in tallybook("prices", "show", "gpt-4o", home=home).stdout
    assert "Removed" in tallybook("prices", "unset", "gpt-4o", home=home).stdout
    unknown = tallybook("prices", "show", "my-llama", home=home)
    assert "FLAGGED" in unknown.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("add-balance", "-5"),
        ("add-balance", "lots"),
        ("add-balance", "--usd", "1.0000000000001"),
        ("add-balance", "5", "--frobnicate"),
        ("report", "--since", "yesterday"),
        ("demo-data", "--rows", "0"),
        ("set-balance", "--every", "-1"),
        ("prices", "set", "gpt-4o", "--prompt", "0.1234567"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(home: Path, args: tuple[str, ...]) -> None:
    assert tallybook("add-balance", "100", home=home).returncode == 0
    result = tallybook(*args, home=home)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("tallybook")
    assert json.loads(tallybook("list-balances", "--json", home=home).stdout)["credits"] == "100"


def test_unwritable_export_path(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.csv"
    result = tallybook("export", "--out", str(target), home=home)
    assert result.returncode == 1
    expected = f"tallybook: error: Cannot write {target}: No such file or directory."
    assert result.stderr.strip().splitlines() == [expected]


def test_corrupt_ledger_is_reported_and_kept(home: Path) -> None:
    home.mkdir()
    ledger = home / "tallybook.sqlite3"
    ledger.write_bytes(b"\x00garbage" * 1000)
    result = tallybook("list-balances", home=home)
    assert result.returncode == 1
    assert "not a Tallybook ledger or is damaged" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert ledger.read_bytes() == b"\x00garbage" * 1000


@pytest.mark.slow
def test_locked_ledger_is_reported_and_nothing_is_lost(home: Path) -> None:
    assert tallybook("add-balance", "100", home=home).returncode == 0
    holder = sqlite3.connect(home / "tallybook.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = tallybook("add-balance", "5", home=home)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1
    assert "locked by another program" in result.stderr
    assert json.loads(tallybook("list-balances", "--json", home=home).stdout)["credits"] == "100"


def test_data_dir_option_wins_over_the_environment(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "portable"
    assert tallybook("--data-dir", str(elsewhere), "add-balance", "7", home=home).returncode == 0
    assert (elsewhere / "tallybook.sqlite3").exists()
    assert not home.exists()


def test_without_a_display_the_app_says_how_to_get_one(home: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py")],
        capture_output=True,
        text=True,
        env={**env, "TALLYBOOK_HOME": str(home)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "no graphical display" in result.stderr
    assert "xvfb-run" in result.stderr


def test_count_text_and_chat_payloads(home: Path, tmp_path: Path) -> None:
    text = tmp_path / "note.txt"
    text.write_text("tiktoken is great!", encoding="utf-8")
    plain = json.loads(
        tallybook("count", "--model", "gpt-3.5-turbo", str(text), "--json", home=home).stdout
    )
    assert (plain["kind"], plain["tokens"], plain["exact"]) == ("text", 6, True)
    assert plain["context_window"] == 16385 and plain["context_left"] == 16379
    assert plain["prompt_cost_credits"] == "3"  # 6 tokens at 0.5 credits
    payload = tmp_path / "chat.json"
    payload.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hello!", "name": "bob"}]})
    )
    chat = tallybook("count", "--model", "gpt-4o-2024-08-06", str(payload), home=home)
    assert chat.returncode == 0, chat.stderr
    assert "exact: tiktoken o200k_base; chat payload, 1 messages" in chat.stdout
    assert "Context:       128,000 window" in chat.stdout
    estimate = json.loads(
        tallybook("count", "--model", "claude-sonnet-4-5", str(payload), "--json", home=home).stdout
    )
    assert estimate["exact"] is False and "not public" in estimate["method"]


def test_count_reads_stdin_and_rejects_a_broken_payload(home: Path) -> None:
    environment = {**os.environ, "TALLYBOOK_HOME": str(home)}
    piped = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "count", "--model", "gpt-4o", "--json"],
        input="hello world",
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert json.loads(piped.stdout)["tokens"] == 2
    broken = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "count", "--model", "gpt-4o"],
        input='{"messages": [{"role": "robot"}]}',
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert broken.returncode == 1
    assert "unknown message role 'robot'" in broken.stderr


def test_estimates_command_without_data(home: Path) -> None:
    result = tallybook("estimates", home=home)
    assert result.returncode == 0
    assert "No request has both" in result.stdout
