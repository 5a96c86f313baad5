"""A provider that repeats the caller's key back in every place a careless one might.

The echoing server reads the key from the request's ``Authorization`` header and puts it in an
error body of each status, in an error event in the middle of a stream, in a response header,
in the reply's text (split across two deltas, as a model would stream it), and in its usage
object. Whatever path the reply takes (the metering client, ``tallybook chat``, the window, the
local endpoint relaying to a tool), the key must appear nowhere: not in what is shown, printed,
stored, logged or forwarded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pytestqt.qtbot import QtBot

from app.core import conversations, keys
from app.core.chats import Turn
from app.core.errors import ProviderError
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, Metered, MeteringClient
from app.core.providers import registry
from app.core.providers.registry import Endpoint
from app.core.storage.db import Database
from app.servers.gateway import Gateway, Upstreams, access_token
from app.ui.chat import ChatView
from app.ui.context import AppContext
from app.ui.errors import describe
from tests.support.memory_keyring import MemoryKeyring
from tests.support.replay_server import Answer, Recorded, ReplayServer, replay_server

ROOT = Path(__file__).resolve().parent.parent
KEY = "careless-vendor-SECRET-7f3a9c1e5b2d8f4a6c0e"
"""Not shaped like any provider's key: only the list of loaded keys can catch it."""
MODES = ("error-400", "error-401", "error-500", "stream-error", "text", "json")


def echo(request: Recorded) -> Answer:
    """The careless provider: the mode is the model's name."""
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    mode = (request.body or {}).get("model", "")
    headers = {"X-Echo-Authorization": f"Bearer {key}"}
    if mode.startswith("error-"):
        status = int(mode.removeprefix("error-"))
        return Answer(
            status, {"error": {"message": f"Incorrect API key provided: {key}."}}, headers=headers
        )
    half = len(key) // 2
    usage = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14, "echo": key}
    if mode == "json":
        body = {
            "model": mode,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": f"Your key is {key}."}}
            ],
            "usage": usage,
        }
        return Answer(json_body=body, headers=headers)
    chunks: list[tuple[str | None, Any]] = [
        (
            None,
            {
                "model": mode,
                "choices": [{"index": 0, "delta": {"content": f"Your key is {key[:half]}"}}],
            },
        ),
        (
            None,
            {
                "model": mode,
                "choices": [{"index": 0, "delta": {"content": f"{key[half:]}, you said."}}],
            },
        ),
    ]
    if mode == "stream-error":
        chunks.append((None, {"error": {"message": f"Quota exceeded for key {key}", "code": 429}}))
    else:
        chunks += [
            (
                None,
                {"model": mode, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            ),
            (None, {"model": mode, "choices": [], "usage": usage}),
        ]
    return Answer(events=[*chunks, (None, "[DONE]")], headers=headers)


@pytest.fixture
def careless() -> Iterator[ReplayServer]:
    with replay_server() as server:
        server.answer = echo
        yield server


@pytest.fixture
def endpoint(db: Database, careless: ReplayServer, memory_keyring: MemoryKeyring) -> Endpoint:
    with db.write() as session:
        added = registry.add_endpoint(session, "Careless vendor", careless.url + "/v1")
    keys.set_key(added.id, KEY)
    return added


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text), text
        assert KEY[: len(KEY) // 2] not in str(text), text


def ledger_bytes(db: Database) -> bytes:
    return b"".join(p.read_bytes() for p in db.path.parent.glob(db.path.name + "*"))


def request(endpoint: Endpoint, db: Database, mode: str) -> ChatRequest:
    with db.write() as session:
        conversation = conversations.create_conversation(session, title=mode).id
    return ChatRequest(endpoint.id, mode, (ChatMessage("user", "hi"),), hooks=Turn(conversation))


@pytest.mark.parametrize("mode", MODES)
def test_the_metering_client_scrubs_every_text_the_provider_sent(
    db: Database, endpoint: Endpoint, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = MeteringClient(db, retries=0)
    shown: list[object] = []
    try:
        items: list[object] = []
        try:
            items = list(client.stream(request(endpoint, db, mode)))
        except ProviderError as error:
            shown.append(error)
        for item in items:
            shown.append(item.text if not isinstance(item, Metered) else item)
            if isinstance(item, Metered):
                shown += [item.text, item.error, item.usage_notes]
        if mode == "json":
            shown.append(client.send(request(endpoint, db, mode), stream=False).text)
    finally:
        client.close()
    assert shown
    assert_no_key(*shown, caplog.text)
    assert KEY.encode() not in ledger_bytes(db)
    if mode == "text":
        assert "Your key is [redacted], you said." in str(shown[-3])


def test_tallybook_chat_prints_no_key(tmp_path: Path, careless: ReplayServer) -> None:
    database = Database(tmp_path / "tallybook.sqlite3")
    with database.write() as session:
        added = registry.add_endpoint(session, "Careless vendor", careless.url + "/v1")
    database.close()
    environment = {
        **os.environ,
        "TALLYBOOK_HOME": str(tmp_path),
        "TALLYBOOK_TEST_KEY": KEY,
        "PYTHON_KEYRING_BACKEND": "tests.support.environment_keyring.EnvironmentKeyring",
        "TALLYBOOK_LOG_LEVEL": "DEBUG",
    }
    for mode in ("text", "stream-error", "error-400", "error-401"):
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "main.py"),
                "chat",
                "--provider",
                added.id,
                "--model",
                mode,
                "hi",
            ],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
        )
        assert_no_key(result.stdout, result.stderr)
        if mode == "text":
            assert result.returncode == 0, result.stderr
            assert "Your key is [redacted], you said." in result.stdout
        else:
            assert result.returncode == 1 and "[redacted]" in result.stderr, result.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(KEY.encode() not in p.read_bytes() for p in files)


