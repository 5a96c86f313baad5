"""Against a real OpenAI-compatible server that no one here wrote: llama-cpp-python + SmolLM2.

Its streams carry no usage (even with ``stream_options.include_usage``): the ledger must still be
right and marked estimated. Its non-streamed answers carry usage: recorded as reported.
``eval "$(packaging/setup-llama-server.sh)"`` prepares the server (about 5 minutes, once); CI
does, and sets TALLYBOOK_REQUIRE_LLAMA=1 so this can never be skipped there.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from app.core.counting.tokens import TokenCounter
from app.core.ledger import entries
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, MeteringClient
from app.core.pricing.prices import DEFAULT_SOURCE
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.storage.models import Transaction

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m"
PROMPT = (ChatMessage("user", "Say hello in five words."),)


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python, model = (
        os.environ.get("TALLYBOOK_LLAMA_PYTHON"),
        os.environ.get("TALLYBOOK_LLAMA_MODEL"),
    )
    if not python or not model:
        if os.environ.get("TALLYBOOK_REQUIRE_LLAMA"):
            pytest.fail("TALLYBOOK_REQUIRE_LLAMA is set but the llama server is not prepared")
        pytest.skip(
            'no llama server here: eval "$(packaging/setup-llama-server.sh)" to prepare one'
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with Path(log).open("w") as output:
        server = subprocess.Popen(
            [
                python,
                "-m",
                "llama_cpp.server",
                "--model",
                model,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--seed",
                "7",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx2.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the llama server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def client(db: Database, llama_url: str) -> Iterator[MeteringClient]:
    with db.write() as session:
        registry.add_endpoint(session, "llama", f"{llama_url}/v1", needs_key=False)
    metering = MeteringClient(db)
    yield metering
    metering.close()


def _transactions(db: Database, request_id: int) -> dict[str, Transaction]:
    with db.read() as session:
        rows = session.scalars(
            select(Transaction).where(Transaction.request_id == request_id)
        ).all()
        session.expunge_all()
    return {row.token_type: row for row in rows}


def test_a_stream_without_usage_is_counted_locally_and_marked_estimated(
    db: Database, client: MeteringClient
) -> None:
    metered = client.send(ChatRequest("custom-llama", MODEL, PROMPT, max_tokens=16))
    assert metered.status == "complete" and metered.error is None
    assert metered.text.strip()
    assert metered.input_estimated and metered.output_estimated
    assert metered.usage.prompt_tokens == TokenCounter().count_chat(MODEL, PROMPT).tokens
    assert metered.usage.completion_tokens == TokenCounter().count_text(MODEL, metered.text).tokens
    rows = _transactions(db, metered.request_id)
    assert rows["prompt"].estimated and rows["completion"].estimated
    assert rows["prompt"].rate_source == DEFAULT_SOURCE  # an unknown model is flagged, never free
    assert (
        rows["completion"].token_value == -metered.usage.completion_tokens * rows["completion"].rate
    )
    with db.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session)


def test_a_non_streamed_answer_is_recorded_as_reported(
    db: Database, client: MeteringClient, llama_url: str
) -> None:
    direct = httpx2.post(
        f"{llama_url}/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": [m.to_openai() for m in PROMPT],
            "max_tokens": 16,
            "seed": 7,
            "temperature": 0,
        },
        timeout=60,
    ).json()["usage"]
    metered = client.send(ChatRequest("custom-llama", MODEL, PROMPT, max_tokens=16), stream=False)
    assert not metered.input_estimated and not metered.output_estimated
    assert metered.usage.prompt_tokens == direct["prompt_tokens"]  # the server's own tokenizer
    rows = _transactions(db, metered.request_id)
    assert -rows["prompt"].raw_amount == direct["prompt_tokens"]
    assert not rows["prompt"].estimated and not rows["completion"].estimated
    assert -rows["completion"].raw_amount == metered.usage.completion_tokens > 0
