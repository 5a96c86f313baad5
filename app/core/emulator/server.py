"""The HTTP side of the emulator: a standard-library threaded server, routing, chunked streams.

Normal answers carry ``Content-Length`` and keep the connection alive, as the providers' do; event
streams use chunked transfer encoding, one chunk per event, so a client sees each event as soon
as it is written. The faults that act on the connection live here: ``slow-start`` holds the
headers back, ``slow`` spaces events out, ``malformed`` slips in one torn event, and ``cut``
drops the connection half way, without the terminating chunk, so clients see a broken body.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from app.core.emulator import anthropic, gemini, openai
from app.core.emulator.faults import (
    FAULT_HEADER,
    FAULTS,
    SLOW_DELAY,
    SLOW_START_DELAY,
    Failure,
    FaultState,
)
from app.core.emulator.replies import Replies
from app.core.emulator.wire import (
    Answer,
    Call,
    Context,
    Event,
    JsonAnswer,
    StreamAnswer,
    dumps,
)
from app.core.tokens import TokenCounter

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
IDLE_TIMEOUT = 120.0  # seconds a kept-alive connection may sit idle


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Emulator:
    """A local stand-in for the OpenAI, Anthropic and Gemini APIs (see the package docstring).

    Serves on ``host:port`` (port 0 picks a free one) from a daemon thread after :meth:`start`,
    or in the calling thread with :meth:`serve_forever`. ``chunk_delay`` spaces the events of a
    stream. A non-loopback ``host`` needs ``allow_remote=True``: the demo takes any key and is
    not meant to be reachable from other machines.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        chunk_delay: float = 0.0,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"The emulator serves only this machine (127.0.0.1, ::1, localhost), not {host!r};"
                " pass allow_remote=True to serve others."
            )
        if chunk_delay < 0:
            raise ValueError(f"chunk_delay must not be negative, not {chunk_delay!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 to 65535, not {port!r}")
        self.host = host.strip().strip("[]")
        self.chunk_delay = chunk_delay
        self.context = Context(Replies(TokenCounter()), FaultState())
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopping = threading.Event()
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

    @property
    def stopping(self) -> threading.Event:
        """Set by :meth:`stop`: delays and waits end early."""
        return self._stopping

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        if self._server is None:
            if self._port:
                return self._port
            raise RuntimeError("The emulator is not started yet; call start() first.")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash, no ``/v1``)."""
        host = self.host
        if self._server is not None:
            host = str(self._server.server_address[0])
        if host in ("", "0.0.0.0"):  # noqa: S104 - a wildcard bind is reached through loopback
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def _bind(self) -> _Server:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server((self.host, self._port), self)
        return self._server

    def start(self) -> Emulator:
        """Serve from a daemon thread; returns ``self`` (calling it again changes nothing)."""
        server = self._bind()
        if not self._serving:
            self._serving = True
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"tallybook-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` is called from another (for the CLI)."""
        server = self._bind()
        self._serving = True
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving, end open connections and free the port."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        if self._serving:
            server.shutdown()
        self._close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _close(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.close_connections()
        server.server_close()
        self._server = None
        self._serving = False

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    """One emulator's listening socket, with the connections it has open."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Shut every open connection, waking handlers blocked on reads."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is normal here; anything else is logged, not printed."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            logger.debug("emulator connection from %s ended: %r", client_address, error)
        else:
            logger.error("emulator failed serving %s", client_address, exc_info=error)


class _Handler(BaseHTTPRequestHandler):
    """Reads one request at a time, routes it, and writes its answer."""

    protocol_version = "HTTP/1.1"
    server_version = "TallybookEmulator/1"
    timeout = IDLE_TIMEOUT

    @property
    def emulator(self) -> Emulator:
        return cast(_Server, self.server).emulator

    def setup(self) -> None:
        super().setup()
        server = cast(_Server, self.server)
        with server.connections_lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        server = cast(_Server, self.server)
        with server.connections_lock:
            server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator: " + format, *args)

    def _serve(self) -> None:
        emulator = self.emulator
        emulator.count_request()
        try:
            body = self._read_body()
        except ValueError as error:
            self.close_connection = True
            self._send(openai.error_answer(_failure(400, str(error))), emulator)
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
            answer = route(emulator.context, call)
        except Exception as error:  # a bug here must still answer, as a provider's 500 would
            logger.exception("the emulator failed on %s %s", call.method, call.path)
            answer = openai.error_answer(_failure(500, f"The emulator failed: {error!r}"))
        try:
            self._send(answer, emulator)
        except OSError:  # the client went away (or was dropped on purpose)
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
                if len(body) > MAX_BODY:
                    raise ValueError("The request body is too large.")
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        size = int(length)
        if size < 0 or size > MAX_BODY:
            raise ValueError("The request body is too large.")
        return self.rfile.read(size)

    def _send(self, answer: Answer, emulator: Emulator) -> None:
        if answer.fault == "slow-start" and emulator.stopping.wait(SLOW_START_DELAY):
            self._drop()
            return
        if isinstance(answer, JsonAnswer):
            self._send_json(answer)
        else:
            self._send_stream(answer, emulator)

    def _head(self, status: int, content_type: str, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)

    def _send_json(self, answer: JsonAnswer) -> None:
        payload = dumps(answer.body).encode()
        if answer.fault == "malformed":
            payload = payload[: len(payload) // 2]
        self._head(answer.status, "application/json", answer.headers)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if answer.fault == "cut":
            self.wfile.write(payload[: len(payload) // 2])
            self._drop()
            return
        self.wfile.write(payload)

    def _send_stream(self, answer: StreamAnswer, emulator: Emulator) -> None:
        self._head(200, "text/event-stream; charset=utf-8", answer.headers)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = list(answer.events)
        if answer.fault == "malformed" and events:
            middle = events[len(events) // 2]
            torn = middle.data[: len(middle.data) // 2] if middle.data.startswith("{") else ""
            events.insert(len(events) // 2, Event(torn or '{"choices": [', middle.name))
        cut_at = len(events) // 2 if answer.fault == "cut" else None
        delay = SLOW_DELAY if answer.fault == "slow" else emulator.chunk_delay
        for index, event in enumerate(events):
            if index == cut_at:
                self._drop()
                return
            if index and delay > 0 and emulator.stopping.wait(delay):
                self._drop()
                return
            self._write_chunk(format_event(event, answer.line_end).encode())
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

    def _drop(self) -> None:
        """End the connection now, mid-answer: no terminating chunk, no more requests."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


def format_event(event: Event, line_end: str = "\n") -> str:
    """An event as SSE text: ``event:`` when named, ``data:``, then a blank line."""
    lines = [f"event: {event.name}"] if event.name else []
    lines += [f"data: {line}" for line in event.data.split("\n")]
    return line_end.join(lines) + line_end * 2


def route(context: Context, call: Call) -> Answer:
    """The answer to a request, by method, path and (for ``GET /v1/models``) headers."""
    path = call.path.rstrip("/") or "/"
    gemini_path = any(path.startswith(f"{prefix}/") for prefix in gemini.PREFIXES)
    if call.method == "POST":
        if path == "/v1/chat/completions":
            return openai.handle(context, call, openai.chat_completions)
        if path == "/v1/responses":
            return openai.handle(context, call, openai.responses)
        if path == "/v1/messages":
            return anthropic.handle(context, call, anthropic.create_message)
        if path == "/v1/messages/count_tokens":
            return anthropic.handle(context, call, anthropic.count_tokens)
        if gemini_path:
            method = gemini.model_action(call)[1]
            if method in ("generateContent", "streamGenerateContent"):
                return gemini.handle(context, call, gemini.generate)
            if method == "countTokens":
                return gemini.handle(context, call, gemini.count_tokens)
    elif call.method == "GET":
        if path == "/":
            return JsonAnswer(200, _index())
        google = call.header("x-goog-api-key") or call.param("key")
        if path == "/v1beta/models" or (path == "/v1/models" and google):
            return gemini.handle(context, call, gemini.list_models)
        if gemini_path and ":" not in path and (path.startswith("/v1beta/") or google):
            return gemini.handle(context, call, gemini.get_model)
        if path == "/v1/models" or path.startswith("/v1/models/"):
            # Both OpenAI and Anthropic list models here; Anthropic's clients send a version.
            module: Any = anthropic if call.header("anthropic-version") else openai
            endpoint = module.list_models if path == "/v1/models" else module.get_model
            handled: Answer = module.handle(context, call, endpoint)
            return handled
    return openai.error_answer(_failure(404, f"Invalid URL ({call.method} {call.path})"))


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
