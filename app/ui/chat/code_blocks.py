"""A reply's fenced code blocks: coloured by Pygments, under a header with their language and Copy.

Qt's Markdown import shows a fenced block only in a monospace font; it also turns its tabs into
spaces and runs two adjacent blocks together. So :class:`~app.ui.chat.message.MarkdownView`
gives Qt the Markdown with each fence that :func:`~app.ui.chat.blocks.fences` finds replaced by
a one-line placeholder paragraph (:func:`with_placeholders`; it keeps the fence's indent, so a
block in a list item stays in it), and :func:`insert_code_blocks` then puts each block in its
placeholder's place: a header line (the language, and a ``Copy`` link to ``copy-code:<n>``) and
the code as written, tokens coloured in a Pygments style that suits the palette's lightness.

Everything is plain document text and formats: the code stays selectable, and a reply renders
in one pass (a view is rendered once, or its streaming tail as it grows: see ``highlight_open``).
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING

from pygments.token import Token, _TokenType
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QPalette,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextOption,
)

from app.ui.chat.blocks import Fence

if TYPE_CHECKING:
    from pygments.lexer import Lexer

PLACEHOLDER = "\ue000"
"""Starts the paragraph standing in for a fenced block (a private-use character: replies do
not hold it), followed by the block's number."""
COPY_SCHEME = "copy-code"
"""The scheme of a block's Copy link: ``copy-code:<n>`` copies block ``n`` of its view."""
COPY, COPIED = "Copy", "Copied"
"""A Copy link's text, and what it says for a moment after a click."""
_RIGHT_TAB = QTextOption.TabType.RightTab
LIGHT_STYLE, DARK_STYLE = "default", "one-dark"
"""The Pygments styles for a light and a dark palette (only their token colours are used)."""


def with_placeholders(text: str, found: list[Fence]) -> str:
    """``text`` with each block of ``found`` (from ``fences(text)``) replaced by its placeholder
    paragraph, set apart by blank lines so that it is a paragraph of its own."""
    parts = []
    last = 0
    for number, fence in enumerate(found):
        parts += [text[last : fence.start], f"\n\n{' ' * fence.indent}{PLACEHOLDER}{number}\n\n"]
        last = fence.end
    parts.append(text[last:])
    return "".join(parts)


def insert_code_blocks(
    document: QTextDocument, found: list[Fence], palette: QPalette, *, highlight_open: bool
) -> list[QTextCursor] | None:
    """Put the blocks of ``found`` in place of their placeholders in ``document``, in one edit.

    Args:
        highlight_open: colour a block whose closing fence has not come yet (a streaming
            reply's tail leaves it plain: it is shown again with each piece of text).

    Returns:
        A cursor over each block's Copy link (it follows later edits), or None if a
        placeholder is missing (Qt read the Markdown otherwise): nothing was changed then.
    """
    placeholders = _placeholders(document, len(found))
    if placeholders is None:
        return None
    style = DARK_STYLE if palette.color(QPalette.ColorRole.Base).lightnessF() < 0.5 else LIGHT_STYLE
    cursor = QTextCursor(document)
    cursor.beginEditBlock()
    links = []
    for number, (block, fence) in enumerate(zip(placeholders, found, strict=True)):
        coloured = fence.closed or highlight_open
        links.append(_insert(cursor, block, number, fence, palette, style if coloured else ""))
    cursor.endEditBlock()
    return links


def align_copy_links(document: QTextDocument, links: list[QTextCursor]) -> None:
    """Set each Copy link against its header's right edge, for the document's width now."""
    width = document.textWidth()
    if width <= 0 or not links:
        return
    cursor = QTextCursor(document)
    cursor.beginEditBlock()
    for link in links:
        header = link.block()
        look = header.blockFormat()
        inner = width - 2 * document.documentMargin() - look.leftMargin() - look.rightMargin()
        tabs = QTextBlockFormat()
        right = QTextOption.Tab(inner - look.indent() * document.indentWidth() - 2, _RIGHT_TAB)
        tabs.setTabPositions([right])
        cursor.setPosition(header.position())
        cursor.mergeBlockFormat(tabs)
    cursor.endEditBlock()


def relabel(link: QTextCursor, text: str) -> None:
    """Say ``text`` on the Copy link ``link`` selects (it selects the new text after)."""
    link.insertText(text, link.charFormat())
    end = link.position()
    link.setPosition(end - len(text))
    link.setPosition(end, QTextCursor.MoveMode.KeepAnchor)


def code_shade(palette: QPalette, amount: float = 0.07) -> QColor:
    """Code's background: ``amount`` of the text colour over the base (follows a dark palette)."""
    base = palette.color(QPalette.ColorRole.Base)
    ink = palette.color(QPalette.ColorRole.Text)
    return QColor.fromRgbF(
        base.redF() + (ink.redF() - base.redF()) * amount,
        base.greenF() + (ink.greenF() - base.greenF()) * amount,
        base.blueF() + (ink.blueF() - base.blueF()) * amount,
    )


@cache
def mono_families() -> list[str]:
    """The system's monospace font families (asked once: the lookup is slow)."""
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).families()


def _placeholders(document: QTextDocument, count: int) -> list[QTextBlock] | None:
    """The placeholder paragraphs of blocks 0 to ``count - 1``, in order, or None if one is
    missing."""
    found: list[QTextBlock] = []
    block = document.begin()
    while block.isValid() and len(found) < count:
        if block.text() == f"{PLACEHOLDER}{len(found)}":
            found.append(block)
        block = block.next()
    return found if len(found) == count else None


