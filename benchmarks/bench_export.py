"""CSV export speed and memory: rows per second, and peak memory against the row count.

    .venv/bin/python benchmarks/bench_export.py --ledger PATH   (e.g. a 1M-row demo ledger)

Speed: the whole ledger to CSV (and to JSON), timed without instrumentation. Memory: the peak
of Python allocations (tracemalloc) exporting the first tenth of the rows and all of them: flat
memory means the two peaks are about the same. Baseline in the same run: raw ``sqlite3`` reading
the same columns (``fetchmany``) and ``csv.writer`` writing them unformatted.
Target: at least 150,000 rows/s.
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

from app.core.ledger import export
from app.core.ledger.selection import Selection
from app.core.storage.db import Database

RAW = """
SELECT t.created_at, t.conversation_id, c.title, t.message_id, t.provider, t.model, t.token_type,
       t.raw_amount, t.rate, t.token_value, t.token_value, t.context, t.estimated
FROM transactions t LEFT JOIN conversations c ON c.id = t.conversation_id ORDER BY t.id
"""


def raw_csv(path: Path, target: Path) -> int:
    with sqlite3.connect(path) as connection, target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        cursor = connection.execute(RAW)
        count = 0
        while rows := cursor.fetchmany(5000):
            writer.writerows(rows)
            count += len(rows)
        return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, required=True)
    args = parser.parse_args()
    db = Database(args.ledger)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        start = time.perf_counter()
        raw_rows = raw_csv(args.ledger, out / "raw.csv")
        raw_time = time.perf_counter() - start
        timings = {}
        for fmt in (export.Format.CSV, export.Format.JSON):
            with db.read() as session:
                start = time.perf_counter()
                rows = export.export(session, out / f"all.{fmt.value}", fmt=fmt)
                timings[fmt] = time.perf_counter() - start
        with db.read() as session:
            first = (
                session.connection()
                .exec_driver_sql("SELECT MIN(created_at) FROM transactions")
                .scalar()
            )
        tenth = Selection(until=date.fromisoformat(first[:10]) + timedelta(days=36))
        measured = []
        for selection in (tenth, Selection()):
            with db.read() as session:
                tracemalloc.start()
                count = export.export(session, out / "part.csv", selection)
                measured.append((count, tracemalloc.get_traced_memory()[1]))
                tracemalloc.stop()
    db.close()
    print(f"rows                          {rows:,}")
    print(
        f"raw sqlite3 + csv.writer      {raw_rows / raw_time:10,.0f} rows/s (unformatted baseline)"
    )
    for fmt, seconds in timings.items():
        print(
            f"tallybook export {fmt.value:<4}         {rows / seconds:10,.0f} rows/s   ({seconds:.1f} s; target >= 150,000)"
        )
    (small, small_peak), (large, large_peak) = measured
    print(
        f"peak Python memory            {small_peak / 1e6:6.1f} MB for {small:,} rows, "
        f"{large_peak / 1e6:6.1f} MB for {large:,} rows"
    )


if __name__ == "__main__":
    main()
