"""Billed units: what the ledger calls each unit a provider bills, and what kind of row it is.

Providers bill more than prompt and completion tokens: 1-hour cache writes apart from 5-minute
ones, audio and image tokens, web searches, code executions, a service tier's surcharge or
discount, a long prompt's tier, a context-compaction step. genai-prices keeps the registry of
such units (``genai_prices.units``: a usage key such as ``input_audio_tokens`` with its
dimensions, and the price key it is quoted in, per million tokens or per thousand calls) and the
prices of each model; Tallybook maps every provider's usage onto those usage keys
(:mod:`app.core.providers.usage`) and charges each priced unit as its own transaction here.

A ``token_type`` names the unit on the ledger. Token units keep LibreChat's four names as their
stem, so that every row counts towards one of input, output, cache write or cache read:

- ``prompt``, ``completion``, ``cache_read``, ``cache_write`` (5-minute or unspecified), then
  ``_<modality>`` (``prompt_audio``, ``completion_image``...), ``_1h`` (``cache_write_1h``),
  ``_reasoning`` / ``_citation`` / ``_tool`` where a model prices those apart;
- any other unit keeps genai-prices' usage key (``web_searches``, ``code_executions``...);
- a billed step besides the reply adds ``_<step>`` (``prompt_compaction``);
- a rate adjustment is ``<reason>:<unit>`` (``flex:prompt``, ``long context:completion``): the
  unit's row is charged at the list rate and the adjustment row adds the difference, so the
  surcharge or discount is visible on its own;
- :data:`PROVIDER_ADJUSTMENT` brings a request's charge to the provider's own figure.

A unit is priced apart only where the model has a price for it; otherwise its count is part of
its parent's (an audio token of a model without an audio price is a prompt token at the prompt
rate, as genai-prices computes it). A unit with no priced parent at all (a web search on a model
whose table has no search price) is charged at :data:`DEFAULT_UNIT_RATE` and flagged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from app.core.money import quantize_rate

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

PROVIDER_ADJUSTMENT = "provider_adjustment"
"""The row that makes a request's charge equal the cost its provider reported."""
COMPACTION = "compaction"
DEFAULT_UNIT_RATE = Decimal(10_000)
"""Credits per unit ($0.01) for a billed unit the price table has no price for: the list price of
a web search at Anthropic and OpenAI ($10 per 1,000), and flagged wherever it is charged."""
UNPRICED_SOURCE = "default for unpriced unit"
_STEM = {"input": "prompt", "output": "completion"}
_QUALIFIERS = ("reasoning", "citation", "tool")


class Kind(StrEnum):
    """What a transaction's row is, for the figures that sum tokens by kind."""

    INPUT = "input"
    OUTPUT = "output"
    CACHE_WRITE = "cache_write"
    CACHE_READ = "cache_read"
    OTHER = "other"
    """A billed unit that is not a token (web searches, code executions)."""
    ADJUSTMENT = "adjustment"
    """Money without tokens: a tier's surcharge or discount, the provider's own figure."""
    CREDITS = "credits"


TOKEN_KINDS = (Kind.INPUT, Kind.OUTPUT, Kind.CACHE_WRITE, Kind.CACHE_READ)
_STEMS = {
    Kind.INPUT: "prompt",
    Kind.OUTPUT: "completion",
    Kind.CACHE_WRITE: "cache_write",
    Kind.CACHE_READ: "cache_read",
}


@dataclass(frozen=True)
class UnitCost:
    """What one billed unit of a reply came to: ``amount`` units (positive) for ``cost``."""

    token_type: str
    amount: Decimal
    cost: Decimal


PLAIN_TOKEN_TYPES = frozenset({"prompt", "completion", "cache_read", "cache_write"})
"""The rows every chat client shows as tokens in, out and cached; the rest are extras."""


def extra_units(rows: Iterable[tuple[str, Decimal, Decimal]]) -> tuple[UnitCost, ...]:
    """The rows of a reply beyond its plain tokens (1-hour cache writes, searches, a step, a
    tier's adjustment, the provider's figure), from ``(token_type, raw_amount, token_value)``
    as the ledger stores them (negative for spend)."""
    return tuple(
        UnitCost(token_type, -amount, -value)
        for token_type, amount, value in rows
        if token_type not in PLAIN_TOKEN_TYPES and token_type != Kind.CREDITS.value
    )


def is_default_rated(rate_source: str) -> bool:
    """Whether a row was charged at a default rate (an unknown model, an unpriced unit)."""
    return "default for" in rate_source


@dataclass(frozen=True)
class UnitInfo:
    """A registered unit as Tallybook uses it."""

    usage_key: str
    token_type: str
    kind: Kind
    per: int
    side: str = field(default="input")


def token_type_of(usage_key: str) -> str:
    """The ledger's name for a genai-prices usage key (``cache_audio_read_tokens`` ->
    ``cache_read_audio``); an unregistered key keeps its own name."""
    info = registered().get(usage_key)
    return info.token_type if info else usage_key


def kind_of(token_type: str) -> Kind:
    """The kind of a transaction's ``token_type``, whatever step or adjustment it names."""
    if token_type == Kind.CREDITS.value:
        return Kind.CREDITS
    if ":" in token_type or token_type == PROVIDER_ADJUSTMENT:
        return Kind.ADJUSTMENT
    for kind, stem in _STEMS.items():
        if token_type == stem or token_type.startswith(stem + "_"):
            return kind
    return Kind.OTHER


