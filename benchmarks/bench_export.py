"""CSV export speed and memory: rows per second against the sqlite3 shell, and peak memory.

    .venv/bin/python benchmarks/bench_export.py --ledger PATH   (e.g. a 1M-row demo ledger)

Speed: the whole ledger to CSV (and to JSON), timed without instrumentation, best of
``--repeats`` runs. Baselines in the same run: the ``sqlite3`` shell writing the same rows as
CSV (``sqlite3 -csv`` on the export's own query, :func:`app.core.ledger.export.cells`: the same
columns, decimals, times and formula neutralising, the shell doing the quoting), and raw
``sqlite3`` + ``csv.writer`` writing the stored columns unformatted. Target: Tallybook's CSV at
least 0.70x the shell's rows/s. Memory: the peak of Python allocations (tracemalloc) exporting
the first tenth of the rows and all of them: flat memory means the two peaks are about the same.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sqlite3
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.dialects import sqlite

from app.core.ledger import export
from app.core.ledger.selection import Selection
from app.core.storage.db import Database

TARGET = 0.70
RAW = """
SELECT t.created_at, t.conversation_id, c.title, t.message_id, t.provider, t.model, t.token_type,
       t.raw_amount, t.rate, t.token_value, t.token_value, t.context, t.estimated
FROM transactions t LEFT JOIN conversations c ON c.id = t.conversation_id ORDER BY t.id
"""


def raw_csv(path: Path, target: Path) -> None:
    with sqlite3.connect(path) as connection, target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        cursor = connection.execute(RAW)
        while rows := cursor.fetchmany(5000):
            writer.writerows(rows)


def shell_csv(shell: str, path: Path, target: Path) -> None:
    """The sqlite3 shell running the export's query, its CSV on ``target``."""
    query = export.cells(Selection()).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    with target.open("wb") as handle:
        subprocess.run([shell, "-csv", "-header", str(path), str(query)], stdout=handle, check=True)


def best(repeats: int, run: Callable[[], object]) -> float:
    """The fastest of ``repeats`` runs, in seconds (the machine may be busy with other work)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    db = Database(args.ledger)
    shell = shutil.which("sqlite3")
    with db.read() as session:
        sql = session.connection().exec_driver_sql
        rows = int(sql("SELECT COUNT(*) FROM transactions").scalar_one())
        first = str(sql("SELECT MIN(created_at) FROM transactions").scalar_one())

    def tallybook(fmt: export.Format, target: Path) -> Callable[[], object]:
        def run() -> object:
            with db.read() as session:
                return export.export(session, target, fmt=fmt)

        return run

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        timings: dict[str, float] = {}
        if shell is not None:
            timings["shell"] = best(
                args.repeats, lambda: shell_csv(shell, args.ledger, out / "shell.csv")
            )
        timings["raw"] = best(args.repeats, lambda: raw_csv(args.ledger, out / "raw.csv"))
        for fmt in (export.Format.CSV, export.Format.JSON):
            timings[fmt.value] = best(args.repeats, tallybook(fmt, out / f"all.{fmt.value}"))
        tenth = Selection(until=date.fromisoformat(first[:10]) + timedelta(days=36))
        measured = []
        for selection in (tenth, Selection()):
            with db.read() as session:
                tracemalloc.start()
                count = export.export(session, out / "part.csv", selection)
                measured.append((count, tracemalloc.get_traced_memory()[1]))
                tracemalloc.stop()
    db.close()

    def speed(name: str) -> str:
        return f"{rows / timings[name]:10,.0f} rows/s ({timings[name]:5.1f} s)"

    print(f"rows                            {rows:,}  (best of {args.repeats})")
    if shell is None:
        print("sqlite3 shell -csv              not installed: no baseline, no ratio")
    else:
        print(f"sqlite3 shell -csv, same query  {speed('shell')}  baseline")
    print(f"raw sqlite3 + csv.writer        {speed('raw')}  stored columns, unformatted")
    print(f"tallybook export csv            {speed('csv')}")
    print(f"tallybook export json           {speed('json')}")
    if shell is not None:
        ratio = timings["shell"] / timings["csv"]
        verdict = "met" if ratio >= TARGET else "NOT met"
        print(
            f"tallybook csv / sqlite3 shell   {ratio:10.2f}x  (target >= {TARGET:.2f}x: {verdict})"
        )
    (small, small_peak), (large, large_peak) = measured
    print(
        f"peak Python memory              {small_peak / 1e6:6.1f} MB for {small:,} rows, "
        f"{large_peak / 1e6:6.1f} MB for {large:,} rows"
    )


if __name__ == "__main__":
    main()