def _insert(
    cursor: QTextCursor,
    placeholder: QTextBlock,
    number: int,
    fence: Fence,
    palette: QPalette,
    style: str,
) -> QTextCursor:
    """Turn ``placeholder`` into block ``number``'s header and code (coloured in ``style``,
    plain when it is ``""``); returns a cursor over its Copy link."""
    paragraph = placeholder.blockFormat()
    cursor.setPosition(placeholder.position())
    cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
    header = QTextBlockFormat()
    header.setBackground(code_shade(palette, 0.13))
    header.setLeftMargin(6)
    header.setRightMargin(6)
    header.setBottomMargin(0)
    cursor.mergeBlockFormat(header)
    small = QTextCharFormat()
    small.setFontPointSize(cursor.document().defaultFont().pointSizeF() * 0.85)
    label = QTextCharFormat(small)
    label.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
    cursor.insertText(fence.language or "text", label)  # (a line starting with a tab wraps)
    cursor.insertText("\t", small)  # to the Copy link, on the header's right (align_copy_links)
    link = QTextCharFormat(small)
    link.setAnchor(True)
    link.setAnchorHref(f"{COPY_SCHEME}:{number}")
    link.setForeground(palette.color(QPalette.ColorRole.Link))
    link.setToolTip("Copy this code")
    start = cursor.position()
    cursor.insertText(COPY, link)

    code = QTextBlockFormat()
    code.setBackground(code_shade(palette))
    code.setLeftMargin(6)
    code.setRightMargin(6)
    code.setIndent(paragraph.indent())
    code.setNonBreakableLines(True)
    code.setProperty(QTextFormat.Property.BlockCodeFence, "`")
    code.setProperty(QTextFormat.Property.BlockCodeLanguage, fence.language)
    plain = _code_format()
    cursor.insertBlock(code, plain)
    for text, char_format in _runs(fence, style):
        cursor.insertText(text, char_format)
    last = QTextBlockFormat()
    last.setBottomMargin(paragraph.bottomMargin())
    cursor.mergeBlockFormat(last)
    copy = QTextCursor(cursor.document())  # made now: a cursor at an insertion moves with it
    copy.setPosition(start)
    copy.setPosition(start + len(COPY), QTextCursor.MoveMode.KeepAnchor)
    return copy


def _runs(fence: Fence, style: str) -> tuple[tuple[str, QTextCharFormat], ...]:
    """The block's code in runs of one format each (all of it plain without a lexer)."""
    plain = ((fence.code, _code_format()),)
    lexer = _lexer(fence.language.lower()) if style and fence.language else None
    return plain if lexer is None else _coloured(fence.code, lexer, style) or plain


@lru_cache(maxsize=64)
def _coloured(
    code: str, lexer: Lexer, style: str
) -> tuple[tuple[str, QTextCharFormat], ...] | None:
    """``code`` lexed and coloured in runs, or None if the lexer changed the text.

    Kept for the blocks seen last: a streaming tail shows its closed blocks again with each
    piece of text until they are set apart, and a palette change shows them all again.
    """
    formats = _token_formats(style)
    tokens = list(lexer.get_tokens(code))
    if "".join(text for _kind, text in tokens) != code:
        return None
    runs: list[tuple[str, QTextCharFormat]] = []
    run, run_format = "", _code_format()
    for kind, text in tokens:
        char_format = formats(kind)
        if char_format is not run_format:
            if run:
                runs.append((run, run_format))
            run, run_format = "", char_format
        run += text
    if run:
        runs.append((run, run_format))
    return tuple(runs)


@cache
def _lexer(language: str) -> Lexer | None:
    """Pygments' lexer for ``language``, one per name (the first costs tens of milliseconds:
    its module loads and its rules compile), or None for a name it does not know."""
    # Imported here: the lexers' index takes a while to load, and only code shown needs it.
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@cache
def _code_format() -> QTextCharFormat:
    """Code's own characters: the monospace font, in the palette's text colour."""
    char_format = QTextCharFormat()
    char_format.setFontFamilies(mono_families())
    char_format.setFontFixedPitch(True)
    return char_format


class _TokenFormats:
    """The character format of each Pygments token kind in one style, made once per kind.

    Kinds the style shows as its plain text get :func:`_code_format` (the palette's text
    colour, which the style's background was not chosen for).
    """

    def __init__(self, style_name: str) -> None:
        from pygments.styles import get_style_by_name  # as the lexers, when code is shown

        self._style = get_style_by_name(style_name)
        self._plain = self._style.style_for_token(Token)
        self._formats: dict[_TokenType, QTextCharFormat] = {}
        self._looks: dict[tuple[object, ...], QTextCharFormat] = {}
        """One format per look, so that kinds that look alike make one run."""

    def __call__(self, kind: _TokenType) -> QTextCharFormat:
        known = self._formats.get(kind)
        if known is None:
            look = self._style.style_for_token(kind)
            key = tuple(look[name] for name in ("color", "bold", "italic"))
            known = self._looks.get(key)
            if known is None:
                known = self._looks[key] = self._format(look)
            self._formats[kind] = known
        return known

    def _format(self, look: dict[str, object]) -> QTextCharFormat:
        if all(look[key] == self._plain[key] for key in ("color", "bold", "italic")):
            return _code_format()
        char_format = QTextCharFormat(_code_format())
        if look["color"] and look["color"] != self._plain["color"]:
            char_format.setForeground(QColor(f"#{look['color']}"))
        if look["bold"]:
            char_format.setFontWeight(QFont.Weight.Bold)
        if look["italic"]:
            char_format.setFontItalic(True)
        return char_format


@cache
def _token_formats(style_name: str) -> _TokenFormats:
    return _TokenFormats(style_name)
