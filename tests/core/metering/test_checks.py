"""The pre-send checks: a reached blocking budget refuses before anything is sent or charged,
and the composer can ask the same question without sending."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core import keys
from app.core.clock import utcnow
from app.core.errors import BudgetReached, InsufficientBalance
from app.core.ledger import alerts, balance, entries
from app.core.ledger.entries import Spend
from app.core.messages import ChatMessage
from app.core.metering import checks
from app.core.metering.client import ChatRequest, MeteringClient
from app.core.pricing.charges import TokenUsage
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.storage.models import Request, Transaction
from app.servers.emulator import Emulator
from tests.factories import rates, spend

HELLO = (ChatMessage("user", "Hello there, emulator!"),)


def count_rows(db: Database, model: type[Request] | type[Transaction]) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def endpoint(db: Database, emulator: Emulator) -> str:
    with db.write() as session:
        added = registry.add_endpoint(session, "Counted", emulator.url + "/v1")
    keys.set_key(added.id, "test-key")
    return added.id


@pytest.fixture
def client(db: Database) -> Iterator[MeteringClient]:
    metering = MeteringClient(db, retries=0)
    yield metering
    metering.close()


def test_a_reached_blocking_budget_sends_nothing_and_charges_nothing(
    db: Database, client: MeteringClient, emulator: Emulator, endpoint: str
) -> None:
    with db.write() as session:
        alerts.add_budget(session, "day", Decimal(1), block=True)
    first = client.send(ChatRequest(endpoint, "gpt-4o-mini", HELLO))  # under the limit: sent
    assert first.cost > 1 and emulator.requests_served == 1
    rows, requests = count_rows(db, Transaction), count_rows(db, Request)
    with db.read() as session:
        spent = -entries.current_balance(session)

    with pytest.raises(BudgetReached, match=r"Daily budget reached.*Nothing was sent"):
        client.send(ChatRequest(endpoint, "gpt-4o-mini", HELLO))
    assert emulator.requests_served == 1  # nothing sent
    assert (count_rows(db, Transaction), count_rows(db, Request)) == (rows, requests)
    with db.read() as session:
        assert -entries.current_balance(session) == spent  # nothing charged


def test_a_budget_that_only_alerts_never_refuses(
    db: Database, client: MeteringClient, emulator: Emulator, endpoint: str
) -> None:
    with db.write() as session:
        alerts.add_budget(session, "day", Decimal(1))
    client.send(ChatRequest(endpoint, "gpt-4o-mini", HELLO))
    client.send(ChatRequest(endpoint, "gpt-4o-mini", HELLO))
    assert emulator.requests_served == 2


def test_a_quote_tells_whether_sending_would_be_refused(
    db: Database, client: MeteringClient, endpoint: str
) -> None:
    quote = client.quote(ChatRequest(endpoint, "gpt-4o-mini", HELLO))
    assert checks.quote_refusal(db, quote) is None  # tracking only: never refused
    with db.write() as session:
        balance.configure(session, enabled=True)
        entries.add_credits(session, quote.prompt_cost - 1)
    short = checks.quote_refusal(db, quote)
    assert isinstance(short, InsufficientBalance) and short.needed == quote.prompt_cost
    with db.write() as session:
        entries.add_credits(session, Decimal(1))
    assert checks.quote_refusal(db, quote) is None
    with pytest.raises(InsufficientBalance), db.write() as session:  # as the check would
        checks.check(
            session, quote.prompt_cost + 1, provider=endpoint, model="gpt-4o-mini", now=utcnow()
        )


def test_a_blocking_budget_is_checked_before_the_balance(db: Database) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True)  # and no credits: short too
        alerts.add_budget(session, "day", Decimal(1), "model", "gpt-4o", block=True)
        entries.spend_tokens(session, spend(10, model_rates=rates(model="gpt-4o")))
    with db.read() as session:
        blocked = checks.refusal(session, Decimal(5), provider="openai", model="gpt-4o")
        other = checks.refusal(session, Decimal(5), provider="openai", model="gpt-4o-mini")
    assert isinstance(blocked, BudgetReached)
    assert isinstance(other, InsufficientBalance)  # the budget covers gpt-4o only


def test_no_title_is_asked_for_once_a_blocking_budget_is_reached(
    db: Database, client: MeteringClient, endpoint: str
) -> None:
    quote = client.quote(ChatRequest(endpoint, "gpt-4o-mini", HELLO))
    with db.write() as session:
        alerts.add_budget(session, "day", Decimal(1), "provider", endpoint, block=True)
        assert checks.affords_title(session, quote)
        entries.spend_tokens(session, Spend(endpoint, "gpt-4o-mini", TokenUsage(10, 0), rates()))
        assert not checks.affords_title(session, quote)
