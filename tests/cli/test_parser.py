"""The command line itself: every command has its help, and a malformed one is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.command import tallybook


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
