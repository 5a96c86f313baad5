"""Counting a request's prompt tokens before it is sent.

OpenAI models are counted with their own encoding and the chat format's overhead, as OpenAI's
cookbook ("How to count tokens with tiktoken") documents: 3 tokens per message, 1 per ``name``, 3
to prime the reply; tool definitions by the cookbook's formula; images by OpenAI's tile or patch
formula; documents (PDFs) by their pages, always as estimates. Anthropic and Google publish no
tokenizer, so their counts are ``o200k_base`` counts scaled by a per-family factor and always
marked as estimates (their own count endpoints can replace them; see the provider modules).
Every count says whether it is exact and how it was made.

Counting is incremental: each message's count is cached by its content hash and the counting
rules, in a bounded LRU, so re-counting a long conversation after one new message encodes only
that message, and an edited message (a new hash) is never served a stale count.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.counting.documents import document_tokens
from app.core.counting.encodings import get_encoding
from app.core.counting.images import (
    AnthropicPixels,
    GeminiTiles,
    ImageRule,
    Patches,
    Tiles,
    image_tokens,
)
from app.core.messages import ChatMessage, DocumentPart, ToolSpec

REPLY_PRIMING = 3
_VENDOR_PREFIX = re.compile(r"^(?:models/|[a-z0-9_.-]+/)")


@dataclass(frozen=True)
class ToolOverhead:
    """The cookbook's per-function constants for tool definitions."""

    function_start: int
    properties_start: int
    property_key: int
    enum_start: int
    enum_item: int
    functions_end: int


TOOLS_O200K = ToolOverhead(7, 3, 3, -3, 3, 12)
TOOLS_CL100K = ToolOverhead(10, 3, 3, -3, 3, 12)


@dataclass(frozen=True)
class CountingRules:
    """How one model's prompts are counted.

    Attributes:
        family: ``openai``, ``anthropic``, ``gemini`` or ``other``.
        exact: counts follow the provider's own tokenizer (OpenAI models only).
        factor: multiplier from an ``o200k_base`` count to this family's tokens (estimates).
    """

    family: str
    encoding: str
    exact: bool
    factor: float
    tokens_per_message: int
    tokens_per_name: int
    images: ImageRule
    tools: ToolOverhead

    @property
    def cache_tag(self) -> str:
        """What a cached per-message count depends on besides the message itself."""
        return f"{self.encoding}/{self.tokens_per_message}/{self.tokens_per_name}/{self.images}"

    @property
    def method(self) -> str:
        """How counts are made, as stored beside the estimate and shown to the user."""
        if self.exact:
            return f"tiktoken {self.encoding}"
        return f"{self.encoding} x{self.factor:g}, {self.family}'s tokenizer is not public"


@dataclass(frozen=True)
class TokenCount:
    """A prompt's token count and how far it can be trusted."""

    tokens: int
    exact: bool
    method: str


# Estimate factors against o200k_base for tokenizers that are not public (measured drift is
# kept per model after each reply: see reports.estimate_accuracy).
FAMILY_FACTORS = {"anthropic": 1.2, "gemini": 1.05, "other": 1.1}


def counting_rules(model: str) -> CountingRules:
    """The rules for a model name as users and providers spell it.

    OpenAI's gpt-5/6, gpt-4.1, gpt-4.5, gpt-4o, o1/o3/o4 families (and dated snapshots, and the same
    names behind a ``vendor/`` prefix on compatible endpoints) use ``o200k_base``; gpt-4 and
    gpt-3.5-turbo use ``cl100k_base``. Everything else is an estimate.
    """
    name = _VENDOR_PREFIX.sub("", model.strip().lower())
    encoding = openai_encoding(name)
    if encoding is not None:
        legacy = name.startswith("gpt-3.5-turbo-0301")
        return CountingRules(
            family="openai",
            encoding=encoding,
            exact=True,
            factor=1.0,
            tokens_per_message=4 if legacy else 3,
            tokens_per_name=-1 if legacy else 1,
            images=_openai_images(name),
            tools=TOOLS_O200K if encoding == "o200k_base" else TOOLS_CL100K,
        )
    family = (
        "anthropic"
        if name.startswith("claude")
        else "gemini"
        if name.startswith(("gemini", "gemma"))
        else "other"
    )
    family_images: dict[str, ImageRule] = {"anthropic": AnthropicPixels(), "gemini": GeminiTiles()}
    images = family_images.get(family, Tiles(85, 170))
    return CountingRules(
        family=family,
        encoding="o200k_base",
        exact=False,
        factor=FAMILY_FACTORS[family],
        tokens_per_message=3,
        tokens_per_name=1,
        images=images,
        tools=TOOLS_O200K,
    )


def openai_encoding(name: str) -> str | None:
    """The encoding of an OpenAI model name (already lowercased, without prefix), if it is one."""
    if re.match(
        r"^(ft:)?(gpt-[5-9]|gpt-4\.[15]|gpt-4o|chatgpt-4o|o[134](-|$)|gpt-oss|codex)", name
    ):
        return "o200k_base"
    if re.match(r"^(ft:)?(gpt-4|gpt-3\.5|gpt-35)", name):
        return "cl100k_base"
    return None


def _openai_images(name: str) -> ImageRule:
    patch_models = {
        "gpt-5-mini": 1.62,
        "gpt-5-nano": 2.46,
        "gpt-4.1-mini": 1.62,
        "gpt-4.1-nano": 2.46,
        "o4-mini": 1.72,
    }
    for prefix, multiplier in patch_models.items():
        if name.startswith(prefix):
            return Patches(multiplier)
    if name.startswith("gpt-4o-mini"):
        return Tiles(2833, 5667)
    if re.match(r"^gpt-[5-9]", name):
        return Tiles(70, 140)
    if re.match(r"^o[13](-|$)", name):
        return Tiles(75, 150)
    return Tiles(85, 170)


