"""Reading what a provider reports about a reply: every billed unit, and nothing dropped.

Providers disagree on what "input tokens" means (OpenAI's include cached tokens, Anthropic's
exclude cache reads and writes; Gemini's thoughts and xAI's reasoning are outside the output
count). genai-prices ships an extractor per provider and API flavour that maps a usage object
onto its registry of billed units (:mod:`app.core.pricing.units`); :class:`UsageRules` names the
extractor Tallybook uses for an endpoint and what Tallybook reads on top of it (vendors' own
fields, steps, the provider's own cost, the service tier).

Nothing is dropped silently: every non-zero number of the usage object must be a count Tallybook
mapped or a field known not to bill (``total_tokens``, timings); anything else is listed in
:attr:`ReportedUsage.unmapped`, and the request is flagged "usage not fully understood". The
usage object itself is kept (:attr:`ReportedUsage.raw`) on the request.

A stream may report its input and its output at different moments (Anthropic's
``message_start``, Gemini's cumulative ``usageMetadata``), and a cut stream may report only the
first: :class:`ReportedUsage` keeps the two halves apart so the metering client can fill the
missing half from its own count and mark only that half as estimated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from app.core.errors import ProviderError
from app.core.pricing.charges import ProviderFigure, TokenUsage
from app.core.pricing.units import check_counts, side_of

MAX_PLAUSIBLE_TOKENS = 10**8
"""Ten times the largest context window offered today; a count beyond it is a broken report.
Kept this low so amounts stay far inside the ledger's 64-bit integers: 10^8 tokens at even
$1,000 per million tokens is 10^17 millionths of a credit, and a balance would need about
ninety such requests ($9 billion) to reach the limit."""
NOT_BILLED = frozenset({"total_tokens", "totalTokenCount"})
"""Fields every flavour may carry that are sums of the others, never a billed unit."""
_CLASSIC_INPUT = frozenset(
    {"input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens"}
)
_CLASSIC_OUTPUT = frozenset({"output_tokens", "output_reasoning_tokens"})
_NAMED = _CLASSIC_INPUT | _CLASSIC_OUTPUT | {"cache_write_5m_tokens"}
"""Counts the named fields hold (a 5-minute write is a cache write that is not a 1-hour one)."""
Path = tuple[str, ...]


class MalformedUsage(ProviderError):
    """The provider's usage object is missing required fields or does not add up."""


@dataclass(frozen=True)
class InputTokens:
    """A request's input, split as it is priced.

    Attributes:
        other: input units by genai-prices usage key besides the four named ones (audio or
            image tokens, which are part of the counts above).
    """

    prompt: int
    cache_write: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    other: tuple[tuple[str, int], ...] = ()

    @property
    def total(self) -> int:
        """Every input token, cached or not."""
        return self.prompt + self.cache_write + self.cache_write_1h + self.cache_read


@dataclass(frozen=True)
class OutputTokens:
    """A reply's output; ``reasoning`` is part of ``total``.

    Attributes:
        other: units reported with the reply's end besides its tokens: output modalities (part
            of ``total``) and units of their own (web searches, code executions).
    """

    total: int
    reasoning: int = 0
    other: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ReportedUsage:
    """What the provider reported, each half ``None`` when it did not (yet) report it.

    Attributes:
        steps: billed sampling steps besides the reply (Anthropic's ``compaction``), known only
            with the output half.
        figure: the provider's own cost of the request, where it gave one.
        tier: how the provider says it served the request, as genai-prices' price context
            (``(("service_tier", "flex"),)``).
        raw: the usage object as it came (for the request's record).
        unmapped: ``path=value`` of every non-zero number Tallybook did not understand.
    """

    input: InputTokens | None = None
    output: OutputTokens | None = None
    steps: tuple[tuple[str, TokenUsage], ...] = ()
    figure: ProviderFigure | None = None
    tier: tuple[tuple[str, str], ...] = ()
    raw: Any = field(default=None, compare=False)
    unmapped: tuple[str, ...] = ()

    def complete(self) -> TokenUsage | None:
        """The ledger's usage, when both halves were reported."""
        if self.input is None or self.output is None:
            return None
        return combine(self.input, self.output, self.steps)


def combine(
    input_tokens: InputTokens,
    output: OutputTokens,
    steps: tuple[tuple[str, TokenUsage], ...] = (),
) -> TokenUsage:
    """One :class:`TokenUsage` from the two halves (and the billed steps, if any)."""
    return TokenUsage(
        prompt_tokens=input_tokens.prompt,
        completion_tokens=output.total,
        cache_write_tokens=input_tokens.cache_write,
        cache_write_1h_tokens=input_tokens.cache_write_1h,
        cache_read_tokens=input_tokens.cache_read,
        reasoning_tokens=min(output.reasoning, output.total),
        other=tuple(sorted((*input_tokens.other, *output.other))),
        steps=steps,
    )


