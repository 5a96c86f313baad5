"""What announcing each write costs: Database.write() against the same write unannounced.

    .venv/bin/python benchmarks/bench_changes.py [--requests 2000] [--rounds 5]

Each side records N requests, one write transaction each (``entries.spend_tokens``, as
bench_ledger does), in a fresh file:

- *unannounced*: a bare session on the same engine (BEGIN IMMEDIATE, the same pragmas), no
  statement listeners, no data_version look, no write lock: the write path before announcements;
- *announced*: ``Database.write()`` with nobody subscribed (the table recording and the look for
  other writers run anyway);
- *subscribed*: ``Database.write()`` with one subscriber, as the window has.

The sides alternate in rounds so drift in the machine's speed hits them alike. On disk the
commit's fsync dominates; in /dev/shm (no fsync) the figure is the CPU cost alone, the worst case.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.core.ledger import entries
from app.core.ledger.entries import Spend
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.storage import db as db_module
from app.core.storage.changes import Changes
from app.core.storage.db import Database


def _spends(db: Database, requests: int) -> list[Spend]:
    with db.read() as session:
        rates = PriceBook.load(session).rates("gpt-4o")
    return [
        Spend("openai", "gpt-4o", TokenUsage(100 + i % 900, 50 + i % 400), rates)
        for i in range(requests)
    ]


def _timed(spends: list[Spend], begin: Callable[[], AbstractContextManager[Session]]) -> float:
    start = time.perf_counter()
    for spend in spends:
        with begin() as session:
            entries.spend_tokens(session, spend)
    return time.perf_counter() - start


def unannounced(folder: Path, requests: int) -> float:
    path = folder / "unannounced.sqlite3"
    Database(path).close()  # the schema
    engine = db_module._make_engine(path, db_module.BUSY_TIMEOUT_S, writer=True)
    db = Database(path)
    spends = _spends(db, requests)
    db.close()
    writer: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
    try:
        return _timed(spends, writer.begin)
    finally:
        engine.dispose()


def announced(folder: Path, requests: int, *, subscribed: bool) -> float:
    db = Database(folder / f"announced-{subscribed}.sqlite3")
    heard: list[Changes] = []
    if subscribed:
        db.subscribe(heard.append)
    try:
        elapsed = _timed(_spends(db, requests), db.write)
    finally:
        db.close()
    assert len(heard) == (requests if subscribed else 0)
    return elapsed


def measure(base: Path, requests: int, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"unannounced": [], "announced": [], "subscribed": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(dir=base) as folder:
            where = Path(folder)
            times["unannounced"].append(unannounced(where, requests))
            times["announced"].append(announced(where, requests, subscribed=False))
            times["subscribed"].append(announced(where, requests, subscribed=True))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    places = [("disk", Path(tempfile.gettempdir()))]
    if Path("/dev/shm").is_dir():
        places.append(("memory", Path("/dev/shm")))
    print(f"requests per side per round  {args.requests:,} x {args.rounds} rounds (medians)")
    for name, base in places:
        times = measure(base, args.requests, args.rounds)
        medians = {side: statistics.median(values) for side, values in times.items()}
        per = {side: value / args.requests * 1e6 for side, value in medians.items()}
        print(f"[{name}] unannounced        {per['unannounced']:8.1f} us/write")
        print(f"[{name}] announced          {per['announced']:8.1f} us/write")
        print(f"[{name}] subscribed         {per['subscribed']:8.1f} us/write")
        ratio = medians["subscribed"] / medians["unannounced"]
        print(f"[{name}] ratio (subscribed / unannounced)   {ratio:6.3f}x")
        ratio = medians["subscribed"] / medians["announced"]
        print(f"[{name}] ratio (subscribed / no subscriber) {ratio:6.3f}x")


if __name__ == "__main__":
    main()
