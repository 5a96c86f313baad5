"""The offline demo behind the "Offline demo" endpoint: started on first use, stopped by its owner.

The app, the command line and the tests each own one (``with OfflineDemo():``); while it is
open, the provider registry sends the demo endpoint's requests to it
(:func:`app.core.providers.registry.use_demo`). It streams at a human pace, so a reply can be
read as it arrives and Stop can be tried; ``TALLYBOOK_DEMO_PACE`` (seconds between streamed
events, ``0`` for as fast as it can) changes that, and the test suite sets it to 0.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from app.core.providers import registry

if TYPE_CHECKING:
    from app.servers.emulator.server import Emulator

HUMAN_PACE = 0.02
"""Seconds between streamed events: about 50 a second, a fast model's speed as a person sees it."""
PACE_VARIABLE = "TALLYBOOK_DEMO_PACE"


def demo_pace() -> float:
    """The pace the user set in :data:`PACE_VARIABLE`, else :data:`HUMAN_PACE`."""
    try:
        pace = float(os.environ.get(PACE_VARIABLE, HUMAN_PACE))
    except ValueError:
        return HUMAN_PACE
    return pace if 0 <= pace <= 10 else HUMAN_PACE


class OfflineDemo:
    """An emulator on 127.0.0.1, started the first time a request asks for the demo."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: Emulator | None = None
        self._replaced: Callable[[], str] | None = None
        self._offered = False

    def url(self) -> str:
        """The demo's base URL, starting it if it is not running yet."""
        with self._lock:
            if self._server is None:
                # Imported on first use: the emulator is a fifth of the window's imports.
                from app.servers.emulator.server import Emulator

                self._server = Emulator(chunk_delay=demo_pace()).start()
            return self._server.url

    def open(self) -> OfflineDemo:
        """Offer the demo to the registry (it starts when first asked for)."""
        self._replaced = registry.use_demo(self.url)
        self._offered = True
        return self

    def close(self) -> None:
        """Withdraw the demo, if it was offered (the one it replaced, if any, is offered
        again), and stop its server, if it ran."""
        if self._offered:
            registry.use_demo(self._replaced)
            self._offered = False
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
