"""``tallybook`` as a whole: the ledger it opens, what it says when it cannot, no display."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.command import ROOT, tallybook


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
