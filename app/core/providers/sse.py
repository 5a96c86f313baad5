"""Server-sent events, decoded by the WHATWG rules, shared by every provider.

A small incremental decoder rather than a library: ``httpx-sse`` would bring httpx alongside
httpx2. It follows the HTML standard's "event stream interpretation": lines end in CRLF, LF or CR
(also when split across chunks), ``:`` starts a comment, a field's value loses one leading space,
``data`` lines accumulate with newlines between them, a blank line dispatches, an event with no
data is not dispatched, a leading BOM is dropped. One deliberate difference: at a *clean* end of
stream, a last event that lacks its blank line is still dispatched (several providers end that
way); a connection that breaks mid-event never reaches :meth:`SSEDecoder.end`, so a torn event is
never delivered.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed text as it arrives; get back the events it completes."""

    def __init__(self) -> None:
        self._buffer = ""
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, text: str) -> list[ServerSentEvent]:
        """Decode a chunk of the stream (any size, lines may be split anywhere)."""
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        buffer = self._buffer + text
        events: list[ServerSentEvent] = []
        start = 0
        for ending in _LINE_END.finditer(buffer):
            if ending.group() == "\r" and ending.end() == len(buffer):
                break  # the LF of a CRLF may arrive in the next chunk
            line, start = buffer[start : ending.start()], ending.end()
            if (event := self._process(line)) is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events

    def end(self) -> list[ServerSentEvent]:
        """The stream ended cleanly: flush a last line and event that lacked their terminators."""
        events: list[ServerSentEvent] = []
        if self._buffer:
            line, self._buffer = self._buffer.rstrip("\r"), ""
            if (event := self._process(line)) is not None:
                events.append(event)
        if (event := self._process("")) is not None:
            events.append(event)
        return events

    def _process(self, line: str) -> ServerSentEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event, data = self._event, self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerSentEvent(event or "message", "\n".join(data), self._last_id, self._retry)


def iter_sse(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Events from a byte stream; UTF-8 split across chunks is joined, invalid bytes replaced."""
    decoder = SSEDecoder()
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in chunks:
        yield from decoder.feed(text.decode(chunk))
    yield from decoder.feed(text.decode(b"", final=True))
    yield from decoder.end()
