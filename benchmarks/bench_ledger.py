"""Recording one request: Tallybook's ledger against raw sqlite3 doing the same writes.

    .venv/bin/python benchmarks/bench_ledger.py [--requests 10000]

Each side records N requests, one database transaction per request (as a chat does): a
``requests`` row, a prompt and a completion transaction and the balance update, in WAL mode with
``synchronous=FULL``, in a fresh file. Prints the mean time per request and the ratio.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from app.core.ledger import entries
from app.core.ledger.entries import Spend
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.storage.db import Database

RAW_REQUEST = (
    "INSERT INTO requests (created_at, conversation_id, message_id, provider, model, context,"
    " estimated_prompt_tokens, reported_prompt_tokens, reasoning_tokens, usage_estimated)"
    " VALUES (?, NULL, NULL, 'openai', 'gpt-4o', 'message', NULL, ?, 0, 0) RETURNING id"
)
RAW_TRANSACTION = (
    "INSERT INTO transactions (created_at, request_id, conversation_id, message_id, provider,"
    " model, token_type, raw_amount, rate, token_value, context, estimated, rate_source)"
    " VALUES (?, ?, NULL, NULL, 'openai', 'gpt-4o', ?, ?, ?, ?, 'message', 0, 'genai-prices')"
)


def tallybook_ledger(folder: Path, requests: int) -> float:
    db = Database(folder / "tallybook.sqlite3")
    with db.read() as session:
        rates = PriceBook.load(session).rates("gpt-4o")
    spends = [
        Spend("openai", "gpt-4o", TokenUsage(100 + i % 900, 50 + i % 400), rates)
        for i in range(requests)
    ]
    start = time.perf_counter()
    for spend in spends:
        with db.write() as session:
            entries.spend_tokens(session, spend)
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def raw_sqlite(folder: Path, requests: int) -> float:
    Database(folder / "raw.sqlite3").close()  # same schema, created by the migrations
    connection = sqlite3.connect(folder / "raw.sqlite3", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    rows = [(100 + i % 900, 50 + i % 400) for i in range(requests)]
    start = time.perf_counter()
    for prompt, completion in rows:
        now = time.strftime("%Y-%m-%d %H:%M:%S.000000")
        connection.execute("BEGIN IMMEDIATE")
        request_id = connection.execute(RAW_REQUEST, (now, prompt)).fetchone()[0]
        value_p, value_c = -prompt * 2_500_000, -completion * 10_000_000
        connection.executemany(
            RAW_TRANSACTION,
            [
                (now, request_id, "prompt", -prompt * 1_000_000, 2_500_000, value_p),
                (now, request_id, "completion", -completion * 1_000_000, 10_000_000, value_c),
            ],
        )
        connection.execute(
            "UPDATE balance SET credits = credits + ? WHERE id = 1", (value_p + value_c,)
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        raw = raw_sqlite(Path(folder), args.requests)
        ours = tallybook_ledger(Path(folder), args.requests)
    per_raw, per_ours = raw / args.requests * 1e6, ours / args.requests * 1e6
    print(f"requests recorded          {args.requests:,}")
    print(f"raw sqlite3                {per_raw:8.1f} us/request")
    print(f"tallybook spend_tokens     {per_ours:8.1f} us/request")
    print(f"ratio (tallybook / raw)    {ours / raw:8.2f}x")


if __name__ == "__main__":
    main()