@pytest.mark.parametrize("mode", ["text", "stream-error", "json", "error-400"])
def test_the_local_endpoint_forwards_no_key_to_the_tool(
    db: Database, endpoint: Endpoint, mode: str
) -> None:
    client = MeteringClient(db, retries=0)
    gateway = Gateway(
        db, client, token=access_token(), upstreams=Upstreams(endpoint.id, endpoint.id), port=0
    )
    streamed = mode != "json"
    try:
        with gateway, httpx2.Client(timeout=30) as tool:
            body = {
                "model": mode,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": streamed,
            }
            answer = tool.post(
                gateway.url + "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {gateway.token}"},
            )
            received = answer.text + json.dumps(dict(answer.headers))
    finally:
        client.close()
    assert_no_key(received)
    if mode == "text":
        assert "Your key is [redacted], you said." in "".join(
            chunk["choices"][0]["delta"].get("content") or ""
            for line in answer.text.splitlines()
            if line.startswith("data: {") and (chunk := json.loads(line[6:]))["choices"]
        )
    if mode == "stream-error":
        assert '"error"' in answer.text and "[redacted]" in answer.text


@pytest.mark.gui
@pytest.mark.parametrize("mode", ["text", "stream-error", "error-401"])
def test_the_window_shows_no_key(qtbot: QtBot, db: Database, endpoint: Endpoint, mode: str) -> None:
    context = AppContext.create(db)
    view = ChatView(context)
    qtbot.addWidget(view)
    try:
        view.show()
        qtbot.waitUntil(lambda: bool(view.composer.picker.choices()), timeout=5_000)
        view.set_selection(endpoint.id, mode)
        view.composer.set_text("hi")
        with qtbot.waitSignal(
            view.busy_changed, check_params_cb=lambda busy: not busy, timeout=10_000
        ):
            view.composer.send_button.click()
        qtbot.waitUntil(lambda: not view.is_busy(), timeout=10_000)
        shown = [view.errors.text()] + [
            m.text() + m.footer_text() + m.body.toPlainText() for m in view.messages()
        ]
        assert_no_key(*shown)
        if mode == "text":
            assert "[redacted]" in view.messages()[-1].text()
        else:
            assert "[redacted]" in view.errors.text(), view.errors.text()
            assert view.errors.text() != describe(ProviderError(""))
    finally:
        view.stop()
        view.close()
        context.close()
