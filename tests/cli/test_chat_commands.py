"""The chat commands end to end: ``count`` priced as a send is, ``estimates``, and ``chat``
against the offline demo provider (the emulator, in-process)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from app.core.ledger import alerts, entries
from app.core.messages import ChatPayload
from app.core.metering.client import ChatRequest, MeteringClient
from app.core.paths import database_path
from app.core.providers import registry
from app.core.storage.db import Database
from tests.cli.command import ROOT, tallybook


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


def test_count_prices_a_custom_endpoint_as_a_send_does(home: Path, tmp_path: Path) -> None:
    """A proxy priced as Groq: ``count`` quotes Groq's rate for the model, as the metering
    client's quote (what a send holds) does, not the rate of a provider named after the proxy."""
    model = "llama-3.3-70b-versatile"
    data = {"messages": [{"role": "user", "content": "Hello, Llama!"}]}
    db = Database(database_path(home))
    try:
        with db.write() as session:
            proxy = registry.add_endpoint(
                session, "Groq proxy", "http://127.0.0.1:9/v1", price_provider="groq"
            )
        metering = MeteringClient(db)
        try:
            request = ChatRequest(proxy.id, model, ChatPayload.from_openai(data).messages)
            quote = metering.quote(request)
        finally:
            metering.close()
    finally:
        db.close()
    assert not quote.rates.is_default  # Groq's price table knows the model
    payload = tmp_path / "chat.json"
    payload.write_text(json.dumps(data), encoding="utf-8")
    counted = tallybook(
        "count", "--provider", proxy.id, "--model", model, str(payload), "--json", home=home
    )
    assert counted.returncode == 0, counted.stderr
    shown = json.loads(counted.stdout)
    assert shown["tokens"] == quote.count.tokens
    assert (Decimal(shown["prompt_rate"]), shown["rate_source"]) == (
        quote.rates.prompt,
        quote.rates.source,
    )
    assert Decimal(shown["prompt_cost_credits"]) == quote.prompt_cost
    assert shown["context_window"] == quote.limits.context_window


def test_chat_raises_the_alerts_its_reply_makes_true(tmp_path: Path) -> None:
    """The alert check runs after every charge, whoever charged: here, the command line."""
    db = Database(database_path(tmp_path))
    with db.write() as session:
        entries.add_credits(session, Decimal(100))
        alerts.set_low_balance_threshold(session, Decimal(1_000_000))
    db.close()
    first = tallybook("chat", "--provider", "demo", "--model", "gpt-4o-mini", "hi", home=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "  alert: " in first.stderr and "balance" in first.stderr.lower()
    second = tallybook("chat", "--provider", "demo", "--model", "gpt-4o-mini", "hi", home=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "alert:" not in second.stderr  # raised once


def test_a_message_that_cannot_be_sent_leaves_nothing_behind(tmp_path: Path) -> None:
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "OPENAI_API_KEY": ""}
    attempts = [
        (("--provider", "demo", ""), "There is nothing to send: the message is empty."),
        (("--provider", "demo", "  \n "), "There is nothing to send: the message is empty."),
        (("--provider", "nope", "hi"), "No provider or endpoint called 'nope'"),
        (("--provider", "openai", "hi"), "No API key for OpenAI."),
    ]
    for arguments, reason in attempts:
        refused = tallybook("chat", "--model", "gpt-4o-mini", *arguments, home=tmp_path, env=env)
        assert refused.returncode == 1, refused
        assert refused.stdout == ""
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("tallybook: error: ") and reason in line
    assert "tallybook keys set openai" in line  # the missing key says how to add one here

    ledger = sqlite3.connect(database_path(str(tmp_path)))
    try:
        counts = [
            ledger.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("conversations", "messages", "transactions")
        ]
    finally:
        ledger.close()
    assert counts == [0, 0, 0]  # no "New conversation", no message, nothing charged
    report = json.loads(tallybook("report", "--by", "conversation", "--json", home=tmp_path).stdout)
    assert report["rows"] == []
