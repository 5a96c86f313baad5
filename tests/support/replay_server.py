"""A real HTTP server on 127.0.0.1 that records requests and answers with scripted responses.

A streamed answer is sent as a provider sends it: chunked, one server-sent event per chunk. The
:class:`ToReplay` transport sends a built-in endpoint's requests (``api.x.ai``, ``api.groq.com``)
to this server, so an endpoint is read by its vendor's own rules over a real socket.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2


@dataclass
class Answer:
    """What the server sends: a status, headers, and either JSON or a list of SSE events."""

    status: int = 200
    json_body: Any = None
    events: Sequence[tuple[str | None, Any]] = ()
    headers: dict[str, str] = field(default_factory=dict)


def sse(events: Sequence[tuple[str | None, Any]]) -> list[bytes]:
    """Each event as its own SSE block (``data`` JSON-encoded unless it is a string)."""
    blocks = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        prefix = f"event: {name}\n" if name else ""
        blocks.append(f"{prefix}data: {text}\n\n".encode())
    return blocks


@dataclass(frozen=True)
class Recorded:
    """A request the server received (header names in lower case, the body decoded)."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ReplayServer:
    """``answer`` is the response to every request, or a function of the request that makes
    one; ``requests`` are what it received, in order."""

    url: str
    answer: Answer | Callable[[Recorded], Answer] = field(default_factory=Answer)
    requests: list[Recorded] = field(default_factory=list)


@contextmanager
def replay_server() -> Iterator[ReplayServer]:
    """Serve until the block ends; set ``server.answer`` before each request."""
    state = ReplayServer(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            request = Recorded(
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw or b"null"),
            )
            state.requests.append(request)
            answer = state.answer if isinstance(state.answer, Answer) else state.answer(request)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it hung up
                self._send(answer)
            self.close_connection = True

        do_GET = do_POST  # noqa: N815 (a GET, a records API, is recorded and answered the same way)

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.events:
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                for block in sse(answer.events):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                self.wfile.write(b"0\r\n\r\n")
            else:
                payload = json.dumps(answer.json_body).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class ToReplay(httpx2.BaseTransport):
    """Sends every request to the replay server, path and query kept (the real host is only
    what decides the vendor's rules)."""

    def __init__(self, url: str) -> None:
        self._inner = httpx2.HTTPTransport()
        self._target = httpx2.URL(url)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(
            scheme=self._target.scheme, host=self._target.host, port=self._target.port
        )
        request.headers["host"] = f"{self._target.host}:{self._target.port}"
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
