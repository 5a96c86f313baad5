"""Files the user adds to a message: images (PNG, JPEG, GIF, WebP) and PDFs.

An :class:`Attachment` is what the composer holds and the ledger stores with the message (the
``attachments`` table); :meth:`Attachment.part` is what a request carries of it. A file is known
by its bytes, never by its name, so a renamed file is taken for what it is. What an endpoint or
a model cannot take is refused before anything is sent (:func:`refusal`), never dropped.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import TallybookError
from app.core.messages import DocumentPart, ImagePart
from app.core.types import EndpointApi

MAX_BYTES = 20 * 1024 * 1024
"""The most one file may hold (Gemini's and OpenAI's inline limits are about there)."""
ANTHROPIC_MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""Anthropic's API refuses a larger image."""
PDF = "application/pdf"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", PDF),
)
_TEXT_ONLY = re.compile(
    r"(^|/)(gpt-3\.5|gpt-35|o1-mini|o3-mini|claude-2|claude-instant|deepseek-(chat|reasoner))"
)
"""Models that take no images or documents at all, whichever endpoint serves them."""


class AttachmentRefused(TallybookError):
    """A file that cannot be attached, or sent where the message is going."""


@dataclass(frozen=True)
class Attachment:
    """One file of a message, as added: its name, media type and bytes."""

    name: str
    media_type: str
    data: bytes

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Attachment:
        """A file's bytes as an attachment, its type read from them.

        Raises:
            AttachmentRefused: empty, over :data:`MAX_BYTES`, or not an image or PDF.
        """
        if not data:
            raise AttachmentRefused(f"{name} is empty.")
        if len(data) > MAX_BYTES:
            raise AttachmentRefused(
                f"{name} is {_megabytes(len(data))}; a file can be at most {_megabytes(MAX_BYTES)}."
            )
        media_type = media_type_of(data)
        if media_type is None:
            raise AttachmentRefused(
                f"{name} is not an image (PNG, JPEG, GIF, WebP) or a PDF, so it cannot be sent."
            )
        return cls(name, media_type, data)

    @classmethod
    def from_path(cls, path: Path) -> Attachment:
        """A file on disk as an attachment (see :meth:`from_bytes`).

        Raises:
            AttachmentRefused: it cannot be read, or :meth:`from_bytes` refuses it.
        """
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:  # refused before a huge file is read at all
                raise AttachmentRefused(
                    f"{path.name} is {_megabytes(size)}; a file can be at most "
                    f"{_megabytes(MAX_BYTES)}."
                )
            data = path.read_bytes()
        except OSError as error:
            raise AttachmentRefused(f"{path.name} could not be read: {error.strerror}.") from None
        return cls.from_bytes(path.name, data)

    @property
    def is_image(self) -> bool:
        """An image (shown as a thumbnail), not a document (shown as a file chip)."""
        return self.media_type != PDF

    @property
    def size_text(self) -> str:
        """Its size as a person reads it (``340 KB``, ``2.1 MB``)."""
        return _megabytes(len(self.data))

    def part(self) -> ImagePart | DocumentPart:
        """What a request carries of it: an inline image, or an inline document."""
        data = base64.b64encode(self.data).decode("ascii")
        if self.is_image:
            return ImagePart(f"data:{self.media_type};base64,{data}")
        return DocumentPart(self.media_type, data, self.name)


def media_type_of(data: bytes) -> str | None:
    """The media type of an image or PDF from its first bytes; ``None`` for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)


def refusal(
    api: EndpointApi | str, model: str, parts: Sequence[ImagePart | DocumentPart]
) -> str | None:
    """Why a request carrying these files (the new message's and the history's) cannot go to
    ``model`` on an endpoint speaking ``api``; ``None`` if it can.

    Endpoints of unknown abilities are given the benefit of the doubt for images (Chat
    Completions' ``image_url`` is widely spoken) but not for PDFs, which OpenAI-compatible
    servers have no common way to take.
    """
    if not parts:
        return None
    if _TEXT_ONLY.search(model.strip().lower()):
        return f"{model} takes text only: remove the attachments, or choose a model that sees."
    if api == EndpointApi.COMPATIBLE and any(isinstance(p, DocumentPart) for p in parts):
        return (
            "This endpoint speaks OpenAI-compatible Chat Completions, which has no common way "
            "to send a PDF: remove it, or send it to OpenAI, Anthropic or Gemini."
        )
    if api == EndpointApi.ANTHROPIC:
        sizes = [_inline_size(p) for p in parts if isinstance(p, ImagePart)]
        if any(size > ANTHROPIC_MAX_IMAGE_BYTES for size in sizes):
            return (
                f"An image of {_megabytes(max(sizes))} is in this message or the conversation; "
                f"Anthropic takes images up to {_megabytes(ANTHROPIC_MAX_IMAGE_BYTES)}."
            )
    return None


def _inline_size(part: ImagePart) -> int:
    inline = part.inline_data()
    return 0 if inline is None else len(inline[1]) * 3 // 4


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
