"""Fuzzing every provider's stream parsing: whatever arrives, the ledger stays exact.

Well-formed streams of each protocol (OpenAI Chat Completions and Responses, Anthropic Messages,
Gemini) are built from event templates shaped like the real ones (and the emulator's), then
broken the ways real streams break: events mutated (wrong types at any path, usage counts
missing, negative, fractional or absurd), shuffled, repeated, dropped or interleaved with error
events, ``[DONE]`` and garbage; bytes cut anywhere, invalid UTF-8 and stray line ends inserted,
the connection dropped mid-event.

- A decoder reads any event or raises ``MalformedStream`` / ``MalformedUsage``, never anything
  else, and what it keeps as reported usage is always a sound count.
- Through the metering client, every stream ends in a recorded reply (complete, or incomplete
  with a specific error) that is exactly what an independent reading of the same bytes says
  (reported counts where reported, estimated elsewhere), and the ledger is exact: the balance
  equals the sum of the transactions, nothing is left pending or held, and the daily
  aggregates equal a fresh ``GROUP BY``.
"""

from __future__ import annotations

import codecs
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.core import conversations
from app.core.chats import Turn
from app.core.counting.tokens import TokenCounter
from app.core.errors import ProviderError, ProviderUnreachable
from app.core.keys import ApiKey
from app.core.ledger import entries
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, Metered, MeteringClient
from app.core.providers import anthropic, gemini, registry
from app.core.providers.anthropic import MessagesDecoder
from app.core.providers.base import (
    MalformedStream,
    ReasoningDelta,
    StreamDecoder,
    StreamState,
    TextDelta,
)
from app.core.providers.gemini import GeminiDecoder
from app.core.providers.openai import RESPONSES_RULES, ChatCompletionsDecoder, ResponsesDecoder
from app.core.providers.sse import ServerSentEvent, SSEDecoder, iter_sse
from app.core.providers.usage import (
    MAX_PLAUSIBLE_TOKENS,
    InputTokens,
    MalformedUsage,
    OutputTokens,
    ReportedUsage,
    UsageRules,
    extract,
)
from app.core.providers.vendors import chat_rules
from app.core.storage.db import Database
from app.core.storage.models import Message, Request, Transaction
from tests.core.ledger.test_rollups import assert_aggregates_exact

PROTOCOLS = ("chat", "responses", "anthropic", "gemini")
DECODERS: dict[str, Callable[[], StreamDecoder]] = {
    "chat": lambda: ChatCompletionsDecoder(),
    "responses": ResponsesDecoder,
    "anthropic": MessagesDecoder,
    "gemini": GeminiDecoder,
}
ROUTES = {  # protocol: (endpoint id, model); the Responses API is OpenAI's own, for o3-pro
    "chat": ("custom-fuzz-chat", "gpt-4o-mini"),
    "responses": ("openai", "o3-pro"),
    "anthropic": ("custom-fuzz-anthropic", "claude-haiku-4-5"),
    "gemini": ("custom-fuzz-gemini", "gemini-2.5-flash"),
}
PROMPT = (ChatMessage("user", "hi"),)
COUNTER = TokenCounter()  # one for the module: its encodings load once


# --- Events: what a stream is made of --------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One server-sent event: its name and its data, JSON (``raw=False``) or text as it is."""

    name: str
    data: Any
    raw: bool = False

    def text(self) -> str:
        return str(self.data) if self.raw else json.dumps(self.data)

    def sse(self) -> ServerSentEvent:
        return ServerSentEvent(self.name, self.text())


