"""The HTTP side of the emulator: a standard-library threaded server, routing, chunked streams.

Normal answers carry ``Content-Length`` and keep the connection alive, as the providers' do; event
streams use chunked transfer encoding, one chunk per event, so a client sees each event as soon
as it is written. The faults that act on the connection live here: ``slow-start`` holds the
headers back, ``slow`` spaces events out, ``malformed`` slips in one torn event, and ``cut``
drops the connection half way, without the terminating chunk, so clients see a broken body.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from app.core.counting.tokens import TokenCounter
from app.servers.emulator import admin, anthropic, gemini, openai
from app.servers.emulator.faults import (
    FAULT_HEADER,
    FAULTS,
    SLOW_DELAY,
    SLOW_START_DELAY,
    FaultState,
)
from app.servers.emulator.replies import Replies
from app.servers.emulator.served import Served
from app.servers.emulator.wire import Call, EmulatorState
from app.servers.local_http import BodyTooLarge, LocalHandler, LocalServer
from app.servers.wire import (
    Answer,
    Event,
    Failure,
    JsonAnswer,
    StreamAnswer,
    dumps,
    format_event,
    openai_error,
)

logger = logging.getLogger(__name__)


class _Handler(LocalHandler):
    """Routes each request and writes its answer, faults included."""

    server_version = "TallybookEmulator/1"

    @property
    def emulator(self) -> Emulator:
        return cast(Emulator, self.owner)

    def serve(self) -> None:
        emulator = self.emulator
        emulator.count_request()
        try:
            body = self.read_body()
        except BodyTooLarge as error:
            self.close_connection = True
            self._send(openai_error(_failure(400, str(error))), emulator)
            return
        emulator.record_body(body)
        parts = urlsplit(self.path)
        call = Call(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        try:
            answer = route(emulator.state, call)
        except Exception as error:  # a bug here must still answer, as a provider's 500 would
            logger.exception("the emulator failed on %s %s", call.method, call.path)
            answer = openai_error(_failure(500, f"The emulator failed: {error!r}"))
        try:
            self._send(answer, emulator)
        except OSError:  # the client went away (or was dropped on purpose)
            self.close_connection = True

    def _send(self, answer: Answer, emulator: Emulator) -> None:
        if answer.fault == "slow-start" and emulator.stopping.wait(SLOW_START_DELAY):
            self.drop()
            return
        if isinstance(answer, JsonAnswer):
            self._send_json(answer)
        else:
            self._send_stream(answer, emulator)

    def _send_json(self, answer: JsonAnswer) -> None:
        payload = dumps(answer.body).encode()
        if answer.fault == "malformed":
            payload = payload[: len(payload) // 2]
        if answer.fault != "cut":
            self.send_json(answer.status, payload, dict(answer.headers))
            return
        self.send_head(answer.status, "application/json", dict(answer.headers))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        self.drop()

    def _send_stream(self, answer: StreamAnswer, emulator: Emulator) -> None:
        self.start_event_stream(dict(answer.headers))
        events = list(answer.events)
        if answer.fault == "malformed" and events:
            middle = events[len(events) // 2]
            torn = middle.data[: len(middle.data) // 2] if middle.data.startswith("{") else ""
            events.insert(len(events) // 2, Event(torn or '{"choices": [', middle.name))
        cut_at = len(events) // 2 if answer.fault == "cut" else None
        delay = SLOW_DELAY if answer.fault == "slow" else emulator.chunk_delay
        for index, event in enumerate(events):
            if index == cut_at:
                self.drop()
                return
            if index and delay > 0 and emulator.stopping.wait(delay):
                self.drop()
                return
            self.write_chunk(format_event(event, answer.line_end).encode())
        self.end_chunks()


class Emulator(LocalServer):
    """A local stand-in for the OpenAI, Anthropic and Gemini APIs (see the package docstring).

    Serves on ``host:port`` (port 0 picks a free one) from a daemon thread after :meth:`start`,
    or in the calling thread with :meth:`serve_forever`. ``chunk_delay`` spaces the events of a
    stream. A non-loopback ``host`` needs ``allow_remote=True``: the demo takes any key and is
    not meant to be reachable from other machines.
    """

    purpose = "The emulator"
    handler = _Handler

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        chunk_delay: float = 0.0,
        allow_remote: bool = False,
        outside: Iterable[Served] = (),
    ) -> None:
        super().__init__(host, port, allow_remote=allow_remote)
        if chunk_delay < 0:
            raise ValueError(f"chunk_delay must not be negative, not {chunk_delay!r}")
        self.chunk_delay = chunk_delay
        self.state = EmulatorState(Replies(TokenCounter()), FaultState())
        for usage in outside:  # spend the provider saw that the ledger did not (another tool)
            self.state.served.add(usage)
        self._lock = threading.Lock()
        self._served = 0
        self._bodies: list[bytes] = []

    @property
    def received_bodies(self) -> list[bytes]:
        """Every request body received so far (tests check what reached the "provider")."""
        with self._lock:
            return list(self._bodies)

    def record_body(self, body: bytes) -> None:
        """Called by the handler with each request's body."""
        with self._lock:
            self._bodies.append(body)

    @property
    def requests_served(self) -> int:
        """HTTP requests received so far, answered or refused (retry tests count them)."""
        with self._lock:
            return self._served

    def count_request(self) -> None:
        """Called by the handler for every request."""
        with self._lock:
            self._served += 1

    def start(self) -> Emulator:
        """Serve from a daemon thread; returns ``self``."""
        super().start()
        return self

    def __enter__(self) -> Emulator:
        return self.start()


