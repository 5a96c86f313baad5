"""``tallybook prices`` end to end."""

from __future__ import annotations

from pathlib import Path

from tests.cli.command import tallybook


def test_prices_show_set_and_unset(home: Path) -> None:
    shown = tallybook("prices", "show", "gpt-4o-2024-08-06", home=home)
    assert "gpt-4o" in shown.stdout and "genai-prices" in shown.stdout
    assert tallybook("prices", "set", "gpt-4o", "--prompt", "2.4", home=home).returncode == 0
    assert "user override" in tallybook("prices", "show", "gpt-4o", home=home).stdout
    assert "Removed" in tallybook("prices", "unset", "gpt-4o", home=home).stdout
    unknown = tallybook("prices", "show", "my-llama", home=home)
    assert "FLAGGED" in unknown.stdout
