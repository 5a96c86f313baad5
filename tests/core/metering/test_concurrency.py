"""Several conversations streaming at once: no transaction lost or doubled, no double spend."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from app.core.errors import InsufficientBalance
from app.core.keys import ApiKey
from app.core.ledger import balance, entries
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, MeteringClient
from app.core.providers import registry
from app.core.storage.db import Database
from app.servers.emulator import Emulator
from tests.core.ledger.test_rollups import assert_aggregates_exact

pytestmark = pytest.mark.slow
THREADS = 16
REQUESTS = 1_000


def _client(db: Database, emulator: Emulator) -> tuple[MeteringClient, str]:
    with db.write() as session:
        endpoint = registry.add_endpoint(session, "Busy", emulator.url + "/v1").id
    return MeteringClient(db, key_for=lambda _: ApiKey("concurrency")), endpoint


def test_a_thousand_requests_from_sixteen_threads(db: Database) -> None:
    with Emulator() as emulator:
        client, endpoint = _client(db, emulator)

        def one(n: int) -> Decimal:
            request = ChatRequest(endpoint, "gpt-4o-mini", (ChatMessage("user", f"request {n}"),))
            metered = client.send(request)
            assert metered.status == "complete" and not metered.estimated
            return metered.cost

        with ThreadPoolExecutor(THREADS) as pool:
            costs = list(pool.map(one, range(REQUESTS)))
        client.close()
    with sqlite3.connect(db.path) as raw:
        requests = raw.execute("SELECT status, COUNT(*) FROM requests GROUP BY status").fetchall()
        kinds = raw.execute(
            "SELECT token_type, COUNT(*) FROM transactions GROUP BY token_type"
        ).fetchall()
        doubled = raw.execute(
            "SELECT COUNT(*) FROM (SELECT request_id, token_type FROM transactions "
            "GROUP BY request_id, token_type HAVING COUNT(*) > 1)"
        ).fetchone()
    assert requests == [("complete", REQUESTS)]
    assert sorted(kinds) == [("completion", REQUESTS), ("prompt", REQUESTS)]
    assert doubled == (0,)
    with db.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session) == -sum(costs)
        assert entries.pending_holds(session) == 0
    assert_aggregates_exact(db.path)


def test_the_balance_check_cannot_be_raced_into_a_double_spend(
    db: Database, tmp_path: Path
) -> None:
    with Emulator(chunk_delay=0.01) as emulator:
        client, endpoint = _client(db, emulator)
        request = ChatRequest(endpoint, "gpt-4o", (ChatMessage("user", "the same question"),))
        prompt_cost = client.quote(request).prompt_cost
        affordable = 10
        with db.write() as session:
            balance.configure(session, enabled=True)
            entries.add_credits(session, prompt_cost * affordable)

        def attempt(_: int) -> Decimal | None:
            try:
                return client.send(request).cost
            except InsufficientBalance:
                return None

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(attempt, range(THREADS * 5)))
        client.close()
    accepted = [cost for cost in results if cost is not None]
    # Every accepted prompt was paid for by credits not held by another request in flight:
    # together they never exceed what there was. Only completions may run into deficit.
    assert 0 < len(accepted) <= affordable
    assert len(accepted) * prompt_cost <= prompt_cost * affordable
    with db.read() as session:
        final = entries.current_balance(session)
        assert final == entries.ledger_sum(session)
        assert entries.pending_holds(session) == 0
    completions = sum(accepted) - len(accepted) * prompt_cost
    assert final >= -completions
