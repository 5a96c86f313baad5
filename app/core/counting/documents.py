"""Tokens of a document input (a PDF), estimated from its number of pages.

No provider publishes an exact rule a PDF can be counted by before it is sent: Anthropic's PDF
guide gives 1,500 to 3,000 tokens per page (the page's text, plus the page as an image), OpenAI
sends both the text and an image of each page too, and Gemini charges 258 tokens per page. The
count is the pages times the top of that range for the family, and always an estimate (as an
image of unknown size is): a quote errs on the side of the balance.
"""

from __future__ import annotations

import base64
import binascii
import re

from app.core.messages import DocumentPart

TOKENS_PER_PAGE = {"gemini": 258}
"""Per page where the family documents it; every other family gets :data:`DEFAULT_PER_PAGE`."""
DEFAULT_PER_PAGE = 3000

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b")


def pdf_pages(data: bytes) -> int:
    """Pages of a PDF, read cheaply from its bytes (at least 1).

    The page objects (``/Type /Page``) are counted; where they sit in compressed object
    streams, the page tree's ``/Count`` is the figure (the largest one is the root's).
    """
    pages = len(_PAGE.findall(data))
    counts = [int(a or b) for a, b in _COUNT.findall(data)]
    return max([pages, *counts, 1])


def document_tokens(family: str, part: DocumentPart) -> int:
    """The estimated tokens of one document for a model family (its pages, by the family's
    per-page figure)."""
    try:
        raw = base64.b64decode(part.data, validate=False)
    except (binascii.Error, ValueError):
        raw = b""
    return pdf_pages(raw) * TOKENS_PER_PAGE.get(family, DEFAULT_PER_PAGE)
