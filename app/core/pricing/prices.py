"""Rates per model: the shipped price table, the user's overrides, and a flagged default.

Rates are LibreChat's: credits per token, the same number as USD per million tokens. They come
from `genai-prices` (Pydantic's price data, shipped inside its wheel: model matching, cache
prices, long-context tiers, dated price changes), rounded to six decimals. A model the table does
not know is charged at the user's default rate and every such transaction says so in its
``rate_source``; nothing is ever priced at zero by accident.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.errors import InvalidAmount, InvalidSetting, UnknownModel
from app.core.money import require_amount
from app.core.paths import resource_path
from app.core.pricing import units
from app.core.storage import settings
from app.core.storage.models import PriceOverride

OVERRIDE_SOURCE = "user override"
DEFAULT_SOURCE = "default for unknown model"
LONG_CONTEXT = "long context"
"""The reason of an adjustment for a prompt past a long-context price tier."""
DEFAULT_RATES_KEY = "default_rates"
ONLINE_UPDATES_KEY = "price_updates_online"
SHIPPED_DEFAULT_RATES = {"prompt": "10", "completion": "30"}
"""Until the user sets their own: gpt-4-turbo's prices, dear enough that an unknown model is
never cheaper on the ledger than it could be at the provider, and flagged either way."""
MAX_RATE = Decimal(1_000_000)
"""The dearest rate an override or default may set: $1,000,000 per 1M tokens ($1 a token).

:data:`money.MAX_AMOUNT` bounds an *amount* ($1,000,000 in credits), and a rate is credits per
token, so that bound alone let a rate through up to $1,000,000 a token, which reads as
$1,000,000,000,000 per 1M tokens; a rate is bounded in its own unit."""

# Tallybook's provider names -> genai-prices provider ids, where they differ.
_CATALOG_PROVIDER = {"gemini": "google", "xai": "x-ai", "grok": "x-ai"}
_PREFIXES_TO_DROP = ("models/",)


@dataclass(frozen=True)
class RateAdjustment:
    """A rate that differs from the list price for one request: a service tier's (``flex``,
    ``priority``, ``batch``) or a long prompt's tier (``long context``).

    Attributes:
        delta: credits per unit added to the list rate (negative for a discount).
    """

    reason: str
    usage_key: str
    delta: Decimal


@dataclass(frozen=True)
class Rates:
    """What one model costs per unit of each billed unit, and where those numbers came from.

    Attributes:
        units: credits per unit at the list price, by genai-prices usage key (``input_tokens``,
            ``cache_write_1h_tokens``, ``web_searches``...): only the units the model prices,
            plus the cache kinds, which always have a rate (the input rate when the table has
            none), so cache rows are always their own.
        adjustments: what this request's service tier and prompt size change.
    """

    model: str
    units: Mapping[str, Decimal]
    source: str
    adjustments: tuple[RateAdjustment, ...] = ()

    @property
    def prompt(self) -> Decimal:
        """Credits per input token, as this request pays it (adjustments included)."""
        return self.rate("input_tokens")

    @property
    def completion(self) -> Decimal:
        """Credits per output token, as this request pays it."""
        return self.rate("output_tokens")

    @property
    def cache_write(self) -> Decimal:
        """Credits per 5-minute cache-write token."""
        return self.rate("cache_write_tokens")

    @property
    def cache_write_1h(self) -> Decimal:
        """Credits per 1-hour cache-write token."""
        return self.rate("cache_write_1h_tokens")

    @property
    def cache_read(self) -> Decimal:
        """Credits per cache-read token."""
        return self.rate("cache_read_tokens")

    def rate(self, usage_key: str) -> Decimal:
        """The rate of one unit with this request's adjustments."""
        listed = self.units[usage_key]
        return listed + sum(
            (a.delta for a in self.adjustments if a.usage_key == usage_key), Decimal(0)
        )

    @property
    def is_default(self) -> bool:
        """True when the model is unknown and charged at the user's default rate."""
        return DEFAULT_SOURCE in self.source


@dataclass(frozen=True)
class RateOverride:
    """The user's rates for one model; ``None`` keeps the table's rate for that token type."""

    model: str
    prompt: Decimal | None = None
    completion: Decimal | None = None
    cache_write: Decimal | None = None
    cache_read: Decimal | None = None


@dataclass(frozen=True)
class ModelLimits:
    """Context window (input + output) and the longest reply, where known."""

    context_window: int | None
    max_output: int | None