def route(state: EmulatorState, call: Call) -> Answer:
    """The answer to a request, by method, path and (for ``GET /v1/models``) headers."""
    path = call.path.rstrip("/") or "/"
    gemini_path = any(path.startswith(f"{prefix}/") for prefix in gemini.PREFIXES)
    if (records := admin.route(state, call)) is not None:
        return records
    if (billing := _billing(state, call)) is not None:
        return billing
    if call.method == "POST":
        if path == "/v1/chat/completions":
            return openai.handle(state, call, openai.chat_completions)
        if path == "/v1/responses":
            return openai.handle(state, call, openai.responses)
        if path == "/v1/messages":
            return anthropic.handle(state, call, anthropic.create_message)
        if path == "/v1/messages/count_tokens":
            return anthropic.handle(state, call, anthropic.count_tokens)
        if gemini_path:
            method = gemini.model_action(call)[1]
            if method in ("generateContent", "streamGenerateContent"):
                return gemini.handle(state, call, gemini.generate)
            if method == "countTokens":
                return gemini.handle(state, call, gemini.count_tokens)
    elif call.method == "GET":
        if path == "/":
            return JsonAnswer(200, _index())
        google = call.header("x-goog-api-key") or call.param("key")
        if path == "/v1beta/models" or (path == "/v1/models" and google):
            return gemini.handle(state, call, gemini.list_models)
        if gemini_path and ":" not in path and (path.startswith("/v1beta/") or google):
            return gemini.handle(state, call, gemini.get_model)
        if path == "/v1/models" or path.startswith("/v1/models/"):
            # Both OpenAI and Anthropic list models here; Anthropic's clients send a version.
            module: Any = anthropic if call.header("anthropic-version") else openai
            endpoint = module.list_models if path == "/v1/models" else module.get_model
            handled: Answer = module.handle(state, call, endpoint)
            return handled
    return openai_error(_failure(404, f"Invalid URL ({call.method} {call.path})"))


def _billing(state: EmulatorState, call: Call) -> Answer | None:
    """OpenRouter's paths (its chats and records) and the providers' balances, if asked for."""
    from app.servers.emulator import balances, openrouter

    return openrouter.route(state, call) or balances.route(state, call)


def _failure(status: int, message: str) -> Failure:
    return Failure(status, "invalid" if status < 500 else "server", message)


def _index() -> dict[str, Any]:
    return {
        "name": "Tallybook offline demo provider",
        "endpoints": [
            "POST /v1/chat/completions",
            "POST /v1/responses",
            "GET /v1/models",
            "POST /v1/messages",
            "POST /v1/messages/count_tokens",
            "POST /v1beta/models/{model}:generateContent (also under /v1/models)",
            "POST /v1beta/models/{model}:streamGenerateContent?alt=sse",
            "POST /v1beta/models/{model}:countTokens",
            "GET /v1beta/models",
        ],
        "faults": {"header": FAULT_HEADER, "or model suffix": "@<fault>", "kinds": list(FAULTS)},
    }
