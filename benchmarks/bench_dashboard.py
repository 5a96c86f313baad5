"""The dashboard's daily-by-model figure for a year: the aggregates against a raw GROUP BY.

    .venv/bin/python benchmarks/bench_dashboard.py [--ledger PATH] [--rows 1000000]

Fills a ledger with ``tallybook demo-data`` (a year, a million transactions by default) unless
one is given, then, in the same run and on the same file, times:

- raw ``sqlite3``: ``SELECT day, model, SUM(token_value) ... GROUP BY day, model`` over the
  transactions for the last 365 days (what a dashboard without aggregates would run);
- Tallybook: ``analysis.spend_over_time`` (reads ``daily_totals``) and ``build_report`` by day;
  the same figure filtered to the chat window's source (reads ``source_days``; every demo
  conversation is the chat window's, the widest such filter);
- the first page of the transactions view (500 rows, keyset), against counting every row.

Target: the aggregates at least 10x faster than the raw GROUP BY, never slower than 1.5x of it.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from app.core.ledger import analysis, browse
from app.core.ledger.analysis import Bucket
from app.core.ledger.reports import build_report
from app.core.ledger.selection import Selection
from app.core.storage.db import Database
from app.core.types import GroupBy

RAW_DAILY_BY_MODEL = """
SELECT substr(created_at, 1, 10) AS day, model, SUM(token_value), SUM(raw_amount)
FROM transactions
WHERE token_type != 'credits' AND created_at >= ?
GROUP BY day, model
"""


def best(action: Callable[[], object], repeats: int = 5) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ledger", type=Path, help="an existing ledger file (default: fill a new one)"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.ledger or fill(Path(folder), args.rows)
        db = Database(path)
        since = date.today() - timedelta(days=365)
        selection = Selection(since=since)
        raw = sqlite3.connect(path)
        rows = raw.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
        raw_time = best(lambda: raw.execute(RAW_DAILY_BY_MODEL, (since.isoformat(),)).fetchall())

        def figures() -> object:
            with db.read() as session:
                return analysis.spend_over_time(session, selection, Bucket.DAY)

        def by_source() -> object:
            chat_only = Selection(since=since, sources=frozenset({"chat"}))
            with db.read() as session:
                return analysis.spend_over_time(session, chat_only, Bucket.DAY)

        def report() -> object:
            with db.read() as session:
                return build_report(session, GroupBy.DAY, selection)

        def first_page() -> object:
            with db.read() as session:
                return browse.page(session, Selection())

        ours, ours_report, page = best(figures), best(report), best(first_page)
        ours_source = best(by_source)
        count_all = best(lambda: raw.execute("SELECT COUNT(*) FROM transactions").fetchone(), 3)
        raw.close()
        db.close()
    print(f"ledger                               {rows:,} transactions")
    print(f"raw sqlite3 GROUP BY day, model      {raw_time * 1e3:8.1f} ms")
    print(
        f"dashboard.spend_over_time (aggr.)    {ours * 1e3:8.1f} ms   {raw_time / ours:6.1f}x faster (>= 10x)"
    )
    print(
        f"the same, filtered by source         {ours_source * 1e3:8.1f} ms   {raw_time / ours_source:6.1f}x faster"
    )
    print(
        f"build_report by day (aggregates)     {ours_report * 1e3:8.1f} ms   {raw_time / ours_report:6.1f}x faster"
    )
    print(
        f"transactions view, first 500 rows    {page * 1e3:8.1f} ms   (counting all rows: {count_all * 1e3:.1f} ms)"
    )


def fill(folder: Path, rows: int) -> Path:
    main_py = Path(__file__).resolve().parent.parent / "main.py"
    subprocess.run(
        [
            sys.executable,
            str(main_py),
            "--data-dir",
            str(folder),
            "demo-data",
            "--rows",
            str(rows),
            "--days",
            "365",
        ],
        check=True,
    )
    return folder / "tallybook.sqlite3"


if __name__ == "__main__":
    main()
