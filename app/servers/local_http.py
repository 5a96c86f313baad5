"""A small HTTP server for this machine: the offline emulator and the local metering endpoint.

Both are standard-library threaded servers (one thread per connection, which suits a sync
metering client), bound to loopback unless the caller explicitly allows other machines. This
module owns what they share: binding and the serving thread, the open connections (so stopping
wakes handlers blocked on a read), request bodies, chunked event streams, and dropping a
connection mid-answer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
IDLE_TIMEOUT = 120.0  # seconds a kept-alive connection may sit idle
STOP_WAIT = 5.0  # seconds stop() waits for answers in progress to wind up


class BodyTooLarge(ValueError):
    """A request body above :data:`MAX_BODY`, or one whose length cannot be read."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LocalServer:
    """Serves :attr:`handler` on ``host:port`` (port 0 picks a free one).

    From a daemon thread after :meth:`start`, or in the calling thread with
    :meth:`serve_forever`; :meth:`stop` ends both. A non-loopback ``host`` needs
    ``allow_remote=True``.
    """

    handler: ClassVar[type[LocalHandler]]
    purpose: ClassVar[str] = "This server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False):
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"{self.purpose} serves only this machine (127.0.0.1, ::1, localhost), not "
                f"{host!r}; pass allow_remote=True to serve others."
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 to 65535, not {port!r}")
        self.host = host.strip().strip("[]")
        self._port = port
        self._server: _TrackedServer | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopping = threading.Event()

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
            raise RuntimeError("The server is not started yet; call start() first.")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
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

    def start(self) -> Any:
        """Serve from a daemon thread; returns ``self`` (calling it again changes nothing).

        Raises:
            OSError: the port cannot be bound (taken, or not allowed).
        """
        server = self._bind()
        if not self._serving:
            self._serving = True
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"tallybook-http-{self.port}",
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

    def _bind(self) -> _TrackedServer:
        if self._server is None:
            self._stopping.clear()
            self._server = _TrackedServer((self.host, self._port), self)
        return self._server

    def _close(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.close_connections()
        server.wait_for_handlers(STOP_WAIT)
        server.server_close()
        self._server = None
        self._serving = False

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _TrackedServer(ThreadingHTTPServer):
    """One listening socket, with the connections it has open."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: LocalServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.handlers: set[threading.Thread] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, owner.handler)

    def close_connections(self) -> None:
        """Shut every open connection, waking handlers blocked on reads."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def wait_for_handlers(self, limit: float) -> None:
        """Let the handlers whose connections were just shut finish (at most ``limit`` seconds
        in all): the local endpoint's charge what arrived before the ledger is closed."""
        deadline = time.monotonic() + limit
        with self.connections_lock:
            handlers = [t for t in self.handlers if t is not threading.current_thread()]
        for handler in handlers:
            handler.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is normal here; anything else is logged, not printed."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            logger.debug("connection from %s ended: %r", client_address, error)
        else:
            logger.error("failed serving %s", client_address, exc_info=error)


class LocalHandler(BaseHTTPRequestHandler):
    """Reads one request at a time; subclasses answer it in :meth:`serve`."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    @property
    def owner(self) -> LocalServer:
        """The :class:`LocalServer` this request came to."""
        return cast(_TrackedServer, self.server).owner

    def setup(self) -> None:
        """Track the connection (to end it on stop), and send each write at once.

        Without ``TCP_NODELAY`` a streamed reply's first event, written just after the headers,
        waits for the client's delayed ACK (Nagle's algorithm): about 40 ms on Linux.
        """
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server = cast(_TrackedServer, self.server)
        with server.connections_lock:
            server.connections.add(self.connection)
            server.handlers.add(threading.current_thread())

    def finish(self) -> None:
        server = cast(_TrackedServer, self.server)
        with server.connections_lock:
            server.connections.discard(self.connection)
            server.handlers.discard(threading.current_thread())
        with contextlib.suppress(OSError):
            super().finish()

    def serve(self) -> None:
        """Answer the request that was just read (every method comes here)."""
        raise NotImplementedError

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def do_PUT(self) -> None:
        self.serve()

    def do_PATCH(self) -> None:
        self.serve()

    def do_DELETE(self) -> None:
        self.serve()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)

    def read_body(self) -> bytes:
        """The request body, plain or chunked.

        Raises:
            BodyTooLarge: above :data:`MAX_BODY`, or a length that is not a number.
        """
        try:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return self._read_chunked()
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BodyTooLarge("The request body's length cannot be read.") from None
        if size < 0 or size > MAX_BODY:
            raise BodyTooLarge("The request body is too large.")
        return self.rfile.read(size) if size else b""

    def _read_chunked(self) -> bytes:
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
                raise BodyTooLarge("The request body is too large.")

    def send_json(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        """A whole JSON answer with its length (the connection stays open for the next one)."""
        self.send_head(status, "application/json", headers)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def send_head(self, status: int, content_type: str, headers: dict[str, str]) -> None:
        """Status line, content type and extra headers (the caller ends the headers)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)

    def start_event_stream(self, headers: dict[str, str]) -> None:
        """Headers of a server-sent-events answer, sent chunk by chunk as events happen."""
        self.send_head(200, "text/event-stream; charset=utf-8", headers)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        """One chunk of a chunked answer, flushed so the client sees it now."""
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunks(self) -> None:
        """The terminating chunk: the answer is complete."""
        self.wfile.write(b"0\r\n\r\n")

    def drop(self) -> None:
        """End the connection now, mid-answer: no terminating chunk, no more requests."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
