"""The metering client against the emulator, over real sockets, for every provider and fault."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

import httpx2
import pytest
from sqlalchemy import select

from app.core import conversations, keys
from app.core.chats import Turn
from app.core.counting.tokens import TokenCounter
from app.core.errors import (
    AlreadySettled,
    AuthenticationFailed,
    ContextWindowExceeded,
    InsufficientBalance,
    MissingKey,
    ModelNotFound,
    ProviderOverloaded,
    ProviderUnreachable,
    RateLimited,
)
from app.core.ledger import alerts, balance, entries
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, Metered, MeteringClient
from app.core.providers import registry
from app.core.providers.base import MalformedStream, TextDelta
from app.core.storage import settings
from app.core.storage.db import Database
from app.core.storage.models import Message, Request, Transaction
from app.servers.emulator import Emulator

SENTINEL = "sk-test-SENTINEL-metering-0123456789"
HELLO = (ChatMessage("system", "Be brief."), ChatMessage("user", "Hello there, emulator!"))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def client(db: Database) -> Iterator[MeteringClient]:
    metering = MeteringClient(db, retries=2, backoff=0.01)
    yield metering
    metering.close()


def _conversation(db: Database) -> int:
    with db.write() as session:
        return conversations.create_conversation(session, title="Test").id


def _request(model: str = "gpt-4o-mini", endpoint: str = "demo", **kwargs: object) -> ChatRequest:
    return ChatRequest(endpoint=endpoint, model=model, messages=HELLO, **kwargs)  # type: ignore[arg-type]


def _rows(db: Database, request_id: int) -> dict[str, Transaction]:
    with db.read() as session:
        rows = session.scalars(
            select(Transaction).where(Transaction.request_id == request_id)
        ).all()
        session.expunge_all()
    return {row.token_type: row for row in rows}


def _request_row(db: Database, request_id: int) -> Request:
    with db.read() as session:
        row = session.get(Request, request_id)
        assert row is not None
        session.expunge(row)
        return row


def _assert_ledger_exact(db: Database) -> None:
    with db.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session)
        assert entries.pending_holds(session) == 0


def test_openai_stream_is_relayed_live_and_recorded_as_reported(
    db: Database, client: MeteringClient
) -> None:
    conversation = _conversation(db)
    items = list(client.stream(_request(hooks=Turn(conversation))))
    deltas, metered = items[:-1], items[-1]
    assert isinstance(metered, Metered)
    assert len(deltas) > 3 and all(isinstance(d, TextDelta) for d in deltas)
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == metered.text
    assert (metered.status, metered.estimated, metered.error) == ("complete", False, None)
    prompt = TokenCounter().count_chat("gpt-4o-mini", HELLO).tokens
    assert metered.usage.prompt_tokens == prompt == metered.estimate.tokens
    rows = _rows(db, metered.request_id)
    assert rows["prompt"].raw_amount == -prompt
    assert rows["prompt"].rate == Decimal("0.15") and rows["completion"].rate == Decimal("0.6")
    assert rows["prompt"].token_value == -prompt * Decimal("0.15")
    assert not rows["prompt"].estimated and not rows["completion"].estimated
    assert metered.cost == -(rows["prompt"].token_value + rows["completion"].token_value)
    stored = _request_row(db, metered.request_id)
    assert (stored.status, stored.estimated_prompt_tokens, stored.reported_prompt_tokens) == (
        "complete",
        prompt,
        prompt,
    )
    assert stored.estimate_method == "tiktoken o200k_base"
    with db.read() as session:
        assert session.get(Message, metered.message_id).content == metered.text  # type: ignore[union-attr]
    _assert_ledger_exact(db)


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("gpt-5-mini", 32),
        ("o3-pro", 32),
        ("gemini-2.5-flash", 32),
        ("claude-haiku-4-5", 0),
        ("gemini-2.0-flash", 0),
    ],
)
def test_every_protocol_and_reasoning_tokens(
    db: Database, client: MeteringClient, model: str, reasoning: int
) -> None:
    metered = client.send(_request(model))
    assert metered.status == "complete" and not metered.estimated, metered.error
    assert metered.usage.reasoning_tokens == reasoning
    assert metered.usage.completion_tokens >= reasoning + 1  # reasoning is part of the output
    assert _request_row(db, metered.request_id).reasoning_tokens == reasoning
    if model.startswith("claude"):  # the estimate runs above the emulator's raw o200k count
        assert metered.estimate.tokens > metered.usage.input_tokens
    _assert_ledger_exact(db)


def test_prompt_cache_reads_are_their_own_transaction(db: Database, client: MeteringClient) -> None:
    long_context = (ChatMessage("system", "policy " * 1500), ChatMessage("user", "first"))
    client.send(ChatRequest("demo", "gpt-4o-mini", long_context))
    second = client.send(
        ChatRequest("demo", "gpt-4o-mini", (*long_context[:1], ChatMessage("user", "second")))
    )
    rows = _rows(db, second.request_id)
    assert rows["cache_read"].rate == Decimal("0.075")
    assert -rows["cache_read"].raw_amount == second.usage.cache_read_tokens >= 1024
    assert (
        second.usage.input_tokens == second.estimate.tokens
    )  # cached tokens are part of the prompt
    _assert_ledger_exact(db)


def test_a_cancelled_stream_is_charged_for_what_arrived(
    db: Database, client: MeteringClient
) -> None:
    stream = client.stream(_request("gpt-4o-mini@slow", hooks=Turn(_conversation(db))))
    first = next(stream)
    assert isinstance(first, TextDelta)
    stream.close()
    with db.read() as session:
        request = session.scalars(select(Request).order_by(Request.id.desc())).first()
        assert request is not None
        rows = {
            r.token_type: r
            for r in session.scalars(
                select(Transaction).where(Transaction.request_id == request.id)
            )
        }
        assert request.status == "incomplete" and request.usage_estimated
        message = session.get(Message, request.message_id)
        assert message is not None and message.content == first.text
    assert {r.context for r in rows.values()} == {"incomplete"}
    assert rows["completion"].estimated and rows["prompt"].estimated  # no usage came back
    assert (
        -rows["completion"].raw_amount
        == TokenCounter().count_text("gpt-4o-mini", first.text).tokens
    )
    _assert_ledger_exact(db)


def test_cancel_event_stops_the_stream(db: Database, client: MeteringClient) -> None:
    cancel = threading.Event()
    items = []
    for item in client.stream(_request("gpt-4o-mini@slow"), cancel=cancel):
        items.append(item)
        cancel.set()
    metered = items[-1]
    assert isinstance(metered, Metered)
    assert metered.status == "incomplete" and metered.error is None
    assert metered.output_estimated


@pytest.mark.parametrize(
    ("model", "error", "input_reported"),
    [
        ("gpt-4o-mini@cut", ProviderUnreachable, False),
        ("claude-haiku-4-5@cut", ProviderUnreachable, True),
        ("gemini-2.5-flash@cut", ProviderUnreachable, True),
        ("gpt-4o-mini@malformed", MalformedStream, False),
    ],
)
def test_a_broken_stream_keeps_what_arrived_and_reported(
    db: Database, client: MeteringClient, model: str, error: type[Exception], input_reported: bool
) -> None:
    metered = client.send(_request(model))
    assert isinstance(metered.error, error)
    assert metered.status == "incomplete"
    assert metered.input_estimated is not input_reported  # Anthropic/Gemini said the input early
    assert metered.output_estimated
    rows = _rows(db, metered.request_id)
    assert rows["prompt"].context == "incomplete"
    assert rows["prompt"].estimated is not input_reported and rows["completion"].estimated
    _assert_ledger_exact(db)


def test_an_endpoint_without_usage_is_counted_locally_and_flagged(
    db: Database, client: MeteringClient
) -> None:
    metered = client.send(_request("gpt-4o-mini@no-usage"))
    assert metered.status == "complete" and metered.input_estimated and metered.output_estimated
    assert metered.usage.prompt_tokens == metered.estimate.tokens
    assert (
        metered.usage.completion_tokens
        == TokenCounter().count_text("gpt-4o-mini", metered.text).tokens
    )
    assert {r.context for r in _rows(db, metered.request_id).values()} == {"message"}


def test_a_rate_limit_before_the_reply_is_retried(db: Database, client: MeteringClient) -> None:
    metered = client.send(_request("gpt-4o-mini@rate-limit-once"))
    assert metered.status == "complete"
    _assert_ledger_exact(db)


@pytest.mark.parametrize(
    ("model", "error", "attempts"),
    [
        ("gpt-4o-mini@rate-limit", RateLimited, 3),
        ("claude-haiku-4-5@overloaded", ProviderOverloaded, 3),
        ("gpt-4o-mini@server-error", ProviderOverloaded, 3),
        ("gemini-2.5-flash@not-found", ModelNotFound, 1),
    ],
)
def test_errors_before_any_reply_charge_nothing(
    db: Database, emulator: Emulator, model: str, error: type[Exception], attempts: int
) -> None:
    api = (
        "anthropic"
        if model.startswith("claude")
        else "gemini"
        if model.startswith("gemini")
        else "compatible"
    )
    with db.write() as session:
        url = emulator.url + ("/v1" if api == "compatible" else "")
        endpoint = registry.add_endpoint(session, "Faulty", url, api=api)
    keys.set_key(endpoint.id, "test-key")
    client = MeteringClient(db, retries=2, backoff=0.01)
    served = emulator.requests_served
    with pytest.raises(error):
        client.send(ChatRequest(endpoint.id, model, HELLO, hooks=Turn(_conversation(db))))
    client.close()
    assert emulator.requests_served - served == attempts
    with db.read() as session:
        request = session.scalars(select(Request)).one()
        assert (request.status, request.hold) == ("failed", 0)
        assert session.scalars(select(Transaction)).all() == []
        assert session.scalars(select(Message).where(Message.deleted_at.is_(None))).all() == []


def test_a_refused_key_is_never_shown(db: Database, emulator: Emulator) -> None:
    with db.write() as session:
        endpoint = registry.add_endpoint(session, "Keyed", emulator.url + "/v1")
    keys.set_key(endpoint.id, SENTINEL)
    client = MeteringClient(db)
    with pytest.raises(AuthenticationFailed) as refused:
        client.send(ChatRequest(endpoint.id, "gpt-4o-mini@auth", HELLO))
    client.close()
    assert SENTINEL not in str(refused.value) and "[redacted]" in str(refused.value)


def test_a_missing_key_sends_nothing(
    db: Database, client: MeteringClient, emulator: Emulator
) -> None:
    with db.write() as session:
        endpoint = registry.add_endpoint(session, "Needs key", emulator.url + "/v1")
    with pytest.raises(MissingKey, match="No API key for Needs key"):
        client.send(ChatRequest(endpoint.id, "gpt-4o-mini", HELLO))
    assert emulator.requests_served == 0


def test_a_slow_provider_times_out_before_the_reply(db: Database) -> None:
    client = MeteringClient(db, retries=0, timeout=httpx2.Timeout(0.5))
    with pytest.raises(ProviderUnreachable, match="did not answer in time"):
        client.send(_request("gpt-4o-mini@slow-start"))
    client.close()


def test_balance_refusal_sends_nothing(
    db: Database, client: MeteringClient, emulator: Emulator
) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True)
        entries.add_credits(session, Decimal(1))
        endpoint = registry.add_endpoint(session, "Counted", emulator.url + "/v1")
    keys.set_key(endpoint.id, "test-key")
    with pytest.raises(InsufficientBalance) as refused:
        client.send(ChatRequest(endpoint.id, "gpt-4o", HELLO))
    assert refused.value.available == 1
    assert emulator.requests_served == 0


def test_credits_held_by_a_request_in_flight_cannot_be_spent_twice(
    db: Database, client: MeteringClient
) -> None:
    prompt_cost = client.quote(_request("gpt-4o@slow")).prompt_cost
    with db.write() as session:
        balance.configure(session, enabled=True)
        entries.add_credits(session, prompt_cost + prompt_cost / 2)
    first = client.stream(_request("gpt-4o@slow"))
    next(first)  # in flight: its prompt cost is held
    with pytest.raises(InsufficientBalance, match="held by requests in flight"):
        client.send(_request("gpt-4o@slow"))
    first.close()
    _assert_ledger_exact(db)


def test_context_window_refusal_and_trimming(
    db: Database, client: MeteringClient, emulator: Emulator
) -> None:
    history = [ChatMessage("system", "Be brief.")]
    for turn in range(40):
        history += [
            ChatMessage("user", f"question {turn} " * 120),
            ChatMessage("assistant", f"answer {turn} " * 120),
        ]
    history.append(ChatMessage("user", "and now?"))
    with pytest.raises(ContextWindowExceeded):
        client.send(ChatRequest("demo", "gpt-3.5-turbo", tuple(history)))
    trimmed = client.send(ChatRequest("demo", "gpt-3.5-turbo", tuple(history), drop_oldest=True))
    quote = client.quote(ChatRequest("demo", "gpt-3.5-turbo", tuple(history), drop_oldest=True))
    assert quote.dropped > 0 and quote.count.tokens <= 16_385
    assert trimmed.usage.prompt_tokens == quote.count.tokens


def test_settling_twice_is_refused(db: Database, client: MeteringClient) -> None:
    metered = client.send(_request())
    spend = entries.Spend("demo", "gpt-4o-mini", metered.usage, client.quote(_request()).rates)
    with pytest.raises(AlreadySettled, match="not pending"), db.write() as session:
        entries.settle(session, metered.request_id, spend)
    _assert_ledger_exact(db)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "o3-pro", "claude-haiku-4-5", "gemini-2.5-flash"])
def test_non_streamed_replies_are_recorded_as_reported(
    db: Database, client: MeteringClient, model: str
) -> None:
    streamed = client.send(_request(model))
    whole = client.send(_request(model), stream=False)
    assert whole.text == streamed.text
    assert whole.usage == streamed.usage
    assert (whole.status, whole.estimated) == ("complete", False)
    _assert_ledger_exact(db)


def test_a_timeout_mid_reply_keeps_what_arrived(db: Database) -> None:
    client = MeteringClient(db, retries=0, timeout=httpx2.Timeout(5.0, read=0.1))
    metered = client.send(_request("gpt-4o-mini@slow"))
    client.close()
    assert metered.status == "incomplete"
    assert isinstance(metered.error, ProviderUnreachable) and "mid-reply" in str(metered.error)
    assert metered.output_estimated
    _assert_ledger_exact(db)


def test_a_failing_alert_check_never_undoes_the_charge(
    db: Database, client: MeteringClient, caplog: pytest.LogCaptureFixture
) -> None:
    with db.write() as session:  # a hand-edited setting the alert check cannot read
        settings.put(session, alerts.LOW_BALANCE_KEY, "not a number")
    metered = client.send(_request())
    assert metered.status == "complete" and metered.alerts == ()
    assert "checking the alerts after request" in caplog.text
    assert metered.cost == -sum(r.token_value for r in _rows(db, metered.request_id).values())
    _assert_ledger_exact(db)