Hook = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class UsageRules:
    """How one endpoint's usage is read: genai-prices' extractor, and Tallybook's additions.

    Attributes:
        provider: the genai-prices provider whose extractor reads the usage object.
        flavor: its API flavour (``chat``, ``responses``, ``default``).
        root: where the usage object is in a response (``usage``, ``usageMetadata``).
        extra: ``(path in the usage object, usage key)`` pairs Tallybook maps on top of the
            extractor's (counts the extractor leaves out).
        not_billed: paths known to carry no billed unit (timings, sums, flags).
        prepare: turns a response into the shape the extractor reads (a vendor that puts its
            usage elsewhere, or names a field its own way); runs first.
        figure: reads the provider's own cost from the usage object.
        tier: reads the service tier from the response.
        steps: splits a usage object into the reply's and billed steps' (Anthropic's
            ``iterations``).
        found_in: top-level fields where :attr:`prepare` finds a usage the response itself
            lacks (Groq's ``x_groq``, llama.cpp's ``timings``); other hooks only reshape one.
    """

    provider: str
    flavor: str = "default"
    root: str = "usage"
    extra: tuple[tuple[Path, str], ...] = ()
    not_billed: tuple[Path, ...] = ()
    prepare: Hook | None = None
    figure: Callable[[Mapping[str, Any]], ProviderFigure | None] | None = None
    tier: Callable[[Mapping[str, Any]], dict[str, str]] | None = None
    steps: Callable[[Mapping[str, Any]], list[tuple[str, Mapping[str, Any]]]] | None = None
    found_in: tuple[str, ...] = ()

    @functools.cached_property
    def understood(self) -> frozenset[Path]:
        """Every path whose numbers Tallybook reads or knows not to bill (loaded at first use,
        not import: the rules are module constants)."""
        paths = {_plain(m.path) for m in self._extractor().mappings}
        paths |= {path for path, _ in self.extra} | set(self.not_billed)
        paths |= {(name,) for name in NOT_BILLED}
        return frozenset(paths)

    def _extractor(self) -> Any:
        return _extractor(self.provider, self.flavor)

    def has_usage(self, response: Mapping[str, Any]) -> bool:
        """Whether a response (after :attr:`prepare`) carries a usage object (asked of every
        chunk of a stream, so the plain case is one lookup)."""
        if response.get(self.root):
            return True
        if not any(name in response for name in self.found_in):
            return False
        return bool(self._prepared(response).get(self.root))

    def _prepared(self, response: Mapping[str, Any]) -> dict[str, Any]:
        prepared = dict(response)
        if self.prepare is None:
            return prepared
        try:
            return self.prepare(prepared)
        except (TypeError, AttributeError, KeyError, ValueError):  # a shape nobody sends
            raise MalformedUsage("The usage the provider reported has an odd shape.") from None


def extract(
    response: Mapping[str, Any], rules: UsageRules, *, with_output: bool = True
) -> ReportedUsage:
    """Read a response-shaped object (``{"usage": ...}``, ``{"usageMetadata": ...}``).

    Args:
        with_output: ``False`` to keep only the input half (an early, non-final report).

    Raises:
        MalformedUsage: required fields missing, fractional, implausible, or parts larger than
            their whole (more cached tokens than input tokens).
    """
    prepared = rules._prepared(response)
    usage = prepared.get(rules.root)
    raw = response.get(rules.root) or usage  # as it came, before Tallybook's additions
    if not isinstance(usage, Mapping):
        raise MalformedUsage("The usage the provider reported is not an object.")
    parts = rules.steps(usage) if rules.steps else [("", usage)]
    reply: dict[str, int] = {}
    steps: list[tuple[str, TokenUsage]] = []
    unmapped: list[str] = []
    for step, part in parts:
        counts = _counts({**prepared, rules.root: part}, rules)
        unmapped += (f"{_dotted((rules.root, *p))}={v}" for p, v in _unknown(part, rules))
        if step:
            steps.append((step, combine(*_halves(counts))))
        else:
            reply = _sum_counts(reply, counts)
    input_tokens, output = _halves(reply)
    tier = tuple(sorted((rules.tier(prepared) if rules.tier else {}).items()))
    return ReportedUsage(
        input=input_tokens,
        output=output if with_output else None,
        steps=tuple(_merged(steps)) if with_output else (),
        figure=rules.figure(usage) if rules.figure and with_output else None,
        tier=tier,
        raw=raw,
        unmapped=tuple(unmapped) if with_output else (),
    )


