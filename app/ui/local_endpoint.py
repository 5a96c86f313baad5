"""The app's local metering endpoint: started, stopped and renewed without blocking the window.

Starting reads the key store (the access token) and binds a port, so it runs on the task thread;
each tool's charged reply arrives from the endpoint's own threads and is passed to the GUI thread
as a signal, where it raises its alerts like a reply in the chat window (the balance and the
charts follow the ledger's own announcement of the charge).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.servers.gateway import Gateway, Settlement, access_token, renew_access_token
from app.servers.gateway import config as endpoint_config
from app.servers.gateway.config import EndpointConfig
from app.ui.context import AppContext
from app.ui.operations import Latest


@dataclass(frozen=True)
class EndpointState:
    """What the endpoint is doing, for the dialog and the status bar.

    Attributes:
        url: where it serves, when it runs.
        error: why it is not running although it should, in the user's words.
    """

    config: EndpointConfig
    url: str | None = None
    error: str = ""

    @property
    def running(self) -> bool:
        """Whether tools can reach it now."""
        return self.url is not None


class LocalEndpoint(QObject):
    """Runs the :class:`~app.servers.gateway.Gateway` for the window, as the saved settings say.

    Signals:
        state_changed(object): the new :class:`EndpointState` (started, stopped, failed).
        settled(object): a tool's reply was charged (a :class:`Settlement`), in the GUI thread.
    """

    state_changed = Signal(object)
    settled = Signal(object)
    _settled_elsewhere = Signal(object)  # emitted on the endpoint's threads: queued to this one

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._gateway: Gateway | None = None
        self._latest = Latest(self)  # of apply_loaded: a start that finishes late is not wanted
        self.state = EndpointState(EndpointConfig())
        self._settled_elsewhere.connect(self._on_settled_elsewhere)

    def start_if_enabled(self) -> None:
        """Read the saved settings and start when they say so (at launch)."""

        def load() -> EndpointConfig:
            with self._context.db.read() as session:
                return endpoint_config.load(session)

        self._context.reads.run(load, self.apply_loaded, self._on_failed)

    def apply(self, config: EndpointConfig) -> None:
        """Save ``config``, then start, restart or stop to match it."""

        def save() -> EndpointConfig:
            with self._context.db.write() as session:
                endpoint_config.save(session, config)
            return config

        self._context.tasks.run(save, self.apply_loaded, self._on_failed)

    def apply_loaded(self, config: EndpointConfig) -> None:
        """Start, restart or stop to match ``config`` (already saved)."""
        self.stop(emit=False)
        self._latest.renew()
        self.state = EndpointState(config)
        if not config.enabled:
            self.state_changed.emit(self.state)
            return
        self._context.tasks.run(
            lambda: self._start(config),
            # Superseded (the settings changed meanwhile): the late server is stopped at once.
            self._latest.guard(self._on_started, otherwise=lambda late: late.stop()),
            self._latest.guard(self._on_failed),
        )

    def renew_token(self) -> None:
        """A new access token: tools holding the old one get 401 from now on."""
        self._context.tasks.run(renew_access_token, self._on_token_renewed, self._on_not_renewed)

    def stop(self, *, emit: bool = True) -> None:
        """Stop serving (requests in flight end, charged for what arrived)."""
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            gateway.stop()
            self.state = EndpointState(self.state.config)
            if emit:
                self.state_changed.emit(self.state)

    def _start(self, config: EndpointConfig) -> Gateway:
        """On the task thread: the token from the key store, and the port bound."""
        return Gateway(
            self._context.db,
            self._context.chats.metering,
            token=access_token(),
            upstreams=config.upstreams,
            port=config.port,
            on_settled=self._settled_elsewhere.emit,
        ).start()

    def _on_started(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.state = EndpointState(self.state.config, url=gateway.url)
        self.state_changed.emit(self.state)

    def _on_failed(self, error: BaseException) -> None:
        self.state = EndpointState(self.state.config, error=_describe(error, self.state.config))
        self.state_changed.emit(self.state)

    def _on_not_renewed(self, error: BaseException) -> None:
        """The old token stays (set by the environment, say): the endpoint runs on with it."""
        self.state = EndpointState(self.state.config, url=self.state.url, error=str(error))
        self.state_changed.emit(self.state)

    def _on_token_renewed(self, token: str) -> None:
        if self._gateway is not None:
            self._gateway.token = token
        self.state_changed.emit(self.state)

    def _on_settled_elsewhere(self, done: Settlement) -> None:
        for alert in done.alerts:
            self._context.events.alert.emit(alert)
        self.settled.emit(done)


def _describe(error: BaseException, config: EndpointConfig) -> str:
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return (
            f"Port {config.port} is in use by another program (or `tallybook serve`); "
            "choose another port."
        )
    if isinstance(error, OSError):
        return f"Could not listen on port {config.port}: {error.strerror or error}."
    return str(error)
