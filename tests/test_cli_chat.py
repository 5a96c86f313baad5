"""``tallybook chat`` end to end against the offline demo provider (the emulator, in-process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tallybook(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TALLYBOOK_HOME": str(home)},
        timeout=120,
        check=False,
    )


def test_chat_streams_the_reply_and_prints_its_cost(tmp_path: Path) -> None:
    result = tallybook(
        "chat", "--provider", "demo", "--model", "gpt-4o-mini", "Hello from the CLI", home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Hello from the CLI" in result.stdout  # the emulator echoes
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("tokens in ") and "$0.0000" in summary and "conversation 1" in summary
    again = tallybook(
        "chat",
        "--provider",
        "demo",
        "--model",
        "claude-haiku-4-5",
        "--conversation",
        "1",
        "And again",
        home=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    report = json.loads(tallybook("report", "--by", "conversation", "--json", home=tmp_path).stdout)
    (row,) = report["rows"]
    assert row["key"] == "1" and row["label"] != "New conversation"  # the model named it
    assert set(row["models"]) == {"gpt-4o-mini", "claude-haiku-4-5"}


def test_chat_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    refused = tallybook(
        "chat", "--provider", "demo", "--model", "gpt-4o-mini@rate-limit", "hi", home=tmp_path
    )
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith("tallybook: error: Offline demo is rate limiting")
    )
    missing = tallybook(
        "chat", "--provider", "anthropic", "--model", "claude-haiku-4-5", "hi", home=tmp_path
    )
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == (
            "tallybook: error: No API key for Anthropic. Add one in Keys (it is kept in the OS key store), "
            "or set its environment variable; the Offline demo needs none."
        )
        or "No API key for Anthropic" in missing.stderr
    )


def test_a_cut_reply_is_shown_charged_and_reported(tmp_path: Path) -> None:
    result = tallybook(
        "chat", "--provider", "demo", "--model", "gpt-4o-mini@cut", "Tell me a story", home=tmp_path
    )
    assert result.returncode == 1
    assert result.stdout.strip()  # the part that arrived
    lines = result.stderr.strip().splitlines()
    assert "incomplete" in lines[-2] and lines[-1].startswith(
        "tallybook: error: Offline demo stopped mid-reply"
    )