def label_of(token_type: str) -> str:
    """A few words for a ``token_type``, as the reply footer and reports show it."""
    if token_type == PROVIDER_ADJUSTMENT:
        return "provider's figure"
    reason, _, unit = token_type.rpartition(":")
    if reason:
        return f"{reason} ({label_of(unit)})"
    words = token_type.replace("_", " ")
    return {
        "prompt": "input",
        "completion": "output",
        "cache read": "cache reads",
        "cache write": "cache writes",
        "cache write 1h": "1-hour cache writes",
    }.get(words, words)


def unit_rate(price: Decimal, usage_key: str) -> Decimal:
    """Credits per unit from a price in USD per the unit's quantum (per 1M tokens, per 1,000
    searches): a token's rate is the price itself, a search's is a thousandth of a dollar times
    the price, exactly."""
    per = registered()[usage_key].per if usage_key in registered() else 1_000_000
    return quantize_rate(price * 1_000_000 / per)


def side_of(usage_key: str) -> str:
    """``output`` for output tokens and for units reported with the reply's end (searches,
    tool calls), ``input`` for input tokens."""
    info = registered().get(usage_key)
    return info.side if info else "output"


def kind_clause(column: Any, kind: Kind) -> ColumnElement[bool]:
    """SQL for "this ``token_type`` column is of ``kind``" (the names' stems make it a prefix
    test, so new units and steps need no list)."""
    from sqlalchemy import and_, not_, or_

    adjustment = or_(column.contains(":"), column == PROVIDER_ADJUSTMENT)
    if kind in _STEMS:
        stem = _STEMS[kind]
        return and_(or_(column == stem, column.like(f"{stem}\\_%", escape="\\")), not_(adjustment))
    if kind is Kind.ADJUSTMENT:
        return adjustment
    if kind is Kind.CREDITS:
        return column == Kind.CREDITS.value  # type: ignore[no-any-return]
    tokens = or_(*(kind_clause(column, k) for k in TOKEN_KINDS))
    return and_(not_(tokens), not_(adjustment), column != Kind.CREDITS.value)


def spend_clause(column: Any) -> ColumnElement[bool]:
    """SQL for "this row is spend" (everything but top-ups and refills)."""
    return column != Kind.CREDITS.value  # type: ignore[no-any-return]


def check_counts(counts: Mapping[str, int]) -> None:
    """Raise ``ValueError`` when the counts do not nest (a part larger than its whole: 900
    cached tokens of a 500-token prompt), as genai-prices' own decomposition checks."""
    leaves(counts, frozenset(counts) & frozenset(registered()))


def leaves(counts: Mapping[str, int], priced: frozenset[str]) -> dict[str, int]:
    """Each priced unit's own count: its reported count less what its priced parts count
    (genai-prices' ``compute_leaf_values``, with the order of the units worked out once per
    set of priced units, since every request of a model has the same set)."""
    leaves: dict[str, int] = {}
    for key, parts in _decomposition(priced):
        leaf = counts.get(key, 0) - sum(leaves[part] for part in parts)
        if leaf < 0:
            raise ValueError(f"Invalid usage data: the parts of {key} exceed it ({counts})")
        leaves[key] = leaf
    return leaves


@functools.lru_cache(maxsize=256)
def _decomposition(priced: frozenset[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The priced units, most specific first, each with the priced units inside it."""
    from genai_prices.decompose import is_descendant_or_self

    units = unit_registry().units
    ordered = sorted(
        (units[key] for key in priced), key=lambda u: (-len(u.dimensions), u.usage_key)
    )
    return tuple(
        (
            unit.usage_key,
            tuple(
                other.usage_key
                for other in ordered
                if other is not unit and is_descendant_or_self(unit, other)
            ),
        )
        for unit in ordered
    )


@functools.cache
def ancestors(key: str) -> frozenset[str]:
    return frozenset(unit_registry().ancestor_usage_keys(key))


def ordered(keys: frozenset[str]) -> Iterator[str]:
    """The registry's order: input, output, the cache kinds, then modalities and other units."""
    return (key for key in unit_registry().units if key in keys)


@functools.cache
def unit_registry() -> Any:
    from genai_prices.units import _get_registry

    return _get_registry()


@functools.cache
def registered() -> Mapping[str, UnitInfo]:
    return {key: _info(unit) for key, unit in unit_registry().units.items()}


def _info(unit: Any) -> UnitInfo:
    dims = unit.dimensions
    if dims.get("family") != "tokens":
        side = dims.get("direction", "output")  # a search is reported with the reply's end
        return UnitInfo(unit.usage_key, unit.usage_key, Kind.OTHER, unit.per, side)
    special = dims.get("token_type")
    if special in ("cache_read", "cache_write"):
        stem, kind = special, Kind(special)
    else:
        stem = _STEM[dims["direction"]]
        kind = Kind.INPUT if dims["direction"] == "input" else Kind.OUTPUT
    parts = [stem]
    if modality := dims.get("modality"):
        parts.append(modality)
    if ttl := dims.get("cache_ttl"):
        parts.append(ttl)
    if special in _QUALIFIERS:
        parts.append(special)
    return UnitInfo(unit.usage_key, "_".join(parts), kind, unit.per, dims["direction"])
