"""The local metering endpoint's HTTP side: check the token, forward, relay, answer.

Each connection has its own thread (the metering client is thread-safe), so a slow reply to one
tool never holds up another. A streamed reply is relayed event by event as the provider sends
it; if the tool hangs up, the reply is stopped and what arrived is charged, as when the user
presses Stop in the chat window.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from app.core.ledger.alerts import Alert
from app.core.metering.client import Metered, MeteringClient
from app.core.money import credits_to_usd
from app.core.providers import registry
from app.core.providers.sse import ServerSentEvent
from app.core.storage.db import Database
from app.servers.gateway import access
from app.servers.gateway.forwarding import Forward, Upstreams, prepare
from app.servers.gateway.protocols import (
    CHAT,
    MESSAGES,
    ROUTES,
    Api,
    asked_for_usage,
    failure_for,
    is_final,
    is_unrequested_usage,
)
from app.servers.gateway.tokens import TokenCheck, TokenRefused, is_tool_token
from app.servers.local_http import BodyTooLarge, LocalHandler, LocalServer
from app.servers.wire import Event, Failure, JsonAnswer, dumps, format_event

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8411


@dataclass(frozen=True)
class Settlement:
    """A tool's reply, charged: what it cost, which tool sent it, the alerts it raised."""

    metered: Metered
    source: str

    @property
    def alerts(self) -> tuple[Alert, ...]:
        """What the charge made true (the metering client raised them, once)."""
        return self.metered.alerts


Settled = Callable[[Settlement], None]
"""Called with each settlement, from the request's thread (a window to refresh, alerts)."""

NEEDS_ACCESS = (
    "Tallybook's local endpoint needs its access token, or a tool token made for this tool, as "
    "the API key (Tallybook shows them under Tools > Local endpoint; `tallybook serve` prints the "
    "access token)."
)


