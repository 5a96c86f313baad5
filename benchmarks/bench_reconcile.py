"""A year's reconciliation: 365 daily buckets x 5 models, fetched from the emulator's OpenAI
Usage and Costs APIs and compared with a ledger that metered most of it.

    .venv/bin/python benchmarks/bench_reconcile.py [--repeats 3]

Timed: ``OpenAIUsage.fetch`` (every page of both reports, parsed to exact Decimals) plus
``compare.reconcile`` (the ledger's side through the rollups, names resolved by the price
table), best of ``--repeats``. Baseline in the same run: raw ``httpx2`` fetching the same pages
(the same queries, following ``next_page``, ``json.loads`` only). The emulator's own time is in
both. Target: the whole reconciliation under 2 s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

import httpx2

from app.core.keys import ApiKey
from app.core.ledger import entries
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.reconcile import compare, openai_usage
from app.core.storage.db import Database
from app.servers.emulator.served import Served
from app.servers.emulator.server import Emulator

TARGET = 2.0
DAYS = 365
MODELS = ("gpt-4o-2024-08-06", "gpt-4o-mini", "o3", "gpt-4.1", "o4-mini")
ADMIN = ApiKey("sk-admin-bars-BENCH-0123456789abcdefghijklmn", "benchmark")


def year(today: date) -> list[Served]:
    """What the provider served: every day and model of the year, some outside the ledger."""
    served = []
    for n in range(DAYS):
        day = today - timedelta(days=DAYS - n)
        for i, model in enumerate(MODELS):
            tokens = 10_000 + 37 * n + 1000 * i
            served.append(Served(day, "openai", model, 3, tokens, tokens // 5, tokens // 4))
    return served


def meter(db: Database, served: list[Served]) -> None:
    """The ledger's side: four in five of the provider's rows, at the price table's rates."""
    with db.write() as session:
        book = PriceBook.load(session)
        spends = []
        for n, row in enumerate(served):
            if n % 5 == 4:
                continue  # outside: another computer
            at = datetime.combine(row.day, clock(12))
            usage = TokenUsage(
                row.input_tokens - row.cached_input_tokens,
                row.output_tokens,
                cache_read_tokens=row.cached_input_tokens,
            )
            rates = book.rates(row.model, provider="openai", at=at)
            spends.append((entries.Spend("openai", row.model, usage, rates), at))
        entries.spend_many(session, spends)


def raw_pages(url: str, since: date, until: date) -> int:
    """Both reports' pages with plain httpx2 and json.loads: the buckets read."""
    start = int(datetime.combine(since, clock(), UTC).timestamp())
    end = int(
        min(
            datetime.combine(until + timedelta(days=1), clock(), UTC), datetime.now(UTC)
        ).timestamp()
    )
    headers = {"Authorization": f"Bearer {ADMIN.secret}"}
    buckets = 0
    with httpx2.Client(headers=headers, timeout=30) as client:
        for path, group, limit in (
            (openai_usage.USAGE_PATH, "model", openai_usage.USAGE_LIMIT),
            (openai_usage.COSTS_PATH, "line_item", openai_usage.COSTS_LIMIT),
        ):
            params = [
                ("start_time", str(start)),
                ("end_time", str(end)),
                ("bucket_width", "1d"),
                ("group_by[]", group),
                ("limit", str(limit)),
            ]
            page: str | None = None
            while True:
                answer = client.get(
                    url + path, params=[*params, *([("page", page)] if page else [])]
                )
                body = json.loads(answer.content)
                buckets += len(body["data"])
                if not body["has_more"]:
                    break
                page = body["next_page"]
    return buckets


def best(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    """The fastest of ``repeats`` runs in seconds, and what the last run returned."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    since, until = today - timedelta(days=DAYS), today - timedelta(days=1)
    served = year(today)
    with tempfile.TemporaryDirectory() as folder, Emulator(outside=served) as emulator:
        db = Database(Path(folder) / "ledger.sqlite3")
        meter(db, served)
        source = openai_usage.OpenAIUsage(ADMIN, base_url=emulator.url)

        def reconciled() -> compare.Reconciliation:
            records = source.fetch(since, until)
            with db.read() as session:
                return compare.reconcile(session, records, PriceBook.load(session))

        raw, buckets = best(args.repeats, lambda: raw_pages(emulator.url, since, until))
        ours, result = best(args.repeats, reconciled)
        db.close()
    assert isinstance(result, compare.Reconciliation)
    counts = {status.value: n for status, n in result.counts().items()}
    print(f"{DAYS} days x {len(MODELS)} models: {len(result.rows):,} rows {counts}")
    print(f"raw httpx2, the same pages ({buckets} buckets): {raw:.3f} s")
    print(f"fetch + reconcile:                       {ours:.3f} s ({ours / raw:.2f}x raw)")
    verdict = "ok" if ours < TARGET else "SLOW"
    print(f"target < {TARGET:.1f} s: {verdict}")
    assert result.totals.provider.usd is not None and result.totals.provider.usd > Decimal(0)


if __name__ == "__main__":
    main()