class PriceBook:
    """Resolves a model name, as the user or provider spells it, to its rates and limits."""

    def __init__(self, overrides: Mapping[str, RateOverride], default: RateOverride) -> None:
        self._overrides = {normalize_model(name): o for name, o in overrides.items()}
        self._default = default

    @classmethod
    def load(cls, session: Session) -> PriceBook:
        """The price book with the overrides and default rates stored in the ledger file."""
        overrides = {o.model: o for o in list_overrides(session)}
        return cls(overrides, default_rates(session))

    def rates(
        self,
        model: str,
        *,
        provider: str | None = None,
        input_tokens: int = 0,
        at: datetime | None = None,
        tier: Mapping[str, str] | None = None,
    ) -> Rates:
        """Rates for one request.

        Args:
            model: the name as typed or reported (``gpt-4o-2024-08-06``, ``openai/gpt-4o``,
                ``models/gemini-2.5-pro``).
            provider: the endpoint's provider id, when known (OpenRouter prices differ).
            input_tokens: all input tokens of the request; selects long-context tiers.
            at: when the request ran (prices change over time); default now.
            tier: how the provider says it served the request, as genai-prices' price
                context (``{"service_tier": "flex"}``, ``{"processing": "batch"}``).
        """
        override = self._overrides.get(normalize_model(model))
        try:
            rates = catalog_rates(model, provider, input_tokens, at or utcnow(), tier)
        except UnknownModel:
            if override is None:
                return _rates_from(self._default, model, DEFAULT_SOURCE, fallback=None)
            complete = override.prompt is not None and override.completion is not None
            source = OVERRIDE_SOURCE if complete else f"{OVERRIDE_SOURCE} + {DEFAULT_SOURCE}"
            return _rates_from(override, model, source, fallback=self._default)
        if override is None:
            return rates
        return _apply_override(rates, override)

    def limits(self, model: str, *, provider: str | None = None) -> ModelLimits:
        """Context and output limits, from the price table and ``resources/model_limits.json``."""
        family = _family_limits(_bare_name(normalize_model(model)))
        try:
            info = _catalog_model(
                normalize_model(model), _catalog_provider(provider), _snapshot().timestamp
            )
        except UnknownModel:
            return family
        window = info.context_window or family.context_window
        return ModelLimits(context_window=window, max_output=family.max_output)


def normalize_model(model: str) -> str:
    """The lookup key for a model name: trimmed, lowercased, without ``models/``."""
    name = model.strip().lower()
    for prefix in _PREFIXES_TO_DROP:
        name = name.removeprefix(prefix)
    return name


def catalog_version() -> str:
    """The price source as stored in ``rate_source``, e.g. ``genai-prices 0.2.3``.

    When online updates replaced the shipped data, says so with the time of the fetched data.
    """
    from genai_prices import __version__

    snapshot = _snapshot()
    if snapshot.from_auto_update:
        return f"genai-prices {__version__} + online data of {snapshot.timestamp:%Y-%m-%d %H:%M}"
    return f"genai-prices {__version__}"


def online_updates_enabled(session: Session) -> bool:
    """Whether the user opted in to fetching newer prices while the app runs (off by default)."""
    return settings.get(session, ONLINE_UPDATES_KEY, False)


def set_online_updates(session: Session, enabled: bool) -> None:
    """Opt in or out of online price updates; the app never needs them to start."""
    settings.put(session, ONLINE_UPDATES_KEY, enabled)


def start_online_updates() -> Any:
    """Fetch newer prices from genai-prices' repository in its own background thread, hourly.

    Returns the updater; call its ``stop()`` on exit. A failed fetch keeps the prices in use.
    """
    from genai_prices import UpdatePrices

    updater = UpdatePrices()
    updater.start(wait=False)
    return updater


def catalog_rates(
    model: str,
    provider: str | None,
    input_tokens: int,
    at: datetime,
    tier: Mapping[str, str] | None = None,
) -> Rates:
    """Rates from the shipped price table alone: list prices, and as adjustments what the
    service ``tier`` and a long prompt's price tier change.

    Raises:
        UnknownModel: the table has no entry that matches ``model``.
    """
    when = (at.replace(tzinfo=UTC) if at.tzinfo is None else at).replace(second=0, microsecond=0)
    model_id, points = _price_points(
        normalize_model(model),
        _catalog_provider(provider),
        _snapshot().timestamp,
        when,
        tuple(sorted((tier or {}).items())),
    )
    rates: dict[str, Decimal] = {}
    adjustments: list[RateAdjustment] = []
    reason = "+".join(sorted((tier or {}).values()))
    for key, base, at_tier, tiered in points:
        rates[key] = base
        if at_tier != base:
            adjustments.append(RateAdjustment(reason, key, at_tier - base))
        if tiered is not None:
            at_size = units.unit_rate(_tier_price(tiered, input_tokens), key)
            if at_size != at_tier:
                adjustments.append(RateAdjustment(LONG_CONTEXT, key, at_size - at_tier))
    if "input_tokens" not in rates or "output_tokens" not in rates:
        missing = "input" if "input_tokens" not in rates else "output"
        raise UnknownModel(f"The price table has no {missing} price for {model!r}.")
    _fill_cache_rates(rates, adjustments)
    return Rates(model_id, rates, catalog_version(), tuple(adjustments))


