"""``tallybook reconcile``: the table, the ``--json`` shape, ``--import-missing``, bad ranges
(exit 2) and a provider's failure (exit 1, one sentence, no key); end to end against the
emulator's OpenAI Usage and Costs APIs."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.cli.parser import build_parser
from app.cli.reconcile_commands import run
from app.core.clock import utcnow
from app.core.ledger import entries
from app.core.pricing.charges import TokenUsage
from app.core.reconcile.records import BalanceSnapshot
from app.core.storage.db import Database
from app.servers.emulator.served import Served
from app.servers.emulator.server import Emulator
from tests.cli.command import tallybook
from tests.factories import rates
from tests.support.fixed_usage import FixedUsage, billed

DAY = date(2026, 11, 3)
ADMIN = "sk-admin-bars-RECONCILE-0123456789abcdefghij"


def _seed(db: Database, day: date = DAY) -> None:
    """$2.00 of gpt-4o metered on ``day``."""
    with db.write() as session:
        entries.spend_tokens(
            session,
            entries.Spend(
                "openai",
                "gpt-4o",
                TokenUsage(400_000, 100_000),
                rates("2.5", "10", model="gpt-4o"),
            ),
            now=datetime.combine(day, datetime.min.time()).replace(hour=9),
        )


def _source() -> FixedUsage:
    return FixedUsage(
        days=[
            billed(DAY, "gpt-4o-2024-08-06", "2.00", 400_000, 100_000),
            billed(DAY, "o3", "0.75", 1000, 2000),
        ]
    )


def _run(db: Database, *flags: str) -> int:
    args = build_parser().parse_args(["reconcile", "--provider", "openai", *flags])
    return run(args, db, _source(), DAY, DAY)


def test_the_table_has_a_row_per_day_and_model_and_a_total(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(db)
    assert _run(db) == 0
    header, _rule, first, second, _rule2, total = capsys.readouterr().out.splitlines()
    assert header.split()[:5] == ["Date", "(UTC)", "Model", "Status", "Ledger"]
    assert first.split()[:3] == ["2026-11-03", "gpt-4o", "match"]
    assert second.split()[:3] == ["2026-11-03", "o3", "outside"]
    assert "+$0.75" in second
    assert total.startswith("Total") and "$2.75" in total


def test_json_has_the_rows_and_totals_with_money_as_strings(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(db)
    assert _run(db, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["provider"] == "openai"
    first, second = shown["rows"]
    assert first == {
        "day": "2026-11-03",
        "model": "gpt-4o",
        "status": "match",
        "ledger_usd": "2",
        "provider_usd": "2",
        "difference_usd": "0",
        "imported_usd": "0",
        "ledger_input_tokens": 400_000,
        "ledger_output_tokens": 100_000,
        "provider_input_tokens": 400_000,
        "provider_output_tokens": 100_000,
    }
    assert second["status"] == "outside" and second["ledger_usd"] == "0"
    assert shown["totals"]["provider_usd"] == "2.75"
    assert shown["totals"]["statuses"] == {"match": 1, "drift": 0, "outside": 1, "missing": 0}


def test_tokens_only_rows_have_a_null_provider_usd(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["reconcile", "--provider", "anthropic", "--json"])
    source = FixedUsage("anthropic", [billed(DAY, "claude-sonnet-4-5", None, 10, 20)])
    assert run(args, db, source, DAY, DAY) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["provider_usd"] is None and row["difference_usd"] is None
    assert row["provider_output_tokens"] == 20


def test_import_missing_records_outside_spend_once(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(db)
    assert _run(db, "--import-missing", "--json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["imported"] == {"requests": 1, "usd": "0.75"}
    assert "Imported 1 day(s) of outside spend ($0.75)" in captured.err
    assert _run(db, "--import-missing", "--json") == 0
    assert json.loads(capsys.readouterr().out)["imported"] == {"requests": 0, "usd": "0"}
    with db.read() as session:
        assert entries.current_balance(session) == -Decimal("2.75") * 1_000_000


def test_a_balance_provider_shows_the_drop_since_the_last_check(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["reconcile", "--provider", "deepseek", "--json"])
    source = FixedUsage(
        "deepseek", balance=BalanceSnapshot(datetime(2026, 11, 3, 8), Decimal("10.00"), "USD")
    )
    assert run(args, db, source, DAY, DAY) == 0
    assert json.loads(capsys.readouterr().out)["drop"] is None
    with db.write() as session:  # $0.20 charged in between
        entries.spend_tokens(
            session,
            entries.Spend("deepseek", "deepseek-chat", TokenUsage(80_000, 0), rates("2.5")),
            now=datetime(2026, 11, 3, 9),
        )
    source.balance = BalanceSnapshot(datetime(2026, 11, 3, 10), Decimal("9.50"), "USD")
    assert run(args, db, source, DAY, DAY) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["balance"]["balance"] == "9.5" and shown["rows"] == []
    assert shown["drop"] | {"previous": None} == {
        "previous": None,
        "drop": "0.5",
        "ledger_usd": "0.2",
        "unseen_usd": "0.3",
    }


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--since", "2026-13-01"], "is not a date"),
        (["--since", "2026-11-05", "--until", "2026-11-01"], "is after --until"),
        (["--until", (date.today() + timedelta(days=2)).isoformat()], "is in the future"),
        (["--since", (date.today() + timedelta(days=2)).isoformat()], "is after --until"),
    ],
)
def test_a_bad_range_is_a_usage_error(home: Path, flags: list[str], said: str) -> None:
    done = tallybook("reconcile", "--provider", "openai", *flags, home=home)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and done.stdout == ""


def test_an_unknown_provider_is_a_usage_error(home: Path) -> None:
    done = tallybook("reconcile", "--provider", "gemini", home=home)
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_a_provider_failure_is_one_sentence_without_the_key(home: Path) -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    done = tallybook(
        "reconcile",
        "--provider",
        "openai",
        "--base-url",
        f"http://127.0.0.1:{port}",
        home=home,
        env={"OPENAI_ADMIN_KEY": ADMIN},
    )
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("tallybook: error: ") and line.endswith(".")
    assert ADMIN not in done.stderr


def test_no_admin_key_says_where_to_put_one(home: Path) -> None:
    done = tallybook("reconcile", "--provider", "openai", home=home, env={"OPENAI_ADMIN_KEY": ""})
    assert done.returncode == 1 and "OPENAI_ADMIN_KEY" in done.stderr


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    today = utcnow().date()
    outside = Served(
        today - timedelta(days=1),
        "openai",
        "gpt-4o-2024-08-06",
        requests=3,
        input_tokens=30_000,
        output_tokens=3_000,
        usd=Decimal("0.105"),
    )
    with Emulator(outside=[outside]) as running:
        yield running


def test_end_to_end_against_the_emulator(home: Path, emulator: Emulator) -> None:
    env = {"OPENAI_ADMIN_KEY": ADMIN}
    base = ["reconcile", "--provider", "openai", "--base-url", emulator.url, "--json"]
    done = tallybook(*base, home=home, env=env)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["rows"]
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    assert (row["day"], row["model"], row["status"]) == (yesterday, "gpt-4o", "outside")
    assert row["provider_input_tokens"] == 30_000 and row["provider_usd"] is not None
    imported = tallybook(*base, "--import-missing", home=home, env=env)
    assert imported.returncode == 0, imported.stderr
    (row,) = json.loads(imported.stdout)["rows"]
    assert row["imported_usd"] == row["provider_usd"]
    again = tallybook(*base, "--import-missing", home=home, env=env)
    assert json.loads(again.stdout)["imported"]["requests"] == 0
    report = tallybook("report", "--by", "model", "--json", home=home)
    (spent,) = json.loads(report.stdout)["rows"]
    assert spent["cost_usd"] == row["provider_usd"]
