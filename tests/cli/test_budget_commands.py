"""``tallybook budgets list|add|remove``, run as a user runs them, and a refusal's CLI words."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.command import tallybook


def test_budgets_are_added_listed_and_removed(home: Path) -> None:
    assert "No budgets" in tallybook("budgets", "list", home=home).stdout
    added = tallybook("budgets", "add", "month", "--usd", "10", "--block", home=home)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == (
        "Added budget 1: Monthly budget, $10.00 (blocks sending once reached)."
    )
    model = tallybook("budgets", "add", "day", "250000", "--model", "gpt-4o", home=home)
    assert "Daily budget for gpt-4o, $0.25 (alerts at 50%, 80% and 100%)" in model.stdout

    table = tallybook("budgets", "list", home=home).stdout.splitlines()
    assert table[0].split() == ["ID", "Budget", "Spent", "Limit", "Used", "At", "100%"]
    assert table[1].split() == [
        "2",
        "Daily",
        "budget",
        "for",
        "gpt-4o",
        "$0.00",
        "$0.25",
        "0%",
        "alerts",
    ]
    assert table[2].split() == ["1", "Monthly", "budget", "$0.00", "$10.00", "0%", "blocks"]

    listed = json.loads(tallybook("budgets", "list", "--json", home=home).stdout)
    assert [(b["id"], b["scope"], b["target"], b["block"]) for b in listed] == [
        (2, "model", "gpt-4o", False),
        (1, "all", None, True),
    ]
    assert listed[1]["limit_credits"] == "10000000" and listed[1]["limit_usd"] == "10"
    assert listed[1]["spent_usd"] == "0" and listed[1]["used_percent"] == 0.0

    assert tallybook("budgets", "remove", "1", home=home).stdout.strip() == "Removed budget 1."
    gone = tallybook("budgets", "remove", "1", home=home)
    assert gone.returncode == 1
    assert gone.stderr.strip() == (
        "tallybook: error: There is no budget 1; it may have been removed already."
    )
    assert [
        b["id"] for b in json.loads(tallybook("budgets", "list", "--json", home=home).stdout)
    ] == [2]


def test_a_malformed_budget_is_a_usage_error(home: Path) -> None:
    for args in (
        ("budgets", "add", "week", "5"),
        ("budgets", "add", "day"),
        ("budgets", "add", "day", "5", "--model", "a", "--provider", "b"),
        ("budgets", "add", "day", "-5"),
        ("budgets", "remove", "zero"),
        ("budgets",),
    ):
        result = tallybook(*args, home=home)
        assert result.returncode == 2, args
        assert "see tallybook" in result.stderr
    zero = tallybook("budgets", "add", "day", "0", home=home)
    assert zero.returncode == 1 and "budget" in zero.stderr


def test_a_blocked_chat_says_what_to_run(home: Path) -> None:
    assert tallybook("budgets", "add", "day", "1", "--block", home=home).returncode == 0
    first = tallybook("chat", "--provider", "demo", "--model", "gpt-4o-mini", "hi", home=home)
    assert first.returncode == 0, first.stderr  # under the limit: sent, and now it is spent
    blocked = tallybook("chat", "--provider", "demo", "--model", "gpt-4o-mini", "hi", home=home)
    assert blocked.returncode == 1
    line = blocked.stderr.strip().splitlines()[-1]
    assert line.startswith("tallybook: error: Daily budget reached:")
    assert "Nothing was sent. See `tallybook budgets list`" in line


def test_a_refusal_for_balance_says_what_to_run(home: Path) -> None:
    assert tallybook("set-balance", "0", "--enable", home=home).returncode == 0
    refused = tallybook("chat", "--provider", "demo", "--model", "gpt-4o-mini", "hi", home=home)
    assert refused.returncode == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith("tallybook: error: Not enough balance:")
    assert line.endswith(
        "Nothing was sent. Add credits with `tallybook add-balance AMOUNT`, or stop checking "
        "with `tallybook set-balance --disable`."
    )
