"""The offline demo behind the "Offline demo" endpoint: started on first use, stopped by its owner.

The app, the command line and the tests each own one (``with OfflineDemo():``); while it is
open, the provider registry sends the demo endpoint's requests to it
(:func:`app.core.providers.registry.use_demo`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from app.core.providers import registry

if TYPE_CHECKING:
    from app.servers.emulator.server import Emulator


class OfflineDemo:
    """An emulator on 127.0.0.1, started the first time a request asks for the demo."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: Emulator | None = None
        self._replaced: Callable[[], str] | None = None

    def url(self) -> str:
        """The demo's base URL, starting it if it is not running yet."""
        with self._lock:
            if self._server is None:
                # Imported on first use: the emulator is a fifth of the window's imports.
                from app.servers.emulator.server import Emulator

                self._server = Emulator().start()
            return self._server.url

    def open(self) -> OfflineDemo:
        """Offer the demo to the registry (it starts when first asked for)."""
        self._replaced = registry.use_demo(self.url)
        return self

    def close(self) -> None:
        """Withdraw the demo (the one it replaced, if any, is offered again) and stop its
        server, if it ran."""
        registry.use_demo(self._replaced)
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None

    def __enter__(self) -> OfflineDemo:
        return self.open()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
