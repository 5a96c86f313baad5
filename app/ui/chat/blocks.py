"""Where a streaming reply's Markdown can be cut: before a block that nothing later can change.

A reply that is still arriving is shown as its *settled* blocks, each rendered once, and an open
tail re-rendered as text comes in (:class:`~app.ui.chat.message.MessageWidget`). A cut is safe
where Markdown read as a whole and in two parts gives the same blocks: after a blank line outside
a fenced code block, before a line that cannot continue what came before (not indented, not a
list item or a quote, which a blank line does not end). Rare constructs that span such a cut
(an HTML comment over blank lines, a link defined later) can show differently until the reply
settles, when it is rendered whole.
"""

from __future__ import annotations

_CONTINUES = frozenset(" \t-*+>0123456789")
"""First characters of a line that may belong to the block above it even after a blank line."""


def settled_length(text: str, start: int = 0) -> int:
    """The end of the last safe cut in ``text`` at or after ``start`` (``start`` if none).

    Args:
        start: a safe cut already found (0, or an earlier answer for a prefix of ``text``), so
            each call scans only what came after it.
    """
    cut = start
    fence = ""
    blank_before = False
    position = start
    while position < len(text):
        end = text.find("\n", position)
        line = text[position:] if end < 0 else text[position:end]
        if fence:
            if _closes(line, fence):
                fence = ""
            blank_before = False
        else:
            if blank_before and line and line[0] not in _CONTINUES:
                cut = position
            fence = _opens(line)
            blank_before = not fence and not line.strip()
        if end < 0:
            break
        position = end + 1
    return cut


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