PricePoint = tuple[str, Decimal, Decimal, Any]
"""A unit's usage key, list rate, rate at the service tier, and its tiered prices (or None)."""


@functools.lru_cache(maxsize=512)
def _price_points(
    model: str,
    provider: str | None,
    snapshot_time: datetime,
    when: datetime,
    tier: tuple[tuple[str, str], ...],
) -> tuple[str, tuple[PricePoint, ...]]:
    """The table's prices of one model at one minute, per registered unit (cached: a request
    asks for its rates when it is quoted and again when it is settled).

    Raises:
        UnknownModel: the table has no entry that matches ``model``.
    """
    from genai_prices import types

    info = _catalog_model(model, provider, snapshot_time)
    listed = info.get_prices(when)
    served = info.get_prices(when, dict(tier)) if tier else listed
    registry = units.unit_registry()

    def base_rate(key: str, value: Any) -> Decimal:
        price = _tier_price(value, 0) if isinstance(value, types.TieredPrices) else value
        return units.unit_rate(Decimal(price), key)

    points: list[PricePoint] = []
    for price_key in {**vars(listed), **vars(served)}:
        try:
            key = registry.unit_for_price_key(price_key).usage_key
        except KeyError:
            continue  # a price this version of the table does not register
        list_value = getattr(listed, price_key, None)
        served_value = getattr(served, price_key, None)
        if served_value is None:
            continue
        base = base_rate(key, list_value if list_value is not None else served_value)
        tiered = served_value if isinstance(served_value, types.TieredPrices) else None
        points.append((key, base, base_rate(key, served_value), tiered))
    return info.id, tuple(points)


def _fill_cache_rates(rates: dict[str, Decimal], adjustments: list[RateAdjustment]) -> None:
    """Cache reads and writes are always rows of their own: without a price of their own they
    cost what the input (or a 1-hour write what a 5-minute write) costs, tier included."""
    for key, like in (
        ("cache_write_tokens", "input_tokens"),
        ("cache_write_1h_tokens", "cache_write_tokens"),
        ("cache_read_tokens", "input_tokens"),
    ):
        if key not in rates:
            rates[key] = rates[like]
            adjustments += [replace(a, usage_key=key) for a in adjustments if a.usage_key == like]


def list_overrides(session: Session) -> list[RateOverride]:
    """Every override the user has set, by model name."""
    rows = session.scalars(select(PriceOverride).order_by(PriceOverride.model))
    return [
        RateOverride(
            r.model, r.prompt_rate, r.completion_rate, r.cache_write_rate, r.cache_read_rate
        )
        for r in rows
    ]


def set_override(session: Session, override: RateOverride) -> None:
    """Store (or replace) the user's rates for one model.

    Raises:
        InvalidSetting: no model name.
        InvalidAmount: a rate the ledger cannot hold (see :func:`require_rate`).
    """
    model = normalize_model(override.model)
    if not model:
        raise InvalidSetting("A price override needs a model name.")
    for token_type in ("prompt", "completion", "cache_write", "cache_read"):
        rate = getattr(override, token_type)
        if rate is not None:
            require_rate(f"{token_type.replace('_', ' ')} rate", rate)
    row = session.get(PriceOverride, model)
    if row is None:
        row = PriceOverride(model=model, updated_at=utcnow())
        session.add(row)
    row.prompt_rate = override.prompt
    row.completion_rate = override.completion
    row.cache_write_rate = override.cache_write
    row.cache_read_rate = override.cache_read
    row.updated_at = utcnow()


def remove_override(session: Session, model: str) -> bool:
    """Forget the user's rates for a model; returns whether there were any."""
    row = session.get(PriceOverride, normalize_model(model))
    if row is None:
        return False
    session.delete(row)
    return True


def default_rates(session: Session) -> RateOverride:
    """The rates charged for models the price table does not know."""
    stored: dict[str, str] = settings.get(session, DEFAULT_RATES_KEY, SHIPPED_DEFAULT_RATES)
    return RateOverride(
        model="*",
        prompt=Decimal(stored["prompt"]),
        completion=Decimal(stored["completion"]),
    )


