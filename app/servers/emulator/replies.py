"""What the emulated models say and what they report for it: deterministic replies, usage, caching.

Replies depend only on the model and the last user text, so tests can predict them. Prompt tokens
for OpenAI models are exactly the app's own pre-send count (``TokenCounter.count_chat``); for any
other model they are the raw ``o200k_base`` chat count (the ``gpt-4o`` rules, without the family
factor the app applies to its estimates), so the app's estimate drifts from the "reported" figure
the way it does against the real providers. Completion tokens are the ``o200k_base`` count of the
text actually sent; reasoning models add a fixed :data:`REASONING_TOKENS`, which count against the
output limit as they do at the providers.

Prompt caching is simulated per emulator. Each request's messages are hashed as a chain (model,
tools, then one message at a time), and the chain points after "all but the last message" and
after "all messages" are remembered. The longest remembered point that is a prefix of a new
request's messages (excluding its last) is what the provider "has cached": sending the same
prefix twice hits it, and so does the next turn of a conversation.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.counting.encodings import get_encoding
from app.core.counting.tokens import REPLY_PRIMING, TokenCounter, counting_rules
from app.core.messages import ChatMessage, ToolSpec

REASONING_TOKENS = 32
CACHE_MINIMUM = 1024  # OpenAI and Gemini cache prompts from this many prefix tokens on
CACHE_STEP = 128  # and report cached tokens in steps of this size
ECHO_WORDS = 40  # a long prompt is echoed in part, so a long prompt is not a long reply
MAX_WORDS = 100_000
REMEMBERED_PREFIXES = 100_000

_TITLE_REQUEST = "Write a short title"
_CODE_WORDS = re.compile(r"\b(code|function|python|script)\b", re.IGNORECASE)
FRIENDLY = "This answer comes from Tallybook's offline demo, and every token of it is counted."
_LOREM_TEXT = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud "
    "exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in "
    "reprehenderit voluptate velit esse cillum eu fugiat nulla pariatur excepteur sint "
    "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est "
    "laborum"
)
LOREM = tuple(_LOREM_TEXT.split())
_WORDS_COMMAND = re.compile(r"^\s*/words\s+(\d+)")
_PIECE = re.compile(r"\s*\S+|\s+\Z")
_OPENAI_REASONING = re.compile(r"^(o[134](-|$)|gpt-[5-9])")


@dataclass(frozen=True)
class Prompt:
    """The prompt side of a request's usage.

    Attributes:
        tokens: the whole prompt (cached parts included).
        prefix_tokens: every message but the last, with the tool definitions.
        seen_tokens: the longest prefix an earlier request already sent (0 if none).
    """

    tokens: int
    prefix_tokens: int
    seen_tokens: int

    @property
    def openai_cached(self) -> int:
        """Cached tokens as OpenAI and Gemini report them: 1024 and up, in steps of 128."""
        if self.seen_tokens < CACHE_MINIMUM:
            return 0
        return self.seen_tokens // CACHE_STEP * CACHE_STEP


@dataclass(frozen=True)
class Reply:
    """A reply as it is sent: its text, the pieces it streams in, and its token counts."""

    text: str
    pieces: tuple[str, ...]
    tokens: int
    reasoning_tokens: int
    thinking: str
    truncated: bool

    @property
    def output_tokens(self) -> int:
        """Everything generated: the text and the reasoning."""
        return self.tokens + self.reasoning_tokens

    def running_tokens(self) -> list[int]:
        """Text tokens sent after each piece: never decreasing, and exact after the last one."""
        encoding = get_encoding("o200k_base")
        running: list[int] = []
        total = 0
        for piece in self.pieces:
            total += len(encoding.encode_ordinary(piece))
            running.append(min(total, self.tokens))
        if running:
            running[-1] = self.tokens
        return running


def pieces(text: str) -> tuple[str, ...]:
    """A text in the pieces it streams in: about a word each, joining back to the text."""
    return tuple(_PIECE.findall(text))


def is_openai_reasoning(model: str) -> bool:
    """o1/o3/o4 and gpt-5 onwards think before they answer (gpt-5-chat does not)."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    return bool(_OPENAI_REASONING.match(name)) and "chat" not in name


def is_gemini_reasoning(model: str) -> bool:
    """Gemini 2.5 and 3 think by default."""
    name = model.strip().lower().removeprefix("models/")
    return name.startswith(("gemini-2.5", "gemini-3"))


def last_user_text(messages: Sequence[ChatMessage]) -> str:
    """What the reply answers: the text of the last user message."""
    for message in reversed(messages):
        if message.role == "user":
            return message.text
    return ""


def reply_text(model: str, said: str) -> str:
    """The full reply before any output limit: an echo, ``/words N`` lorem words, a title for
    a title request, and a small code block when code is asked for (to show Markdown)."""
    command = _WORDS_COMMAND.match(said)
    if command:
        return lorem(model, min(int(command.group(1)), MAX_WORDS))
    if said.startswith(_TITLE_REQUEST):
        return _title_for(said.partition("\n\n")[2])
    words = said.split()
    if not words:
        return f"You said nothing, so I, {model}, have little to add. {FRIENDLY}"
    echo = " ".join(words[:ECHO_WORDS]) + (" ..." if len(words) > ECHO_WORDS else "")
    reply = f'You said: "{echo}" {FRIENDLY}'
    if _CODE_WORDS.search(said):
        reply += f"\n\n```python\ndef answer(question: str) -> str:\n    return {echo[:40]!r}\n```"
    return reply


