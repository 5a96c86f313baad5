"""Where a streaming reply's Markdown can be cut, and where its fenced code blocks are.

A reply that is still arriving is shown as its *settled* blocks, each rendered once, and an open
tail re-rendered as text comes in (:class:`~app.ui.chat.message.MessageWidget`). A cut is safe
where Markdown read as a whole and in two parts gives the same blocks: after a blank line outside
a fenced code block, before a line that cannot continue what came before (not indented, not a
list item or a quote, which a blank line does not end). Rare constructs that span such a cut
(an HTML comment over blank lines, a link defined later) can show differently until the reply
settles, when it is rendered whole.

:func:`fences` finds the fenced code blocks themselves, with their exact code (Qt's Markdown
import turns tabs into spaces and runs adjacent blocks together), for
:mod:`app.ui.chat.code_blocks` to show highlighted and to copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_CONTINUES = frozenset(" \t-*+>0123456789")
"""First characters of a line that may belong to the block above it even after a blank line."""


@dataclass(frozen=True)
class Fence:
    """A fenced code block of Markdown source, read as CommonMark reads it.

    Attributes:
        start: where its opening fence line starts in the source.
        end: where its closing fence line ends (the source's end while it is open).
        indent: the spaces before the opening fence (as many are taken off each code line).
        info: what follows the opening fence on its line (``python``, ``js title="x"``).
        code: exactly the lines between the fences, without the last line break.
        closed: whether the closing fence has come (a streaming reply's may not have yet).
    """

    start: int
    end: int
    indent: int
    info: str
    code: str
    closed: bool

    @property
    def language(self) -> str:
        """The info string's first word, as written (``""`` when there is none)."""
        return self.info.split(maxsplit=1)[0] if self.info else ""


def settled_length(text: str, start: int = 0) -> int:
    """The end of the last safe cut in ``text`` at or after ``start`` (``start`` if none).

    Args:
        start: a safe cut already found (0, or an earlier answer for a prefix of ``text``), so
            each call scans only what came after it.
    """
    cut = start
    fence = ""
    blank_before = False
    for position, line in _lines(text, start):
        if fence:
            if _closes(line, fence):
                fence = ""
            blank_before = False
        else:
            if blank_before and line and line[0] not in _CONTINUES:
                cut = position
            fence = _opens(line)
            blank_before = not fence and not line.strip()
    return cut


def fences(text: str) -> list[Fence]:
    """The fenced code blocks of ``text`` whose fence is indented at most three spaces.

    These are the top-level ones and those of a list item's first level; fences inside a
    quote or a deeper list are not found (Qt's Markdown import still shows them as code).
    """
    found: list[Fence] = []
    start = indent = 0
    fence = info = ""
    code: list[str] = []
    for position, line in _lines(text):
        line = line.removesuffix("\r")
        if not fence:
            fence = _opens(line)
            if fence:
                start, indent = position, len(line) - len(line.lstrip(" "))
                info, code = line[indent + len(fence) :].strip(), []
        elif _closes(line, fence):
            found.append(Fence(start, position + len(line), indent, info, "\n".join(code), True))
            fence = ""
        else:
            code.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
    if fence:
        found.append(Fence(start, len(text), indent, info, "\n".join(code), False))
    return found


def _lines(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """Each line of ``text`` from ``start`` with where it starts, without its line break."""
    position = start
    while position < len(text):
        end = text.find("\n", position)
        if end < 0:
            yield position, text[position:]
            return
        yield position, text[position:end]
        position = end + 1


def _opens(line: str) -> str:
    """The fence a line opens (its run of backticks or tildes), or ``""``."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3 or stripped[:1] not in ("`", "~"):
        return ""
    mark = stripped[0]
    run = len(stripped) - len(stripped.lstrip(mark))
    if run < 3 or (mark == "`" and "`" in stripped[run:]):
        return ""
    return mark * run


def _closes(line: str, fence: str) -> bool:
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return False
    run = len(stripped) - len(stripped.lstrip(fence[0]))
    return run >= len(fence) and not stripped[run:].strip()
