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
    assert "context window 128,000 tokens" in shown.stdout
    unknown = tallybook("prices", "show", "my-llama", home=home)
    assert "FLAGGED" in unknown.stdout
    assert "context window unknown, longest reply unknown" in unknown.stdout


def test_a_rate_above_a_million_dollars_per_million_tokens_is_refused(home: Path) -> None:
    refused = tallybook("prices", "set", "testm", "--prompt", "999999999", "--yes", home=home)
    assert refused.returncode == 1
    assert "above the dearest rate Tallybook keeps" in refused.stderr
    assert "user override" not in tallybook("prices", "show", "testm", home=home).stdout


def test_a_rate_that_looks_like_a_slip_needs_yes(home: Path) -> None:
    asked = tallybook("prices", "set", "gpt-4o", "--cache-read", "500000", home=home)
    assert asked.returncode == 1
    assert "400,000x the price table's" in asked.stderr
    assert "more than the prompt it stands in for" in asked.stderr
    assert "Nothing was saved; add --yes if that rate is meant." in asked.stderr
    assert "user override" not in tallybook("prices", "show", "gpt-4o", home=home).stdout

    meant = tallybook("prices", "set", "gpt-4o", "--cache-read", "500000", "--yes", home=home)
    assert meant.returncode == 0
    assert "user override" in meant.stdout and "500000" in meant.stdout