def encode(events: list[Event]) -> bytes:
    """The wire form; lone surrogates in raw text become the invalid bytes they would be."""
    out: list[str] = []
    for event in events:
        if event.name != "message":
            out.append(f"event: {event.name}\n")
        out.extend(f"data: {line}\n" for line in event.text().split("\n"))
        out.append("\n")
    return "".join(out).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Plan:
    """What a well-formed reply says: its text and its usage (cache writes: Anthropic only)."""

    pieces: tuple[str, ...]
    thinking: tuple[str, ...]
    uncached: int
    cache_read: int
    cache_write: int
    output: int
    reasoning: int

    def expected_usage(self, protocol: str) -> ReportedUsage:
        """The usage a decoder must read from the template, by the design's usage facts."""
        anthropic = protocol == "anthropic"
        return ReportedUsage(
            InputTokens(self.uncached, self.cache_write if anthropic else 0, 0, self.cache_read),
            OutputTokens(self.output, 0 if anthropic else self.reasoning),
        )

    @property
    def text(self) -> str:
        """The reply as a decoder passes it on: a lone surrogate becomes U+FFFD."""
        return "".join(
            "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in p) for p in self.pieces
        )


PIECES = st.lists(
    st.text(max_size=8) | st.sampled_from(["\ud800", "a\udc80b", "é", "🙂", "\r\n", "data: x\n\n"]),
    max_size=5,
).map(tuple)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    output = draw(st.integers(0, MAX_PLAUSIBLE_TOKENS) | st.integers(0, 2000))
    return Plan(
        pieces=draw(PIECES),
        thinking=draw(PIECES),
        uncached=draw(st.integers(0, MAX_PLAUSIBLE_TOKENS // 3) | st.integers(0, 5000)),
        cache_read=draw(st.integers(0, MAX_PLAUSIBLE_TOKENS // 3) | st.integers(0, 5000)),
        cache_write=draw(st.integers(0, MAX_PLAUSIBLE_TOKENS // 3) | st.integers(0, 5000)),
        output=output,
        reasoning=draw(st.integers(0, output)),
    )


def template(protocol: str, plan: Plan) -> list[Event]:
    """A well-formed stream of the protocol, shaped like the provider's own."""
    return {
        "chat": _chat,
        "responses": _responses,
        "anthropic": _anthropic,
        "gemini": _gemini,
    }[protocol](plan)


def _chat(plan: Plan) -> list[Event]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> Event:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return Event("message", {"object": "chat.completion.chunk", "choices": [choice]})

    usage = {
        "prompt_tokens": plan.uncached + plan.cache_read,
        "completion_tokens": plan.output,
        "total_tokens": plan.uncached + plan.cache_read + plan.output,
        "prompt_tokens_details": {"cached_tokens": plan.cache_read},
        "completion_tokens_details": {"reasoning_tokens": plan.reasoning},
    }
    return [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"reasoning_content": t}) for t in plan.thinking),
        *(chunk({"content": p}) for p in plan.pieces),
        chunk({}, "stop"),
        Event("message", {"object": "chat.completion.chunk", "choices": [], "usage": usage}),
        Event("message", "[DONE]", raw=True),
    ]


def _responses(plan: Plan) -> list[Event]:
    def event(kind: str, **fields: Any) -> Event:
        return Event(kind, {"type": kind, **fields})

    usage = {
        "input_tokens": plan.uncached + plan.cache_read,
        "input_tokens_details": {"cached_tokens": plan.cache_read},
        "output_tokens": plan.output,
        "output_tokens_details": {"reasoning_tokens": plan.reasoning},
        "total_tokens": plan.uncached + plan.cache_read + plan.output,
    }
    return [
        event("response.created", response={"status": "in_progress", "usage": None}),
        *(event("response.reasoning_summary_text.delta", delta=t) for t in plan.thinking),
        *(event("response.output_text.delta", output_index=0, delta=p) for p in plan.pieces),
        event("response.output_text.done", text="".join(plan.pieces)),
        event("response.completed", response={"status": "completed", "usage": usage}),
    ]


def _anthropic(plan: Plan) -> list[Event]:
    def event(kind: str, **fields: Any) -> Event:
        return Event(kind, {"type": kind, **fields})

    start_usage = {
        "input_tokens": plan.uncached,
        "cache_creation_input_tokens": plan.cache_write,
        "cache_read_input_tokens": plan.cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": plan.cache_write},
        "output_tokens": 1,
    }
    message = {"id": "msg_fuzz", "type": "message", "role": "assistant", "content": []}
    thinking = {"type": "thinking_delta", "thinking": ""}
    return [
        event("message_start", message={**message, "usage": start_usage}),
        event("ping"),
        *(
            event("content_block_delta", index=0, delta={**thinking, "thinking": t})
            for t in plan.thinking
        ),
        event("content_block_start", index=1, content_block={"type": "text", "text": ""}),
        *(
            event("content_block_delta", index=1, delta={"type": "text_delta", "text": p})
            for p in plan.pieces
        ),
        event("content_block_stop", index=1),
        event(
            "message_delta", delta={"stop_reason": None}, usage={"output_tokens": plan.output // 2}
        ),
        event(
            "message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": plan.output}
        ),
        event("message_stop"),
    ]


def _gemini(plan: Plan) -> list[Event]:
    prompt = {
        "promptTokenCount": plan.uncached + plan.cache_read,
        "cachedContentTokenCount": plan.cache_read,
    }
    thoughts = {"thoughtsTokenCount": plan.reasoning} if plan.reasoning else {}

    def chunk(parts: list[dict[str, Any]], usage: dict[str, Any], **candidate: Any) -> Event:
        content = {"parts": parts, "role": "model"}
        return Event(
            "message",
            {
                "candidates": [{"content": content, "index": 0, **candidate}],
                "usageMetadata": usage,
                "modelVersion": "gemini-2.5-flash",
            },
        )

    final = {
        **prompt,
        "candidatesTokenCount": plan.output - plan.reasoning,
        **thoughts,
        "totalTokenCount": plan.uncached + plan.cache_read + plan.output,
    }
    return [
        *(chunk([{"text": t, "thought": True}], {**prompt, **thoughts}) for t in plan.thinking),
        *(chunk([{"text": p}], {**prompt, **thoughts}) for p in plan.pieces),
        chunk([], final, finishReason="STOP"),
    ]


# --- Breaking them --------------------------------------------------------------------------

_DELETE = object()
ABSURD_COUNTS = (-1, -(10**30), 10**30, MAX_PLAUSIBLE_TOKENS, MAX_PLAUSIBLE_TOKENS + 1, 2**64)
NOT_COUNTS: tuple[object, ...] = (
    1.5,
    -0.5,
    1e300,
    float("nan"),
    float("inf"),
    0.0,
    7.0,
    True,
    None,
    "12",
    [],
    {},
)
ODD_COUNTS = st.sampled_from([0, *ABSURD_COUNTS, *NOT_COUNTS])
ODD_VALUES = st.one_of(
    ODD_COUNTS,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["\ud800", "[DONE]", "error", "message_stop", "STOP", "stop"]),
    st.lists(st.integers(0, 3) | st.text(max_size=2), max_size=3),
    st.dictionaries(
        st.sampled_from(["type", "text", "message", "usage", "delta", "error", "parts"]),
        st.integers(0, 3) | st.text(max_size=3) | st.none(),
        max_size=2,
    ),
)
USAGE_KEYS = {
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "ephemeral_5m_input_tokens",
    "ephemeral_1h_input_tokens",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "totalTokenCount",
    "usage",
    "usageMetadata",
    "prompt_tokens_details",
    "completion_tokens_details",
    # The vendors' own shapes (issue 12): compaction steps, Groq's x_groq, DeepSeek's hits,
    # xAI's and OpenRouter's own costs, server tools, llama.cpp's timings, typed content.
    "iterations",
    "x_groq",
    "prompt_cache_hit_tokens",
    "prompt_cache_miss_tokens",
    "cost_in_usd_ticks",
    "num_sources_used",
    "cost",
    "is_byok",
    "cost_details",
    "upstream_inference_cost",
    "server_tool_use",
    "web_search_requests",
    "cache_creation",
    "timings",
    "prompt_n",
    "cache_n",
    "predicted_n",
    "audio_tokens",
    "image_tokens",
    "service_tier",
}
KINDS = {
    "chat": ["message"],
    "responses": [
        "response.created",
        "response.output_text.delta",
        "response.reasoning_text.delta",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
    ],
    "anthropic": [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    ],
    "gemini": ["message"],
}
ERRORS: dict[str, list[dict[str, Any]]] = {
    "chat": [{"error": {"message": "Upstream overloaded", "code": 502}}, {"error": "boom"}],
    "responses": [
        {"type": "error", "message": "Server error", "code": "server_error"},
        {"type": "response.failed", "response": {"error": {"message": "failed"}}},
        {"type": "response.failed", "response": "failed"},
        {"type": "response.failed"},
    ],
    "anthropic": [
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {"type": "error", "error": "Overloaded"},
        {"type": "error"},
    ],
    "gemini": [{"error": {"code": 503, "message": "UNAVAILABLE"}}, {"error": ["x"]}],
}
NOT_JSON = ("", "{", '{"type":', "NaN ", "\ud800", "1" * 5000, "[" * 5000)
"""A 5,000-digit number and deep nesting are refused by ``json.loads`` itself, not as syntax."""
WRONG_JSON = ("[DONE]", " [DONE] ", "null", "[]", "{}", '"text"', "true", '{"choices": 5}')
GARBAGE = st.one_of(
    st.sampled_from([*NOT_JSON, *WRONG_JSON]),
    st.text(max_size=20),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = deepcopy(value)
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if new is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


@st.composite
def extra_events(draw: st.DrawFn, protocol: str) -> Event:
    """An event that does not belong: an error, ``[DONE]``, garbage, a bare or torn event."""
    name = draw(st.sampled_from(KINDS[protocol]))
    kind = draw(st.sampled_from(["error", "garbage", "bare", "torn"]))
    if kind == "error":
        error = draw(st.sampled_from(ERRORS[protocol]))
        return Event(str(error.get("type", "message")), error)
    if kind == "garbage":
        return Event(name, draw(GARBAGE), raw=True)
    if kind == "bare":  # a known kind with none of its fields
        return Event(name, {"type": name} if name != "message" else {})
    text = json.dumps(template(protocol, draw(plans()))[-1].data)
    return Event(name, text[: draw(st.integers(0, max(len(text) - 1, 0)))], raw=True)


OPERATIONS = (
    "mutate",
    "mutate",
    "usage",
    "insert",
    "insert",
    "shuffle",
    "repeat",
    "drop",
    "rename",
)


@st.composite
def broken_streams(draw: st.DrawFn, protocol: str) -> list[Event]:
    """A well-formed stream, then up to five of the ways streams go wrong."""
    events = template(protocol, draw(plans()))
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(OPERATIONS))
        index = draw(st.integers(0, max(len(events) - 1, 0)))
        if op == "insert" or not events:
            events.insert(draw(st.integers(0, len(events))), draw(extra_events(protocol)))
        elif op == "mutate":
            event = events[index]
            if event.raw:
                events[index] = Event(event.name, draw(GARBAGE), raw=True)
            else:
                path = draw(st.sampled_from(list(_paths(event.data))))
                new = draw(ODD_VALUES | st.just(_DELETE)) if path else draw(ODD_VALUES)
                events[index] = Event(event.name, _replaced(event.data, path, new))
        elif op == "usage":
            targets = [
                (i, path)
                for i, event in enumerate(events)
                if not event.raw
                for path in _paths(event.data)
                if path and path[-1] in USAGE_KEYS
            ]
            if targets:
                i, path = draw(st.sampled_from(targets))
                new = draw(ODD_COUNTS | st.just(_DELETE))
                events[i] = Event(events[i].name, _replaced(events[i].data, path, new))
        elif op == "shuffle":
            events = list(draw(st.permutations(events)))
        elif op == "repeat":
            events.insert(draw(st.integers(0, len(events))), events[index])
        elif op == "drop":
            del events[index]
        else:
            events[index] = Event(draw(st.sampled_from(KINDS[protocol])), events[index].data)
    return events


BAD_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf0\x9f")
STRAY_SSE = (b"\r", b"\n", b"\n\n", b"\r\n\r\n", b"\xef\xbb\xbf", b":", b"data: ", b"\x00")
NOISE = st.sampled_from(
    [*BAD_UTF8, *STRAY_SSE, b"event: error\n", b"data: [DONE]\n\n"]
) | st.binary(min_size=1, max_size=4)


@dataclass(frozen=True)
class Wire:
    """A reply's bytes as they arrive, and whether the connection then closed cleanly."""

    chunks: tuple[bytes, ...]
    clean_end: bool

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


@st.composite
def wires(draw: st.DrawFn, events: st.SearchStrategy[list[Event]]) -> Wire:
    """Bytes damaged one way or another in about half of the examples, so that replies that
    end well (with whatever their events say) are not crowded out."""
    body = bytearray(encode(draw(events)))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(body)))
        body[at:at] = draw(NOISE)
    if draw(st.integers(0, 3)) == 0:  # cut at any byte
        body = body[: draw(st.integers(0, len(body)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
    chunks = tuple(bytes(body[a:b]) for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True))
    return Wire(chunks, clean_end=draw(st.integers(0, 3)) > 0)


# --- What a sound decoder state is ----------------------------------------------------------


def assert_sound(state: StreamState) -> None:
    """Reported counts are whole, non-negative and plausible; the halves combine."""
    usage = state.usage
    counts: list[object] = []
    if usage.input is not None:
        counts += [usage.input.prompt, usage.input.cache_write, usage.input.cache_write_1h]
        counts += [usage.input.cache_read, usage.input.total]
        counts += [n for _, n in usage.input.other]
    if usage.output is not None:
        counts += [usage.output.total, usage.output.reasoning]
        counts += [n for _, n in usage.output.other]
        assert usage.output.reasoning <= usage.output.total
    for count in counts:
        assert type(count) is int and 0 <= count <= MAX_PLAUSIBLE_TOKENS, count
    usage.complete()  # a TokenUsage: never refused by the ledger
    assert isinstance(state.finished, bool)
    assert state.finish_reason is None or isinstance(state.finish_reason, str)
    if state.finish_reason is not None:
        state.finish_reason.encode()


def assert_specific(error: ProviderError) -> None:
    """A user-facing error: its own class and a sentence that can be shown and stored."""
    assert isinstance(error, MalformedStream | MalformedUsage | ProviderUnreachable), error
    assert str(error).strip()
    str(error).encode()


# --- Decoders alone -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_well_formed_streams_decode_exactly_however_chunked(
    protocol: str, data: st.DataObject
) -> None:
    plan = data.draw(plans())
    body = encode(template(protocol, plan))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    decoder = DECODERS[protocol]()
    text = ""
    for event in iter_sse(chunks):
        for delta in decoder.feed(event):
            text += delta.text if isinstance(delta, TextDelta) else ""
    assert text == plan.text
    assert decoder.state.usage == plan.expected_usage(protocol)
    assert decoder.state.finished or decoder.state.finish_reason is not None


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_events_give_deltas_or_a_specific_error(protocol: str, data: st.DataObject) -> None:
    events = data.draw(broken_streams(protocol))
    decoder = DECODERS[protocol]()
    for event in events:
        try:
            deltas = decoder.feed(event.sse())
        except (MalformedStream, MalformedUsage) as error:
            assert_specific(error)  # and the decoder stays usable: keep feeding it
        else:
            for delta in deltas:
                assert isinstance(delta, TextDelta | ReasoningDelta)
                delta.text.encode()  # storable: no lone surrogate
        assert_sound(decoder.state)


USAGE_SHAPES = st.recursive(
    ODD_COUNTS | st.integers(0, 10**4) | st.text(max_size=3),
    lambda inner: (
        st.dictionaries(st.sampled_from(sorted(USAGE_KEYS)), inner, max_size=5)
        | st.lists(
            inner | st.fixed_dictionaries({"modality": st.just("TEXT"), "tokenCount": inner}),
            max_size=3,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    usage=USAGE_SHAPES,
    reader=st.sampled_from(
        [
            ("usage", chat_rules("openai")),
            ("usage", chat_rules("openrouter")),
            ("usage", chat_rules("xai")),
            ("usage", chat_rules("groq")),
            ("usage", chat_rules("deepseek")),
            ("usage", chat_rules(None)),
            ("usage", RESPONSES_RULES),
            ("usage", anthropic.USAGE_RULES),
            ("usageMetadata", gemini.USAGE_RULES),
        ]
    ),
    with_output=st.booleans(),
)
def test_extract_reads_or_refuses_any_usage(
    usage: Any, reader: tuple[str, UsageRules], with_output: bool
) -> None:
    root, rules = reader
    try:
        reported = extract({root: usage}, rules, with_output=with_output)
    except MalformedUsage as error:
        assert_specific(error)
    else:
        assert_sound(StreamState(usage=reported))


# --- Through the metering client, onto the ledger -------------------------------------------


@pytest.fixture(scope="module")
def template_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated ledger with one endpoint per protocol and a conversation, copied per example."""
    path = tmp_path_factory.mktemp("fuzz") / "template.sqlite3"
    database = Database(path)
    with database.write() as session:
        registry.add_endpoint(session, "Fuzz chat", "http://fuzz.test/v1", api="compatible")
        registry.add_endpoint(session, "Fuzz anthropic", "http://fuzz.test", api="anthropic")
        registry.add_endpoint(session, "Fuzz gemini", "http://fuzz.test", api="gemini")
        conversations.create_conversation(session, title="Fuzz")
    database.close()
    return path


@dataclass(frozen=True)
class Reading:
    """What the bytes say, read without the metering client: the oracle."""

    text: str
    state: StreamState
    error: ProviderError | None


def read_directly(protocol: str, wire: Wire) -> Reading:
    """Decode the bytes as the metering client should: up to the first error; a dropped
    connection never delivers its torn last event."""
    if wire.clean_end:
        events = list(iter_sse([wire.body]))
    else:
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        events = SSEDecoder().feed(utf8.decode(wire.body))
    decoder = DECODERS[protocol]()
    text: list[str] = []
    for event in events:
        try:
            deltas = decoder.feed(event)
        except ProviderError as error:
            return Reading("".join(text), decoder.state, error)
        text += [d.text for d in deltas if isinstance(d, TextDelta)]
    return Reading("".join(text), decoder.state, None)


def send(template: Path, protocol: str, wire: Wire, in_conversation: bool) -> None:
    """Send one request whose reply is ``wire``, then check the reply and the ledger."""
    path = template.with_name(f"{uuid.uuid4().hex}.sqlite3")
    shutil.copy(template, path)
    database = Database(path)

    def body() -> Iterator[bytes]:
        yield from wire.chunks
        if not wire.clean_end:
            raise httpx2.ReadError("connection dropped mid-reply")

    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    client = MeteringClient(
        database,
        counter=COUNTER,
        transport=httpx2.MockTransport(handler),
        key_for=lambda _: ApiKey("fuzz-key"),
        retries=0,
    )
    endpoint, model = ROUTES[protocol]
    conversation = 1 if in_conversation else None
    try:
        metered = client.send(ChatRequest(endpoint, model, PROMPT, hooks=Turn(conversation)))
        check_reply(metered, read_directly(protocol, wire), wire, model)
        check_ledger(database, metered)
    finally:
        client.close()
        database.close()
    assert_aggregates_exact(path)
    for leftover in path.parent.glob(f"{path.name}*"):
        leftover.unlink()


def check_reply(metered: Metered, reading: Reading, wire: Wire, model: str) -> None:
    """The reply is what the bytes say: reported counts where reported, estimates elsewhere."""
    assert isinstance(metered, Metered)
    if reading.error is not None:
        assert type(metered.error) is type(reading.error)
        assert str(metered.error) == str(reading.error)
    elif not wire.clean_end:
        assert type(metered.error) is ProviderUnreachable
    else:
        assert metered.error is None
    if metered.error is not None:
        assert_specific(metered.error)
    if hypothesis.currently_in_test_context():  # coverage: pytest --hypothesis-show-statistics
        error = type(metered.error).__name__ if metered.error else "no error"
        hypothesis.event(f"{metered.status}, {error}")
    ended = reading.state.finished or reading.state.finish_reason is not None
    complete = ended and metered.error is None
    assert metered.status == ("complete" if complete else "incomplete")
    assert metered.text == reading.text
    usage, reported = metered.usage, reading.state.usage
    assert metered.input_estimated == (reported.input is None)
    if reported.input is not None:
        assert usage.prompt_tokens == reported.input.prompt
        assert usage.cache_read_tokens == reported.input.cache_read
        assert usage.cache_write_tokens == reported.input.cache_write
        assert usage.cache_write_1h_tokens == reported.input.cache_write_1h
    else:
        assert usage.prompt_tokens == metered.estimate.tokens
    output = reported.output if complete else None
    assert metered.output_estimated == (output is None)
    if output is not None:
        assert (usage.completion_tokens, usage.reasoning_tokens) == (
            output.total,
            output.reasoning,
        )
    else:
        assert usage.completion_tokens == COUNTER.count_text(model, metered.text).tokens


def check_ledger(database: Database, metered: Metered) -> None:
    """Exact: balance = sum of the rows, nothing pending or held, the rows are the reply's."""
    with database.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session) == -metered.cost
        assert entries.current_balance(session) == metered.record.balance
        assert entries.pending_holds(session) == 0
        requests = session.scalars(select(Request)).all()
        assert [(r.id, r.status) for r in requests] == [(metered.request_id, metered.status)]
        rows = session.scalars(
            select(Transaction).where(Transaction.request_id == metered.request_id)
        ).all()
        assert sum((row.token_value for row in rows), Decimal(0)) == metered.record.total
        by_type: dict[str, Decimal] = {}
        for row in rows:
            by_type[row.token_type] = by_type.get(row.token_type, Decimal(0)) + row.raw_amount
            assert row.estimated == (
                metered.output_estimated
                if row.token_type == "completion"
                else metered.input_estimated
            )
        usage = metered.usage
        assert by_type["prompt"] == -usage.prompt_tokens
        assert by_type["completion"] == -usage.completion_tokens
        assert by_type.get("cache_read", 0) == -usage.cache_read_tokens
        assert by_type.get("cache_write", 0) == -(
            usage.cache_write_tokens + usage.cache_write_1h_tokens
        )
        if metered.message_id is not None:
            message = session.get(Message, metered.message_id)
            assert message is not None and message.content == metered.text


E2E = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@E2E
@given(data=st.data(), in_conversation=st.booleans())
def test_broken_streams_are_recorded_or_refused_and_the_ledger_stays_exact(
    template_ledger: Path, protocol: str, data: st.DataObject, in_conversation: bool
) -> None:
    wire = data.draw(wires(broken_streams(protocol)), "wire")
    send(template_ledger, protocol, wire, in_conversation)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(E2E, max_examples=15)
@given(data=st.data())
def test_well_formed_streams_are_charged_as_reported(
    template_ledger: Path, protocol: str, data: st.DataObject
) -> None:
    plan = data.draw(plans())
    wire = Wire((encode(template(protocol, plan)),), clean_end=True)
    reading = read_directly(protocol, wire)
    assert reading.error is None and reading.state.usage == plan.expected_usage(protocol)
    send(template_ledger, protocol, wire, in_conversation=True)


# --- What the fuzzing found, kept as plain examples -----------------------------------------

FOUND: list[tuple[str, list[Event], type[ProviderError] | ReportedUsage]] = [
    # Wrong types that escaped as TypeError / AttributeError / ValueError / RecursionError.
    ("chat", [Event("message", {"choices": 5})], MalformedStream),
    ("chat", [Event("message", "1" * 5000, raw=True)], MalformedStream),
    ("chat", [Event("message", "[" * 5000, raw=True)], MalformedStream),
    ("gemini", [Event("message", {"candidates": [{"content": {"parts": 7}}]})], MalformedStream),
    ("anthropic", [Event("error", {"type": "error", "error": "Overloaded"})], MalformedStream),
    (
        "responses",
        [Event("response.failed", {"type": "response.failed", "response": "x"})],
        MalformedStream,
    ),
    (
        "responses",
        [
            Event(
                "response.incomplete",
                {
                    "type": "response.incomplete",
                    "response": {
                        "incomplete_details": "max_output_tokens",
                        "usage": {"input_tokens": 3, "output_tokens": 2},
                    },
                },
            )
        ],
        ReportedUsage(InputTokens(3), OutputTokens(2)),
    ),
    # A reasoning count beyond any real one was kept (and stored on the request).
    (
        "chat",
        [
            Event(
                "message",
                {
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 5,
                        "completion_tokens": 3,
                        "completion_tokens_details": {"reasoning_tokens": 10**30},
                    },
                },
            )
        ],
        MalformedUsage,
    ),
    # A late (out of order) message_start took the cumulative output back to its placeholder 1.
    (
        "anthropic",
        [
            Event("message_delta", {"type": "message_delta", "usage": {"output_tokens": 42}}),
            Event(
                "message_start",
                {
                    "type": "message_start",
                    "message": {"usage": {"input_tokens": 7, "output_tokens": 1}},
                },
            ),
        ],
        ReportedUsage(InputTokens(7), OutputTokens(42)),
    ),
    # A usageMetadata without promptTokenCount was read as a reported input of 0 tokens.
    (
        "gemini",
        [
            Event(
                "message",
                {
                    "candidates": [{"finishReason": "STOP"}],
                    "usageMetadata": {"candidatesTokenCount": 3},
                },
            )
        ],
        ReportedUsage(None, OutputTokens(3)),
    ),
]


@pytest.mark.parametrize(("protocol", "events", "outcome"), FOUND)
def test_what_the_fuzzing_found(
    protocol: str, events: list[Event], outcome: type[ProviderError] | ReportedUsage
) -> None:
    decoder = DECODERS[protocol]()
    if isinstance(outcome, ReportedUsage):
        for event in events:
            decoder.feed(event.sse())
        assert decoder.state.usage == outcome
    else:
        with pytest.raises(outcome):
            for event in events:
                decoder.feed(event.sse())
    assert_sound(decoder.state)


def test_a_lone_surrogate_in_the_reply_is_stored_not_left_pending(template_ledger: Path) -> None:
    """JSON may carry half a surrogate pair; SQLite refused to store it, which rolled back the
    settlement and left the request pending, its hold never released."""
    events = [Event("message", {"choices": [{"delta": {"content": "\ud800 hi"}}]})]
    events.append(Event("message", "[DONE]", raw=True))
    send(template_ledger, "chat", Wire((encode(events),), clean_end=True), in_conversation=True)