class TokenCounter:
    """Counts texts and chat payloads, caching each message's count.

    The cache key is the message value itself (with the counting rules), so a hit is an exact
    match by equality, never a hash collision, and any edit misses. It is bounded both in entries
    and in the characters the cached messages hold, and forgets the least recently used first.
    Thread-safe; one instance is meant to be shared by the whole app.
    """

    def __init__(self, max_messages: int = 50_000, max_characters: int = 8_000_000) -> None:
        self._cache: OrderedDict[tuple[ChatMessage, str], tuple[int, bool]] = OrderedDict()
        self._max_messages = max_messages
        self._max_characters = max_characters
        self._characters = 0
        self._lock = threading.Lock()

    def count_text(self, model: str, text: str) -> TokenCount:
        """Tokens of a plain text (no chat overhead)."""
        rules = counting_rules(model)
        raw = len(get_encoding(rules.encoding).encode_ordinary(text))
        return TokenCount(_scaled(raw, rules), rules.exact, rules.method)

    def count_chat(
        self, model: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> TokenCount:
        """Prompt tokens of a chat request: messages, reply priming, tool definitions."""
        rules = counting_rules(model)
        counts = self.message_counts(rules, messages)
        return self.total(rules, counts, tools)

    def message_counts(
        self, rules: CountingRules, messages: Sequence[ChatMessage]
    ) -> list[tuple[int, bool]]:
        """Each message's own tokens (overhead included) and whether that count is exact."""
        tag = rules.cache_tag
        cache = self._cache
        with self._lock:
            results = [cache.get((message, tag)) for message in messages]
            for message, hit in zip(messages, results, strict=True):
                if hit is not None:
                    cache.move_to_end((message, tag))
        missing = [i for i, hit in enumerate(results) if hit is None]
        if missing:
            encoding = get_encoding(rules.encoding)
            fresh = {i: _message_tokens(rules, encoding, messages[i]) for i in missing}
            with self._lock:
                for index, count in fresh.items():
                    results[index] = count
                    self._remember((messages[index], tag), count)
        return [count for count in results if count is not None]

    def _remember(self, key: tuple[ChatMessage, str], count: tuple[int, bool]) -> None:
        if key in self._cache:
            return
        self._cache[key] = count
        self._characters += key[0].size
        while len(self._cache) > self._max_messages or self._characters > self._max_characters:
            (evicted, _), _ = self._cache.popitem(last=False)
            self._characters -= evicted.size

    def total(
        self,
        rules: CountingRules,
        counts: Sequence[tuple[int, bool]],
        tools: Sequence[ToolSpec] = (),
    ) -> TokenCount:
        """The request's count from per-message counts (used again when trimming)."""
        raw = sum(tokens for tokens, _ in counts) + REPLY_PRIMING
        exact = rules.exact and all(exact for _, exact in counts)
        if tools:
            raw += tool_definition_tokens(rules, get_encoding(rules.encoding), tools)
            exact = False  # the cookbook's formula is itself an approximation
        method = rules.method if exact or not rules.exact else f"{rules.method}, approximate parts"
        return TokenCount(_scaled(raw, rules), exact, method)

    def __len__(self) -> int:
        return len(self._cache)


def _scaled(raw: int, rules: CountingRules) -> int:
    return raw if rules.factor == 1.0 else math.ceil(raw * rules.factor)


@functools.lru_cache(maxsize=4096)
def _short_tokens(encoding_name: str, text: str) -> int:
    """Tokens of a role, name or call id: few distinct values, counted once each."""
    return len(get_encoding(encoding_name).encode_ordinary(text))


def _message_tokens(rules: CountingRules, encoding: Any, message: ChatMessage) -> tuple[int, bool]:
    encode = encoding.encode_ordinary
    short = rules.encoding
    tokens = rules.tokens_per_message + _short_tokens(short, message.role)
    exact = True
    for part in message.parts:
        if isinstance(part, str):
            tokens += len(encode(part))
        elif isinstance(part, DocumentPart):
            tokens += document_tokens(rules.family, part)
            exact = False  # pages times a per-page figure
        else:
            image, known = image_tokens(rules.images, part)
            tokens += image
            exact = exact and known
    if message.name is not None:
        tokens += _short_tokens(short, message.name) + rules.tokens_per_name
    if message.tool_call_id is not None:
        tokens += _short_tokens(short, message.tool_call_id)
    for call in message.tool_calls:
        tokens += 3 + _short_tokens(short, call.name) + len(encode(call.arguments))
        exact = False  # OpenAI documents no formula for tool calls
    return tokens, exact


def tool_definition_tokens(rules: CountingRules, encoding: Any, tools: Sequence[ToolSpec]) -> int:
    """Tokens of the ``tools`` definitions, by the OpenAI cookbook's formula."""
    overhead = rules.tools
    encode = encoding.encode_ordinary
    tokens = 0
    for tool in tools:
        tokens += overhead.function_start
        tokens += len(encode(f"{tool.name}:{tool.description.removesuffix('.')}"))
        properties = tool.parameters.get("properties") or {}
        if properties:
            tokens += overhead.properties_start
        for key, schema in properties.items():
            schema = schema if isinstance(schema, dict) else {}
            tokens += overhead.property_key
            enum = schema.get("enum") or []
            if enum:
                tokens += overhead.enum_start
                for item in enum:
                    tokens += overhead.enum_item + len(encode(str(item)))
            kind = schema.get("type", "object")
            description = str(schema.get("description", "")).removesuffix(".")
            tokens += len(encode(f"{key}:{kind}:{description}"))
    return tokens + overhead.functions_end if tools else 0