def credits_from_usd(value: Any) -> Decimal | None:
    """Credits for a USD amount a provider wrote as a JSON number (``0.00219855``), rounded to
    the ledger's millionth of a credit; ``None`` for anything that is not an amount."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > 10**6:
        return None
    return (amount * 1_000_000).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def dig(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or ``None`` where a step is missing or not an object."""
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _counts(response: Mapping[str, Any], rules: UsageRules) -> dict[str, int]:
    """The usage's counts by usage key, checked: whole, plausible, nested."""
    try:
        _, usage = rules._extractor().extract(response)
    except (ValueError, LookupError) as error:
        raise MalformedUsage(f"The usage the provider reported cannot be read: {error}") from None
    counts: dict[str, Any] = {
        key: number
        for key in _destinations(rules.provider, rules.flavor)
        if (number := usage.reported_value(key))
    }
    root = response[rules.root]
    for path, key in rules.extra:
        number = dig(root, *path)
        if isinstance(number, bool) or not isinstance(number, int | float):
            continue
        if number < 0:
            raise MalformedUsage(f"The provider reported a negative {_dotted(path)}.")
        counts[key] = counts.get(key, 0) + number
    for key, number in counts.items():
        if number != int(number):
            raise MalformedUsage(f"The provider reported a fractional count for {key}.")
        if number > MAX_PLAUSIBLE_TOKENS:
            shown = f"{number:,}" if number < 10**15 else f"{number:.3g}"  # not 300 digits
            raise MalformedUsage(
                f"The provider reported {shown} {key.replace('_', ' ')}: not a real count."
            )
    whole = {key: int(number) for key, number in counts.items()}
    whole.setdefault("input_tokens", 0)
    whole.setdefault("output_tokens", 0)
    try:
        check_counts(whole)
    except ValueError as error:
        raise MalformedUsage(f"The usage the provider reported does not add up: {error}") from None
    return whole


def _halves(counts: Mapping[str, int]) -> tuple[InputTokens, OutputTokens]:
    cache_write = counts.get("cache_write_tokens", 0)
    cache_write_1h = counts.get("cache_write_1h_tokens", 0)
    cache_read = counts.get("cache_read_tokens", 0)
    prompt = counts.get("input_tokens", 0) - cache_read - cache_write
    if prompt < 0:
        raise MalformedUsage(
            f"The provider reported more cached tokens ({cache_read + cache_write}) than input "
            f"tokens ({counts.get('input_tokens', 0)})."
        )
    other_input = tuple(
        sorted(
            (key, n)
            for key, n in counts.items()
            if key not in _NAMED and side_of(key) == "input" and n
        )
    )
    other_output = tuple(
        sorted(
            (key, n)
            for key, n in counts.items()
            if key not in _NAMED and side_of(key) != "input" and n
        )
    )
    input_tokens = InputTokens(
        prompt, cache_write - cache_write_1h, cache_write_1h, cache_read, other_input
    )
    total = counts.get("output_tokens", 0)
    output = OutputTokens(total, counts.get("output_reasoning_tokens", 0), other_output)
    return input_tokens, output


def _sum_counts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    return {key: a.get(key, 0) + b.get(key, 0) for key in {*a, *b}}


def _merged(steps: list[tuple[str, TokenUsage]]) -> Iterator[tuple[str, TokenUsage]]:
    """One usage per kind of step (two compactions of one request are one compaction row)."""
    merged: dict[str, TokenUsage] = {}
    for name, usage in steps:
        if name in merged:
            merged[name] = replace(merged[name], steps=((name, usage),)).total()
        else:
            merged[name] = usage
    return iter(merged.items())


def _unknown(usage: Mapping[str, Any], rules: UsageRules) -> Iterator[tuple[Path, Any]]:
    """Every non-zero number of the usage object at a path Tallybook does not understand."""
    for path, value in _numbers(usage, ()):
        if not any(path[: len(known)] == known for known in rules.understood):
            yield path, value


def _numbers(data: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key != "iterations":  # steps, read one by one (see UsageRules.steps)
                yield from _numbers(value, (*path, str(key)))
    elif isinstance(data, list):
        for item in data:
            yield from _numbers(item, (*path, "[]"))
    elif isinstance(data, int | float) and not isinstance(data, bool) and data:
        yield path, data


def _plain(path: Any) -> Path:
    """A genai-prices mapping path as a tuple of keys (an array match becomes ``[]``)."""
    if isinstance(path, str):
        return (path,)
    return tuple(step if isinstance(step, str) else "[]" for step in path)


def _dotted(path: Path) -> str:
    return ".".join(path).replace(".[]", "[]")


@functools.cache
def _destinations(provider: str, flavor: str) -> frozenset[str]:
    return frozenset(m.dest for m in _extractor(provider, flavor).mappings)


@functools.cache
def _extractor(provider: str, flavor: str) -> Any:
    from genai_prices import data_snapshot

    owner = data_snapshot.get_snapshot().find_provider(None, provider, None)
    for candidate in owner.extractors or ():
        if candidate.api_flavor == flavor:
            return candidate
    raise LookupError(f"genai-prices has no {flavor!r} usage reader for {provider!r}")