def require_rate(what: str, rate: Decimal) -> Decimal:
    """Refuse a rate the ledger cannot hold or no price comes near; returns it tidied.

    Raises:
        InvalidAmount: what :func:`money.require_amount` refuses, or above :data:`MAX_RATE`;
            the message names ``what``.
    """
    tidied = require_amount(what, rate)
    if tidied > MAX_RATE:
        raise InvalidAmount(
            f"the {what} {tidied:,f} is above the dearest rate Tallybook keeps "
            f"({MAX_RATE:,f} credits per token, $1,000,000 per 1M tokens)"
        )
    return tidied


def set_default_rates(session: Session, prompt: Decimal, completion: Decimal) -> None:
    """Set the rates for unknown models.

    Raises:
        InvalidAmount: a rate the ledger cannot hold (see :func:`require_rate`).
    """
    require_rate("default prompt rate", prompt)
    require_rate("default completion rate", completion)
    settings.put(
        session, DEFAULT_RATES_KEY, {"prompt": f"{prompt:f}", "completion": f"{completion:f}"}
    )


def _rates_from(
    given: RateOverride, model: str, source: str, *, fallback: RateOverride | None
) -> Rates:
    """Rates built from an override or the default alone (the table does not know the model)."""
    base = fallback or given
    prompt = given.prompt if given.prompt is not None else base.prompt
    completion = given.completion if given.completion is not None else base.completion
    assert prompt is not None and completion is not None  # the default always has both
    cache_write = given.cache_write if given.cache_write is not None else prompt
    cache_read = given.cache_read if given.cache_read is not None else prompt
    rates = {
        "input_tokens": prompt,
        "output_tokens": completion,
        "cache_write_tokens": cache_write,
        "cache_write_1h_tokens": cache_write,
        "cache_read_tokens": cache_read,
    }
    return Rates(model, rates, source)


def _apply_override(rates: Rates, override: RateOverride) -> Rates:
    """The user's rates replace the table's for the units they set; those units pay exactly
    the user's rate (no tier adjustment on top)."""
    changes = {
        key: value
        for name, key in _OVERRIDDEN_UNITS
        if (value := getattr(override, name)) is not None
    }
    if override.cache_write is not None:
        changes["cache_write_1h_tokens"] = override.cache_write
    kept = tuple(a for a in rates.adjustments if a.usage_key not in changes)
    return replace(
        rates, units={**rates.units, **changes}, source=OVERRIDE_SOURCE, adjustments=kept
    )


_OVERRIDDEN_UNITS = (
    ("prompt", "input_tokens"),
    ("completion", "output_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("cache_read", "cache_read_tokens"),
)


def _tier_price(tiered: Any, input_tokens: int) -> Decimal:
    """The "cliff" tier: past a threshold, every token of the request pays the tier's price."""
    for step in reversed(tiered.tiers):
        if input_tokens > step.start:
            return Decimal(step.price)
    return Decimal(tiered.base)


def _catalog_provider(provider: str | None) -> str | None:
    if provider is None:
        return None
    return _CATALOG_PROVIDER.get(provider.lower(), provider.lower())


def _snapshot() -> Any:
    """The price data in use: the shipped snapshot, or a newer one fetched online."""
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


@functools.lru_cache(maxsize=1024)
def _catalog_model(model: str, provider: str | None, snapshot_time: datetime) -> Any:
    """The genai-prices model entry, trying the name as given, then without its ``vendor/``.

    ``snapshot_time`` keys the cache to the price data in use, so an online update is seen.
    """
    snapshot = _snapshot()
    attempts: list[tuple[str, str | None]] = [(model, provider)]
    if provider is not None:
        attempts.append((model, None))
    if "/" in model:
        vendor, _, bare = model.partition("/")
        attempts += [(bare, _catalog_provider(vendor)), (bare, None)]
    for name, provider_id in attempts:
        try:
            return snapshot.find_provider_model(name, None, provider_id, None)[1]
        except LookupError:
            continue
    raise UnknownModel(f"The price table does not know the model {model!r}.")


def _bare_name(model: str) -> str:
    return model.rpartition("/")[2]


@functools.cache
def _families() -> tuple[tuple[re.Pattern[str], ModelLimits], ...]:
    data = json.loads(resource_path("model_limits.json").read_text(encoding="utf-8"))
    return tuple(
        (re.compile(f["match"]), ModelLimits(f.get("context_window"), f.get("max_output")))
        for f in data["families"]
    )


def _family_limits(model: str) -> ModelLimits:
    for pattern, limits in _families():
        if pattern.search(model):
            return limits
    return ModelLimits(context_window=None, max_output=None)
