"""What announcing each write costs: Database.write() against the same write unannounced.

    .venv/bin/python benchmarks/bench_changes.py [--requests 2000] [--chunk 50]

Three ledgers record the same N requests, one write transaction each (``entries.spend_tokens``,
as bench_ledger does):

- *unannounced*: a bare session on an engine like the ledger's (BEGIN IMMEDIATE, the same
  pragmas), with no statement listeners, no data_version look and no write lock: the write path
  before announcements;
- *announced*: ``Database.write()`` with nobody subscribed (the table recording and the look for
  other writers run anyway);
- *subscribed*: ``Database.write()`` with one subscriber, as the window has.

They take turns a chunk of writes at a time, each going first in turn, so drift in a shared
machine's speed hits all three alike. On disk the commit's fsync dominates; in /dev/shm (no
fsync) the figure is the CPU cost alone, the worst case.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
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

Begin = Callable[[], AbstractContextManager[Session]]


@contextlib.contextmanager
def ledgers(folder: Path) -> Iterator[tuple[dict[str, Begin], list[Changes]]]:
    """The three sides' ways to begin a write, and what the subscribed one heard."""
    bare_path = folder / "unannounced.sqlite3"
    Database(bare_path).close()  # the schema
    bare = db_module._make_engine(bare_path, db_module.BUSY_TIMEOUT_S, writer=True)
    quiet = Database(folder / "announced.sqlite3")
    heard_by = Database(folder / "subscribed.sqlite3")
    heard: list[Changes] = []
    heard_by.subscribe(heard.append)
    writer: sessionmaker[Session] = sessionmaker(bare, expire_on_commit=False)

    @contextlib.contextmanager
    def unannounced() -> Iterator[Session]:  # Database.write() as it was before announcements
        with db_module.translate_errors(bare_path), writer.begin() as session:
            yield session

    try:
        yield (
            {"unannounced": unannounced, "announced": quiet.write, "subscribed": heard_by.write},
            heard,
        )
    finally:
        bare.dispose()
        quiet.close()
        heard_by.close()


def measure(folder: Path, requests: int, chunk: int) -> dict[str, float]:
    """Seconds each side took for ``requests`` writes."""
    with ledgers(folder) as (sides, heard):
        with sides["announced"]() as session:
            rates = PriceBook.load(session).rates("gpt-4o")
        spends = [
            Spend("openai", "gpt-4o", TokenUsage(100 + i % 900, 50 + i % 400), rates)
            for i in range(requests)
        ]
        took = dict.fromkeys(sides, 0.0)
        order = list(sides)
        for start in range(0, requests, chunk):
            for side in order:
                begin = sides[side]
                began = time.perf_counter()
                for spend in spends[start : start + chunk]:
                    with begin() as session:
                        entries.spend_tokens(session, spend)
                took[side] += time.perf_counter() - began
            order = order[1:] + order[:1]
    assert len(heard) == requests  # every write announced, once
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--chunk", type=int, default=50)
    args = parser.parse_args()
    places = [("disk", Path(tempfile.gettempdir()))]
    if Path("/dev/shm").is_dir():
        places.append(("memory", Path("/dev/shm")))
    print(f"writes per side              {args.requests:,}, taking turns {args.chunk} at a time")
    for name, base in places:
        with tempfile.TemporaryDirectory(dir=base) as folder:
            took = measure(Path(folder), args.requests, args.chunk)
        for side, seconds in took.items():
            print(f"[{name}] {side:12s}        {seconds / args.requests * 1e6:8.1f} us/write")
        ratio = took["subscribed"] / took["unannounced"]
        print(f"[{name}] ratio (subscribed / unannounced)   {ratio:6.3f}x")
        ratio = took["subscribed"] / took["announced"]
        print(f"[{name}] ratio (subscribed / no subscriber) {ratio:6.3f}x")


if __name__ == "__main__":
    main()
