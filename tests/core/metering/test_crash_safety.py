"""Crash safety: a metering process killed with SIGKILL at random moments, 50 times.

After each kill, the next metering client (as the app or CLI would start) recovers what the
dead one left pending. Then: PRAGMA integrity_check is ok, nothing is pending, every request
that reached the provider (the emulator saw it) is charged exactly once, and the balance equals
the sum of the ledger (and the aggregates a fresh GROUP BY).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from app.core.chats import Chats
from app.core.keys import ApiKey
from app.core.ledger import entries
from app.core.metering.client import MeteringClient
from app.core.providers import registry
from app.core.storage.db import Database
from app.servers.emulator import Emulator
from tests.core.ledger.test_rollups import assert_aggregates_exact

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
KILLS = 50


def test_sigkill_at_random_moments_charges_every_request_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    rng = random.Random(2026)
    with Emulator(chunk_delay=0.02) as emulator:
        db = Database(path)
        with db.write() as session:
            endpoint = registry.add_endpoint(session, "Crash", emulator.url + "/v1").id
        db.close()
        recovered_total = 0
        for run in range(KILLS):
            with subprocess.Popen(
                [sys.executable, "-m", "tests.support.crash_child", str(path), endpoint, str(run)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            ) as child:
                assert child.stdout is not None
                assert child.stdout.readline().strip() == b"ready"
                time.sleep(
                    rng.uniform(0.0, 1.5)
                )  # the moment of the crash, not a wait for a result
                child.send_signal(signal.SIGKILL)
            recovered_total += _restart_and_check(path, emulator, run)
        print(f"{recovered_total} requests recovered after {KILLS} kills")
        assert recovered_total > 0, "no kill landed mid-request: the test proved nothing"


def _restart_and_check(path: Path, emulator: Emulator, run: int) -> int:
    db = Database(path)
    chats = Chats(db, MeteringClient(db, key_for=lambda _: ApiKey("crash-test")))
    recovered = len(chats.recover_pending())
    chats.metering.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("SELECT COUNT(*) FROM requests WHERE status = 'pending'").fetchone() == (
            0,
        )
        charged = raw.execute(
            """SELECT r.id, COUNT(t.id) FROM requests r JOIN conversations c ON c.id = r.conversation_id
               LEFT JOIN transactions t ON t.request_id = r.id
               WHERE c.title = ? AND r.status IN ('complete', 'incomplete') GROUP BY r.id""",
            (f"run {run}",),
        ).fetchall()
        kinds = Counter(
            raw.execute(
                "SELECT request_id, token_type FROM transactions WHERE request_id IS NOT NULL"
            ).fetchall()
        )
    assert all(count == 1 for count in kinds.values()), "a request was charged twice"
    assert all(rows >= 2 for _, rows in charged), "a request lost its prompt or completion row"
    reached = sum(f"crash-{run}-".encode() in body for body in emulator.received_bodies)
    # Journaled before sending: every request that reached the provider is charged, and at most
    # one more (journaled, then killed before it left) is charged as an estimate.
    assert reached <= len(charged) <= reached + 1
    with db.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session)
    db.close()
    assert_aggregates_exact(path)
    return recovered
