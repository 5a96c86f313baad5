"""The local metering endpoint, driven by the official openai and anthropic SDKs as real clients.

Every test runs a real Gateway on 127.0.0.1 in front of the offline demo (the emulator, over
HTTP), and checks what the SDK got against what the ledger recorded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest
from sqlalchemy import select

from app.core import conversations, keys, redaction
from app.core.errors import InvalidSetting
from app.core.ledger import alerts, balance, entries
from app.core.metering.client import MeteringClient
from app.core.providers import registry
from app.core.storage import settings
from app.core.storage.db import Database
from app.core.storage.models import Conversation, Request, Transaction
from app.servers.emulator import Emulator
from app.servers.gateway import Gateway, Settlement, Upstreams, access_token, renew_access_token
from app.servers.gateway import config as endpoint_config
from app.servers.gateway.sources import tool_from_user_agent

HELLO = [{"role": "user", "content": "Hello through the local endpoint"}]


@pytest.fixture
def settled() -> list[Settlement]:
    return []


@pytest.fixture
def gateway(db: Database, settled: list[Settlement]) -> Iterator[Gateway]:
    client = MeteringClient(db, retries=0)
    server = Gateway(
        db,
        client,
        token=access_token(),
        upstreams=Upstreams.demo(),
        port=0,
        on_settled=settled.append,
    )
    with server:
        yield server
    client.close()


@pytest.fixture
def oai(gateway: Gateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=gateway.token, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def claude(gateway: Gateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.url, api_key=gateway.token, max_retries=0) as sdk:
        yield sdk


def _spend(db: Database) -> dict[str, int]:
    """Tokens per type over the whole ledger (positive), spend rows only."""
    with db.read() as session:
        rows = session.scalars(select(Transaction).where(Transaction.token_type != "credits"))
        totals: dict[str, int] = {}
        for row in rows:
            totals[row.token_type] = totals.get(row.token_type, 0) - int(row.raw_amount)
        return totals


def _sources(db: Database) -> set[str]:
    """The sources of the conversations that have spend."""
    with db.read() as session:
        charged = select(Transaction.conversation_id).where(Transaction.token_type != "credits")
        return set(session.scalars(select(Conversation.source).where(Conversation.id.in_(charged))))


def _assert_exact(db: Database) -> None:
    with db.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session)
        assert entries.pending_holds(session) == 0


def test_chat_completions_non_streamed(
    db: Database, oai: openai.OpenAI, settled: list[Settlement]
) -> None:
    reply = oai.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    assert reply.usage is not None
    assert _spend(db) == {
        "prompt": reply.usage.prompt_tokens,
        "completion": reply.usage.completion_tokens,
    }
    assert _sources(db) == {"openai-python"}
    [done] = settled
    assert (done.source, done.metered.status, done.metered.estimated) == (
        "openai-python",
        "complete",
        False,
    )
    assert done.metered.cost > 0 and done.alerts == ()
    _assert_exact(db)


def test_chat_completions_streamed_without_asking_for_usage(
    db: Database, oai: openai.OpenAI
) -> None:
    """Tallybook asks the provider for usage; a tool that did not ask never sees that chunk."""
    chunks = list(
        oai.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)  # type: ignore[arg-type]
    )
    assert all(chunk.choices for chunk in chunks)  # no empty-choices usage chunk
    assert all(chunk.usage is None for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text
    spent = _spend(db)
    assert spent["prompt"] > 0 and spent["completion"] > 0
    with db.read() as session:
        request = session.scalars(select(Request)).one()
        assert (request.status, request.usage_estimated) == ("complete", False)
    _assert_exact(db)


def test_chat_completions_streamed_with_usage(db: Database, oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    assert _spend(db) == {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens}


def test_responses_api_streamed_and_not(db: Database, oai: openai.OpenAI) -> None:
    reply = oai.responses.create(model="gpt-4o-mini", input="Hello, Responses")
    assert reply.output_text and reply.usage is not None
    first = {"prompt": reply.usage.input_tokens, "completion": reply.usage.output_tokens}
    assert _spend(db) == first

    with oai.responses.stream(model="gpt-4o-mini", input="Hello again, Responses") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text
    assert final.usage is not None
    assert _spend(db) == {
        "prompt": first["prompt"] + final.usage.input_tokens,
        "completion": first["completion"] + final.usage.output_tokens,
    }
    _assert_exact(db)


def test_anthropic_messages_streamed_and_not(
    db: Database, claude: anthropic.Anthropic, settled: list[Settlement]
) -> None:
    reply = claude.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=HELLO)  # type: ignore[arg-type]
    assert reply.content[0].type == "text" and reply.content[0].text
    first = {"prompt": reply.usage.input_tokens, "completion": reply.usage.output_tokens}
    assert _spend(db) == first

    with claude.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=200,
        messages=HELLO,  # type: ignore[arg-type]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens > 0
    assert _spend(db) == {
        "prompt": first["prompt"] + final.usage.input_tokens,
        "completion": first["completion"] + final.usage.output_tokens,
    }
    assert _sources(db) == {"anthropic-python"}
    assert [done.source for done in settled] == ["anthropic-python"] * 2
    _assert_exact(db)


@pytest.mark.parametrize("key", ["tb-local-wrong", "Bearer", "a-provider-key-not-the-token"])
def test_without_the_token_nothing_is_sent_or_charged(
    db: Database, gateway: Gateway, key: str
) -> None:
    with (
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError, match="access token"),
    ):
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]
    with (
        anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0) as claude_sdk,
        pytest.raises(anthropic.AuthenticationError, match="access token"),
    ):
        claude_sdk.messages.create(model="claude-haiku-4-5", max_tokens=9, messages=HELLO)  # type: ignore[arg-type]
    bare = httpx2.post(
        gateway.url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO}
    )
    assert bare.status_code == 401 and "access token" in bare.text
    with db.read() as session:
        assert session.scalars(select(Request)).all() == []
        assert session.scalars(select(Conversation)).all() == []


def test_the_token_lives_in_the_key_store_and_can_be_renewed(gateway: Gateway) -> None:
    stored = keys.get_key("local-endpoint")
    assert stored is not None and stored.secret == gateway.token == access_token()
    assert gateway.token.startswith("tb-local-") and len(gateway.token) > 40
    renewed = renew_access_token()
    assert renewed != gateway.token and access_token() == renewed
    assert gateway.token not in redaction.redact(f"token {gateway.token}")


def test_insufficient_balance_is_refused_with_402_before_sending(
    db: Database, oai: openai.OpenAI
) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True)
        entries.add_credits(session, Decimal(1))
    with pytest.raises(openai.APIStatusError, match="balance") as refused:
        oai.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert refused.value.status_code == 402
    assert _spend(db) == {}
    _assert_exact(db)


def test_a_blocking_budget_reached_is_refused_with_402_before_sending(
    db: Database, oai: openai.OpenAI
) -> None:
    with db.write() as session:
        alerts.add_budget(session, "day", Decimal(1), block=True)  # one credit a day
    oai.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    spent = _spend(db)
    with pytest.raises(openai.APIStatusError, match="budget") as refused:
        oai.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert refused.value.status_code == 402
    assert _spend(db) == spent  # nothing more was charged


def test_a_tools_spend_raises_alerts_like_the_chat_windows(
    db: Database, oai: openai.OpenAI, settled: list[Settlement]
) -> None:
    with db.write() as session:
        entries.add_credits(session, Decimal(1_000))
        alerts.set_low_balance_threshold(session, Decimal(999))
    oai.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert [alert.key for alert in settled[0].alerts] == ["low-balance"]
    oai.chat.completions.create(model="gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert settled[1].alerts == ()  # raised once


def test_a_tool_names_itself_with_a_header(db: Database, gateway: Gateway) -> None:
    headers = {
        "Authorization": f"Bearer {gateway.token}",
        "X-Tallybook-Source": "my\x1b[31m script",
    }
    body = {"model": "gpt-4o-mini", "messages": HELLO}
    answer = httpx2.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)
    assert answer.status_code == 200
    assert Decimal(answer.headers["x-tallybook-cost-usd"]) > 0
    assert answer.headers["x-tallybook-estimated"] == "false"
    assert _sources(db) == {"my[31m script"}  # control characters dropped


def test_a_tool_cannot_pose_as_the_chat_window(db: Database, gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.token}", "X-Tallybook-Source": "Chat"}
    body = {"model": "gpt-4o-mini", "messages": HELLO}
    httpx2.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)
    assert _sources(db) == {conversations.CHAT_IMPOSTOR}


@pytest.mark.parametrize(
    ("agent", "tool"),
    [
        ("OpenAI/Python 3.1.0", "openai-python"),
        ("Anthropic/Python 1.2.0", "anthropic-python"),
        ("curl/8.5.0", "curl"),
        ("Zed/0.150 (linux)", "zed"),
        ("", "unknown tool"),
    ],
)
def test_tool_names_from_user_agents(agent: str, tool: str) -> None:
    assert tool_from_user_agent(agent) == tool


def test_a_tool_that_hangs_up_mid_stream_is_charged_once_for_what_arrived(
    db: Database, gateway: Gateway
) -> None:
    with Emulator(chunk_delay=0.02) as slow:
        with db.write() as session:
            endpoint = registry.add_endpoint(session, "Slow", slow.url + "/v1")
        keys.set_key(endpoint.id, "test-key-for-the-slow-endpoint")
        headers = {
            "Authorization": f"Bearer {gateway.token}",
            "X-Tallybook-Endpoint": endpoint.id,
        }
        prompt = "Please write a long answer " * 40
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
        }
        with httpx2.stream(
            "POST", gateway.url + "/v1/chat/completions", json=body, headers=headers
        ) as answer:
            assert answer.status_code == 200
            for line in answer.iter_lines():
                if '"content"' in line:
                    break  # the tool hangs up after the first words
        _wait_for_settled_request(db)
    with db.read() as session:
        request = session.scalars(select(Request)).one()
        assert request.status == "incomplete"
    spent = _spend(db)
    assert spent["prompt"] > 200 and 0 < spent["completion"] < 200
    _assert_exact(db)


def test_stopping_mid_stream_charges_what_arrived_before_it_returns(
    db: Database, gateway: Gateway
) -> None:
    """The app closing while a tool streams: the reply is settled before the ledger closes."""
    with Emulator(chunk_delay=0.02) as slow:
        with db.write() as session:
            endpoint = registry.add_endpoint(session, "Slow", slow.url + "/v1")
        keys.set_key(endpoint.id, "test-key-for-the-slow-endpoint")
        headers = {"Authorization": f"Bearer {gateway.token}", "X-Tallybook-Endpoint": endpoint.id}
        words = [{"role": "user", "content": "/words 400"}]
        body = {"model": "gpt-4o-mini", "messages": words, "stream": True}
        started = threading.Event()

        def tool() -> None:
            with (
                contextlib.suppress(httpx2.HTTPError),
                httpx2.stream(
                    "POST", gateway.url + "/v1/chat/completions", json=body, headers=headers
                ) as answer,
            ):
                for line in answer.iter_lines():
                    if '"content"' in line:
                        started.set()

        caller = threading.Thread(target=tool)
        caller.start()
        assert started.wait(10)
        gateway.stop()
        with db.read() as session:
            assert set(session.scalars(select(Request.status))) == {"incomplete"}
        caller.join(10)
    _assert_exact(db)


def _wait_for_settled_request(db: Database) -> None:
    done = threading.Event()
    for _ in range(200):
        with db.read() as session:
            statuses = set(session.scalars(select(Request.status)))
        if statuses and "pending" not in statuses:
            done.set()
            break
        done.wait(0.05)
    assert done.is_set(), "the hung-up request was never settled"


def test_models_are_listed_for_each_protocol(
    gateway: Gateway, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    assert "gpt-4o-mini" in {m.id for m in oai.models.list()}
    assert any(m.id.startswith("claude") for m in claude.models.list())


def test_an_unknown_path_and_a_bad_body_are_clear_errors(db: Database, gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.token}"}
    missing = httpx2.post(gateway.url + "/v1/embeddings", json={}, headers=headers)
    assert missing.status_code == 404 and "/v1/chat/completions" in missing.text
    broken = httpx2.post(
        gateway.url + "/v1/chat/completions", content=b"{not json", headers=headers
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.text
    with db.read() as session:
        assert session.scalars(select(Request)).all() == []


def test_refuses_a_non_loopback_address_unless_told(db: Database) -> None:
    client = MeteringClient(db)
    with pytest.raises(ValueError, match="serves only this machine"):
        Gateway(db, client, token="t", host="0.0.0.0", port=0)
    with Gateway(db, client, token="t", host="0.0.0.0", port=0, allow_remote=True) as open_one:
        assert open_one.port > 0
    client.close()


def test_settings_round_trip_and_fall_back_when_damaged(db: Database) -> None:
    with db.write() as session:
        assert endpoint_config.load(session) == endpoint_config.EndpointConfig()
        wanted = endpoint_config.EndpointConfig(True, 9000, Upstreams.demo())
        endpoint_config.save(session, wanted)
        assert endpoint_config.load(session) == wanted
        with pytest.raises(InvalidSetting, match="port"):
            endpoint_config.save(session, endpoint_config.EndpointConfig(port=70_000))
        with pytest.raises(InvalidSetting, match="no endpoint 'nowhere'"):
            endpoint_config.save(
                session, endpoint_config.EndpointConfig(upstreams=Upstreams("nowhere"))
            )
        settings.put(session, endpoint_config.KEY, {"enabled": "yes", "port": True, "openai": 3})
        assert endpoint_config.load(session) == endpoint_config.EndpointConfig()