class _Handler(LocalHandler):
    server_version = "TallybookLocalEndpoint/1"

    @property
    def gateway(self) -> Gateway:
        return cast(Gateway, self.owner)

    def serve(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        path = urlsplit(self.path).path.rstrip("/")
        api = ROUTES.get(path)
        speaks = api or (MESSAGES if headers.get("anthropic-version") else CHAT)
        try:
            raw = self.read_body()
        except BodyTooLarge as error:
            self.close_connection = True
            self._fail(speaks, Failure(413, "invalid", str(error)))
            return
        try:
            token_name = self.gateway.admit(headers)
        except TokenRefused as refused:
            self._fail(speaks, Failure(401, "auth", str(refused)))
            return
        if self.command == "GET" and path == "/v1/models":
            self._models(speaks)
        elif api is None or self.command != "POST":
            self._fail(speaks, Failure(404, "unknown_url", _unknown_path(self.command, path)))
        else:
            self._forward(api, raw, headers, token_name)

    def _forward(
        self, api: Api, raw: bytes, headers: Mapping[str, str], token_name: str | None
    ) -> None:
        try:
            forward = prepare(api, raw, headers, self.gateway.upstreams, token_name)
        except Exception as error:
            self._fail(api, failure_for(error))
            return
        if forward.stream:
            self._relay(api, forward)
        else:
            self._exchange(api, forward)

    def _exchange(self, api: Api, forward: Forward) -> None:
        try:
            answer, metered = self.gateway.client.exchange(forward.request)
        except Exception as error:  # refused, or no answer came: nothing was charged
            self._fail(api, failure_for(error))
            return
        self.gateway.settled(metered, forward.source)
        if metered.error is not None:  # it broke off: what arrived was charged
            self._fail(api, failure_for(metered.error))
            return
        cost = {
            "x-tallybook-cost-usd": f"{credits_to_usd(metered.cost):f}",
            "x-tallybook-estimated": "true" if metered.estimated else "false",
        }
        self.send_json(200, answer, cost)

    def _relay(self, api: Api, forward: Forward) -> None:
        cancel = threading.Event()
        items = self.gateway.client.relay(forward.request, cancel=cancel)
        try:
            first = next(items)
        except Exception as error:  # refused, or no answer came: nothing was charged
            self._fail(api, failure_for(error))
            return
        hide_usage = api is CHAT and not asked_for_usage(forward.body)
        metered, held = self._pass_events(api, first, items, hide_usage, cancel)
        self.gateway.settled(metered, forward.source)  # before the tool hears the reply is over
        if held is not None:
            self._end_events(api, metered, held)

    def _pass_events(
        self,
        api: Api,
        first: ServerSentEvent | Metered,
        items: Generator[ServerSentEvent | Metered, None, None],
        hide_usage: bool,
        cancel: threading.Event,
    ) -> tuple[Metered, list[ServerSentEvent] | None]:
        """Pass each event on as it comes, holding back the final one (see :func:`is_final`).

        Returns:
            The charged reply, and the held events (``None`` if the tool hung up: the reply was
            stopped there and charged for what arrived).
        """
        item = first
        held: list[ServerSentEvent] = []
        try:
            self.start_event_stream({})
            while not isinstance(item, Metered):
                if is_final(api, item):
                    held.append(item)
                elif not (hide_usage and is_unrequested_usage(api, item)):
                    self.write_chunk(_sse(item).encode())
                item = next(items)
        except OSError:
            self.close_connection = True
            cancel.set()
            *_, item = items  # ends at the next event, settled as incomplete
            assert isinstance(item, Metered)
            return item, None
        return item, held

    def _end_events(self, api: Api, metered: Metered, held: list[ServerSentEvent]) -> None:
        """The reply is charged: tell the tool why it broke off, if it did, and that it is over."""
        try:
            if metered.error is not None:
                self.write_chunk(format_event(api.error_event(failure_for(metered.error))).encode())
            for event in held:
                self.write_chunk(_sse(event).encode())
            self.end_chunks()
        except OSError:
            self.close_connection = True

    def _models(self, api: Api) -> None:
        with self.gateway.db.read() as session:
            menu = registry.model_menu(session)
        wanted = self.gateway.upstreams.endpoint_for(api, {})
        names = [c.model for endpoint, choices in menu if endpoint.id == wanted for c in choices]
        if api is MESSAGES:
            data: object = {
                "data": [{"type": "model", "id": n, "display_name": n} for n in names],
                "has_more": False,
            }
        else:
            data = {
                "object": "list",
                "data": [{"id": n, "object": "model", "owned_by": wanted} for n in names],
            }
        self.send_json(200, dumps(data).encode(), {})

    def _fail(self, api: Api, failure: Failure) -> None:
        answer: JsonAnswer = api.error_answer(failure)
        logger.info("local endpoint refused a request: %s %s", failure.status, failure.message)
        try:
            self.send_json(answer.status, dumps(answer.body).encode(), dict(answer.headers))
        except OSError:
            self.close_connection = True


class Gateway(LocalServer):
    """The local metering endpoint (see :mod:`app.servers.gateway`)."""

    purpose = "The local endpoint"
    handler = _Handler

    def __init__(
        self,
        db: Database,
        client: MeteringClient,
        *,
        token: str,
        upstreams: Upstreams | None = None,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        allow_remote: bool = False,
        on_settled: Settled | None = None,
    ) -> None:
        super().__init__(host, port, allow_remote=allow_remote)
        self.db = db
        self.client = client
        self.token = token
        self.upstreams = upstreams or Upstreams()
        self._on_settled = on_settled
        self._tool_tokens = TokenCheck()

    def start(self) -> Gateway:
        """Serve from a daemon thread; returns ``self``.

        Raises:
            OSError: the port is taken (or not allowed).
        """
        super().start()
        return self

    def __enter__(self) -> Gateway:
        return self.start()

    def admit(self, headers: Mapping[str, str]) -> str | None:
        """Whether a request may spend, and the tool it is filed under if its token says.

        Returns:
            The name of the tool token it presented, or ``None`` for the shared access token.

        Raises:
            TokenRefused: no token, a wrong one, or a revoked one; the message says which.
        """
        presented = access.presented_token(headers)
        if is_tool_token(presented):
            with self.db.read() as session:
                return self._tool_tokens.tool_of(session, presented).name
        if not access.is_authorized(headers, self.token):
            raise TokenRefused(NEEDS_ACCESS)
        return None

    def settled(self, metered: Metered, source: str) -> None:
        """A reply was charged: log it, tell whoever runs the endpoint."""
        logger.info(
            "local endpoint: %s, %s, %s credits%s",
            source,
            metered.status,
            metered.cost,
            " (estimated)" if metered.estimated else "",
        )
        if self._on_settled is not None:
            self._on_settled(Settlement(metered, source))


def _sse(event: ServerSentEvent) -> str:
    """A relayed event as SSE text (``message`` is the unnamed default)."""
    name = event.event if event.event != "message" else None
    return format_event(Event(event.data, name))


def _unknown_path(method: str, path: str) -> str:
    return (
        f"Tallybook's local endpoint has no {method} {path or '/'}; it serves POST "
        "/v1/chat/completions, /v1/responses and /v1/messages, and GET /v1/models."
    )
