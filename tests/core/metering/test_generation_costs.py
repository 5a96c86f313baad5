"""OpenRouter's exact cost of a reply, fetched after it settled and kept beside its charge."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from sqlalchemy import func, select

from app.core import keys
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, MeteringClient
from app.core.metering.generation_costs import GenerationCosts
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.storage.models import Request, Transaction
from app.core.types import RequestId
from app.servers.emulator import Emulator
from tests.support.replay_server import Answer, Recorded, ReplayServer, ToReplay, replay_server

KEY = keys.ApiKey("sk-test-or-generation-0123456789abcdef")
MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def client_for(db: Database, url: str) -> MeteringClient:
    """A metering client whose requests to openrouter.ai reach ``url``."""
    return MeteringClient(
        db, transport=ToReplay(url), retries=0, key_for=lambda _: KEY, generation_backoff=0.01
    )


@pytest.mark.parametrize("streamed", [True, False])
def test_a_reply_ends_with_the_providers_exact_cost_beside_its_charge(
    db: Database, emulator: Emulator, streamed: bool
) -> None:
    client = client_for(db, emulator.url)
    try:
        request = ChatRequest("openrouter", MODEL, (ChatMessage("user", "Hello there"),))
        metered = client.send(request, stream=streamed)
        client.generation_costs.wait(10)
    finally:
        client.close()
    (served,) = emulator.state.served.rows("openrouter")
    total_cost = served.usd  # what its generation record says, as total_cost
    assert total_cost > 0
    with db.read() as session:
        row = session.get(Request, metered.request_id)
        assert row is not None
        assert row.provider_cost == total_cost * 1_000_000
        charged = session.scalar(
            select(func.sum(Transaction.token_value)).where(
                Transaction.request_id == metered.request_id
            )
        )
    assert -Decimal(charged) == metered.cost  # the charge itself is unchanged
    assert metered.cost == row.provider_cost  # the reply's inline usage.cost agreed
    # The chat, then the generation asked for twice: not ready (404), then its record.
    assert emulator.requests_served == 3


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server() as replay:
        yield replay


def test_a_404_is_asked_again_until_the_record_is_there(db: Database, server: ReplayServer) -> None:
    answers = [
        Answer(404, {"error": {"code": 404, "message": "Generation not found"}}),
        Answer(404, {"error": {"code": 404, "message": "Generation not found"}}),
        Answer(200, {"data": {"id": "gen-1", "total_cost": 0.00219855, "usage": 0.00219855}}),
    ]

    def answer(request: Recorded) -> Answer:
        return answers.pop(0)

    server.answer = answer
    with httpx2.Client() as http:
        costs = GenerationCosts(db, http, backoff=0.01)
        cost = costs.fetch(f"{server.url}/api/v1/generation", "gen-1", KEY)
    assert cost == Decimal("2198.55")
    assert len(server.requests) == 3
    first = server.requests[0]
    assert urlsplit(first.path).path == "/api/v1/generation"
    assert parse_qs(urlsplit(first.path).query) == {"id": ["gen-1"]}
    assert first.headers["authorization"] == f"Bearer {KEY.secret}"


def test_a_fetch_that_fails_changes_nothing_and_logs_no_key(
    db: Database, server: ReplayServer, caplog: pytest.LogCaptureFixture
) -> None:
    message = f"No auth credentials found for {KEY.secret}"
    server.answer = Answer(401, {"error": {"code": 401, "message": message}})
    with db.write() as session:
        endpoint = registry.get_endpoint(session, "openrouter")
        session.add(
            Request(
                id=7,
                created_at=db_now(),
                provider="openrouter",
                model=MODEL,
                context="chat",
                provider_cost=Decimal(1234),
            )
        )
    with httpx2.Client(transport=ToReplay(server.url)) as http:
        costs = GenerationCosts(db, http, backoff=0.01)
        with caplog.at_level(logging.WARNING):
            future = costs.later(endpoint, RequestId(7), "gen-abc", lambda _: KEY)
            assert future is not None and future.result(10) is None
        costs.close()
    with db.read() as session:
        row = session.get(Request, 7)
        assert row is not None and row.provider_cost == Decimal(1234)
    assert "OpenRouter refused the API key (401)" in caplog.text
    assert KEY.secret not in caplog.text
    assert len(server.requests) == 1  # a refusal is not asked again


def test_replies_from_anywhere_else_are_not_looked_up(db: Database) -> None:
    with db.read() as session:
        openai_endpoint = registry.get_endpoint(session, "openai")
        openrouter = registry.get_endpoint(session, "openrouter")
    with httpx2.Client() as http:
        costs = GenerationCosts(db, http)
        assert costs.later(openai_endpoint, RequestId(1), "gen-x", lambda _: KEY) is None
        assert costs.later(openrouter, RequestId(1), "chatcmpl-x", lambda _: KEY) is None
        assert costs.later(openrouter, RequestId(1), "gen-x", lambda _: None) is None
        costs.close()


def db_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
