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

from app.core import settings
from app.core.clock import utcnow
from app.core.errors import InvalidSetting, UnknownModel
from app.core.models import PriceOverride
from app.core.money import quantize_rate, require_amount
from app.core.paths import resource_path

OVERRIDE_SOURCE = "user override"
DEFAULT_SOURCE = "default for unknown model"
DEFAULT_RATES_KEY = "default_rates"
ONLINE_UPDATES_KEY = "price_updates_online"
SHIPPED_DEFAULT_RATES = {"prompt": "10", "completion": "30"}
"""Until the user sets their own: gpt-4-turbo's prices, dear enough that an unknown model is
never cheaper on the ledger than it could be at the provider, and flagged either way."""

# Tallybook's provider names -> genai-prices provider ids, where they differ.
_CATALOG_PROVIDER = {"gemini": "google", "xai": "x-ai", "grok": "x-ai"}
_PREFIXES_TO_DROP = ("models/",)


@dataclass(frozen=True)
class Rates:
    """What one model costs per token of each type, and where those numbers came from."""

    model: str
    prompt: Decimal
    completion: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    source: str

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
    ) -> Rates:
        """Rates for one request.

        Args:
            model: the name as typed or reported (``gpt-4o-2024-08-06``, ``openai/gpt-4o``,
                ``models/gemini-2.5-pro``).
            provider: the endpoint's provider id, when known (OpenRouter prices differ).
            input_tokens: all input tokens of the request; selects long-context tiers.
            at: when the request ran (prices change over time); default now.
        """
        override = self._overrides.get(normalize_model(model))
        try:
            rates = catalog_rates(model, provider, input_tokens, at or utcnow())
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


def catalog_rates(model: str, provider: str | None, input_tokens: int, at: datetime) -> Rates:
    """Rates from the shipped price table alone.

    Raises:
        UnknownModel: the table has no entry that matches ``model``.
    """
    from genai_prices import types

    info = _catalog_model(
        normalize_model(model), _catalog_provider(provider), _snapshot().timestamp
    )
    prices = info.get_prices(at.replace(tzinfo=UTC) if at.tzinfo is None else at)

    def rate(key: str, fallback: Decimal | None = None) -> Decimal:
        value = getattr(prices, key, None)
        if isinstance(value, types.TieredPrices):
            value = _tier_price(value, input_tokens)
        if value is None:
            if fallback is None:
                raise UnknownModel(f"The price table has no {key} price for {model!r}.")
            return fallback
        return quantize_rate(Decimal(value))

    prompt = rate("input_mtok")
    cache_write = rate("cache_write_mtok", prompt)
    return Rates(
        model=info.id,
        prompt=prompt,
        completion=rate("output_mtok"),
        cache_write=cache_write,
        cache_write_1h=rate("cache_write_1h_mtok", cache_write),
        cache_read=rate("cache_read_mtok", prompt),
        source=catalog_version(),
    )


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
        InvalidAmount: a rate the ledger cannot hold (see :func:`money.require_amount`).
    """
    model = normalize_model(override.model)
    if not model:
        raise InvalidSetting("A price override needs a model name.")
    for token_type in ("prompt", "completion", "cache_write", "cache_read"):
        rate = getattr(override, token_type)
        if rate is not None:
            require_amount(f"{token_type.replace('_', ' ')} rate", rate)
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


def set_default_rates(session: Session, prompt: Decimal, completion: Decimal) -> None:
    """Set the rates for unknown models.

    Raises:
        InvalidAmount: a rate the ledger cannot hold (see :func:`money.require_amount`).
    """
    require_amount("default prompt rate", prompt)
    require_amount("default completion rate", completion)
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
    return Rates(model, prompt, completion, cache_write, cache_write, cache_read, source)


def _apply_override(rates: Rates, override: RateOverride) -> Rates:
    changes: dict[str, Any] = {
        name: value
        for name in ("prompt", "completion", "cache_write", "cache_read")
        if (value := getattr(override, name)) is not None
    }
    if override.cache_write is not None:
        changes["cache_write_1h"] = override.cache_write
    return replace(rates, source=OVERRIDE_SOURCE, **changes)


def _tier_price(tiered: Any, input_tokens: int) -> Decimal:
    """The "cliff" tier: past a threshold, every token of the request pays the tier's price."""
    for tier in reversed(tiered.tiers):
        if input_tokens > tier.start:
            return Decimal(tier.price)
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
