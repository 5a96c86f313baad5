"""Tokens of an image input, by each provider's published formula.

OpenAI (Images and vision guide): tile models scale the image to fit 2048x2048, then its short
side to 768, and charge ``base + tile x (512 px tiles)``; ``detail: low`` is ``base`` alone.
Patch models (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano) charge 32 px patches, capped at 1536
after scaling, times a model multiplier. Anthropic: about ``width x height / 750`` after fitting
1568 px on the long edge. Gemini: 258 tokens up to 384x384, else 258 per 768 px tile.

The size comes from the image bytes of a ``data:`` URL; a web URL's size is unknown here, so the
largest the formula allows is charged and the count is marked as an estimate.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass

from app.core.messages import ImagePart


@dataclass(frozen=True)
class Tiles:
    """OpenAI's tile formula."""

    base: int
    tile: int


@dataclass(frozen=True)
class Patches:
    """OpenAI's patch formula."""

    multiplier: float


@dataclass(frozen=True)
class AnthropicPixels:
    """Anthropic's pixels-over-750 rule."""


@dataclass(frozen=True)
class GeminiTiles:
    """Gemini's 258-token tiles."""


ImageRule = Tiles | Patches | AnthropicPixels | GeminiTiles

_PATCH = 32
_MAX_PATCHES = 1536


def image_tokens(rule: ImageRule, part: ImagePart) -> tuple[int, bool]:
    """Tokens for one image and whether that number is exact (the size was known)."""
    size = image_size(part.url)
    if size is None:
        return _largest(rule, part.detail), False
    return tokens_for_size(rule, *size, detail=part.detail), True


def tokens_for_size(rule: ImageRule, width: int, height: int, *, detail: str = "auto") -> int:
    """Tokens for an image of ``width`` x ``height`` pixels."""
    match rule:
        case Tiles(base, tile):
            if detail == "low":
                return base
            width, height = _fit(width, height, 2048, 2048)
            if min(width, height) > 768:
                scale = 768 / min(width, height)
                width, height = math.floor(width * scale), math.floor(height * scale)
            return base + tile * math.ceil(width / 512) * math.ceil(height / 512)
        case Patches(multiplier):
            return math.ceil(_patches(width, height) * multiplier)
        case AnthropicPixels():
            width, height = _fit(width, height, 1568, 1568)
            return math.ceil(width * height / 750)
        case GeminiTiles():
            if width <= 384 and height <= 384:
                return 258
            return 258 * math.ceil(width / 768) * math.ceil(height / 768)


def image_size(url: str) -> tuple[int, int] | None:
    """Width and height from a base64 ``data:`` URL; ``None`` when it cannot be read here."""
    inline = ImagePart(url).inline_data()
    if inline is None:
        return None
    try:
        raw = base64.b64decode(inline[1], validate=False)
    except (binascii.Error, ValueError):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:  # reads the header only
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return int(width), int(height)


def _patches(width: int, height: int) -> int:
    patches = math.ceil(width / _PATCH) * math.ceil(height / _PATCH)
    if patches <= _MAX_PATCHES:
        return patches
    shrink = math.sqrt(_PATCH * _PATCH * _MAX_PATCHES / (width * height))
    columns, rows = width * shrink / _PATCH, height * shrink / _PATCH
    shrink *= min(math.floor(columns) / columns, math.floor(rows) / rows)
    width_patches = math.ceil(math.floor(width * shrink) / _PATCH)
    height_patches = math.ceil(math.floor(height * shrink) / _PATCH)
    return min(width_patches * height_patches, _MAX_PATCHES)


def _fit(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    scale = min(1.0, max_width / width, max_height / height)
    return math.floor(width * scale), math.floor(height * scale)


def _largest(rule: ImageRule, detail: str) -> int:
    """The most an image of unknown size can cost under ``rule``."""
    match rule:
        case Tiles(base, _) if detail == "low":
            return base
        case Tiles():
            return tokens_for_size(rule, 768, 2048)
        case Patches(multiplier):
            return math.ceil(_MAX_PATCHES * multiplier)
        case AnthropicPixels():
            return math.ceil(1568 * 1568 / 750)
        case GeminiTiles():
            return 258 * 4