def _title_for(message: str) -> str:
    """A title from the first words of the message, as a model would write it."""
    words = re.findall(r"[\w'-]+", message)[:5]
    return " ".join(words).capitalize() or "A new conversation"


def lorem(model: str, count: int) -> str:
    """``count`` lorem words, the same for the same model every time, in sentences of 12."""
    start = zlib.crc32(model.encode())
    words: list[str] = []
    for i in range(count):
        word = LOREM[(start + i * 7) % len(LOREM)]
        if i % 12 == 0:
            word = word.capitalize()
        if i % 12 == 11 or i == count - 1:
            word += "."
        words.append(word)
    return " ".join(words)


def make_reply(
    model: str, messages: Sequence[ChatMessage], *, limit: int | None, reasoning: bool
) -> Reply:
    """The reply to a request, cut to ``limit`` output tokens (reasoning counts against it)."""
    said = last_user_text(messages)
    text = reply_text(model, said)
    thinking_tokens = 0
    thinking = ""
    if reasoning:
        thinking_tokens = REASONING_TOKENS if limit is None else min(REASONING_TOKENS, limit)
        count = len(said.split())
        thinking = (
            f"The user wrote {count} word{'' if count == 1 else 's'}. "
            "An echo and one friendly sentence will answer."
        )
    encoding = get_encoding("o200k_base")
    tokens = encoding.encode_ordinary(text)
    truncated = False
    if limit is not None and len(tokens) > limit - thinking_tokens:
        truncated = True
        keep = max(limit - thinking_tokens, 0)
        text = encoding.decode(tokens[:keep]) if keep else ""
        tokens = encoding.encode_ordinary(text)
        while len(tokens) > keep:  # a decoded prefix can re-encode longer; shorten until it fits
            text = encoding.decode(tokens[: len(tokens) - 1])
            tokens = encoding.encode_ordinary(text)
    return Reply(
        text=text,
        pieces=pieces(text),
        tokens=len(tokens),
        reasoning_tokens=thinking_tokens,
        thinking=thinking,
        truncated=truncated,
    )


class Replies:
    """Counts prompts and remembers what was sent, for one emulator (thread-safe)."""

    def __init__(self, counter: TokenCounter | None = None) -> None:
        self.counter = counter or TokenCounter()
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def count(
        self, model: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> int:
        """Prompt tokens as the emulated provider reports them (see the module docstring)."""
        return self.counter.count_chat(counting_model(model), messages, tools).tokens

    def prompt(
        self,
        namespace: str,
        model: str,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        *,
        caching: bool = True,
    ) -> Prompt:
        """Count a prompt and, when ``caching``, look up and remember its prefixes.

        ``namespace`` keeps providers' caches apart (``openai``, ``anthropic``, ``gemini``).
        """
        rules = counting_rules(counting_model(model))
        counts = self.counter.message_counts(rules, messages)
        tokens = self.counter.total(rules, counts, tools).tokens
        message_tokens = [count for count, _ in counts]
        tool_tokens = tokens - sum(message_tokens) - REPLY_PRIMING
        prefix_end = max(len(messages) - 1, 0)
        prefix_tokens = tool_tokens + sum(message_tokens[:prefix_end])
        if not caching:
            return Prompt(tokens, prefix_tokens, 0)
        chain = _hash_chain(namespace, model, messages, tools)
        seen_tokens = 0
        with self._lock:
            for end in range(prefix_end, 0, -1):
                if chain[end] in self._seen:
                    seen_tokens = tool_tokens + sum(message_tokens[:end])
                    break
            for end in {prefix_end, len(messages)} - {0}:
                self._seen[chain[end]] = None
                self._seen.move_to_end(chain[end])
            while len(self._seen) > REMEMBERED_PREFIXES:
                self._seen.popitem(last=False)
        return Prompt(tokens, prefix_tokens, seen_tokens)


def counting_model(model: str) -> str:
    """The model whose rules count a prompt: itself for OpenAI models, else plain ``gpt-4o``."""
    return model if counting_rules(model).family == "openai" else "gpt-4o"


def _hash_chain(
    namespace: str, model: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
) -> list[bytes]:
    """``chain[k]`` identifies the first ``k`` messages (with the model and the tools)."""
    seed = json.dumps(
        [namespace, model, [tool.to_openai() for tool in tools]], sort_keys=True, default=str
    )
    digest = hashlib.sha256(seed.encode()).digest()
    chain = [digest]
    for message in messages:
        text = json.dumps(message.to_openai(), sort_keys=True, default=str)
        digest = hashlib.sha256(digest + text.encode()).digest()
        chain.append(digest)
    return chain
