"""A local LLM provider emulator: the offline demo provider and the test-suite's provider.

A real HTTP server on 127.0.0.1 that speaks OpenAI's Chat Completions and Responses, Anthropic's
Messages and Google's Gemini wire protocols closely enough for each provider's official SDK:
same paths, auth headers, SSE event names and chunk shapes, final usage objects (cached and
reasoning counts included) and error bodies. Replies are deterministic (an echo of the last user
message, or ``/words N`` lorem words) and usage is exact for what was sent. Faults (rate limits,
overload, dropped streams, torn events...) are staged by the ``X-Emulator-Fault`` header or a
model name ending in ``@<fault>``; see :data:`FAULTS`.

Usage::

    with Emulator() as emu:
        client = openai.OpenAI(base_url=emu.url + "/v1", api_key="demo")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.servers.emulator.faults import FAULTS
    from app.servers.emulator.server import Emulator

__all__ = ["FAULTS", "Emulator"]


def __getattr__(name: str) -> Any:
    """The server is imported when first asked for: the app's window opens without it."""
    if name == "Emulator":
        from app.servers.emulator.server import Emulator

        return Emulator
    if name == "FAULTS":
        from app.servers.emulator.faults import FAULTS

        return FAULTS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
