"""``tallybook reconcile --daily on|off``: the daily check set from the command line, as the
window reads it."""

from __future__ import annotations

from pathlib import Path

from app.core.reconcile import daily
from app.core.storage.db import Database
from tests.cli.command import tallybook


def stored(home: Path) -> tuple[bool, bool]:
    """Whether the ledger has anthropic's and openai's daily check on."""
    db = Database(home / "tallybook.sqlite3")
    try:
        with db.read() as session:
            return daily.is_enabled(session, "anthropic"), daily.is_enabled(session, "openai")
    finally:
        db.close()


def test_daily_on_then_off_is_stored_and_printed(home: Path) -> None:
    on = tallybook("reconcile", "--provider", "anthropic", "--daily", "on", home=home)
    assert on.returncode == 0, on.stderr
    assert on.stdout.strip() == "The daily check of anthropic is on."
    assert stored(home) == (True, False)
    off = tallybook("reconcile", "--provider", "anthropic", "--daily", "off", home=home)
    assert off.stdout.strip() == "The daily check of anthropic is off."
    assert stored(home) == (False, False)


def test_daily_takes_only_on_or_off(home: Path) -> None:
    done = tallybook("reconcile", "--provider", "openai", "--daily", "yes", home=home)
    assert done.returncode == 2 and "invalid choice" in done.stderr
