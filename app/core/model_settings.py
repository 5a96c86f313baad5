"""A conversation's model settings: temperature, reply limit, reasoning effort, thinking budget.

Each provider takes a different set, under different names and bounds: OpenAI's reasoning
models take ``reasoning_effort`` and refuse ``temperature``; Anthropic takes a temperature up to
1 and extended thinking with a ``budget_tokens`` of at least 1,024 below ``max_tokens`` (and no
temperature with it); Gemini 2.5 takes a ``thinkingBudget`` inside ``maxOutputTokens``.
:func:`offered` says what a model takes, :func:`validate` refuses what it would refuse, and
:func:`applicable` keeps, of a conversation's stored settings, what the model it now talks to
takes (a conversation can change models). Thinking and reasoning tokens are billed as output and
count within the reply limit, so the limit alone bounds what a reply can cost.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from app.core.errors import InvalidSetting
from app.core.types import WireApi

ANTHROPIC_DEFAULT_MAX_TOKENS = 4096
"""What Anthropic is asked for when neither the user nor the model table gives a reply limit
(the API requires one)."""
ANTHROPIC_MIN_THINKING = 1024
_OPENAI_REASONING = re.compile(r"(^|/)(o[1-9]|gpt-[5-9](?!.*chat))")
_REASONS_BY_DEFAULT = re.compile(
    r"(^|/)(o[1-9]|gpt-[5-9](?!.*chat)|gemini-(2\.5|[3-9])|deepseek-reasoner)"
)
_GPT5 = re.compile(r"(^|/)gpt-[5-9]")
_ANTHROPIC_THINKING = re.compile(r"claude-(3-7|(opus|sonnet|haiku)-[4-9]|[4-9])")
_GEMINI_THINKING = re.compile(r"gemini-2\.5-(pro|flash)")
EFFORTS = ("minimal", "low", "medium", "high")


@dataclass(frozen=True)
class ModelSettings:
    """What a conversation asks of its model; ``None`` leaves each to the provider's default."""

    temperature: float | None = None
    max_output_tokens: int | None = None
    reasoning_effort: str | None = None
    thinking_budget: int | None = None

    @property
    def is_default(self) -> bool:
        """Nothing chosen: every setting is the provider's."""
        return self == DEFAULT_SETTINGS

    def to_json(self) -> str:
        """As stored: ``""`` for the defaults, else a JSON object of the chosen settings."""
        chosen = {name: value for name, value in vars(self).items() if value is not None}
        return json.dumps(chosen, sort_keys=True) if chosen else ""

    @classmethod
    def from_json(cls, text: str | None) -> ModelSettings:
        """The settings stored as :meth:`to_json` wrote them. A value of the wrong kind (a cell
        edited by hand) is left at its default: it must not stop a conversation from opening."""
        try:
            stored = json.loads(text) if text else {}
        except (ValueError, RecursionError):
            return cls()
        if not isinstance(stored, dict):
            return cls()
        return cls(
            temperature=_number(stored.get("temperature")),
            max_output_tokens=_count(stored.get("max_output_tokens")),
            reasoning_effort=(
                stored["reasoning_effort"] if stored.get("reasoning_effort") in EFFORTS else None
            ),
            thinking_budget=_count(stored.get("thinking_budget"), least=0),
        )


DEFAULT_SETTINGS = ModelSettings()
"""Every setting left to the provider (what a new conversation starts with)."""


@dataclass(frozen=True)
class Offered:
    """Which settings a model takes on the protocol it is spoken to with, and their bounds.

    Attributes:
        temperature_max: the highest temperature it takes (from 0); ``None``: it takes none.
        max_output: the model's longest reply where the price table knows it (a reply limit
            is always taken).
        efforts: the reasoning efforts it takes (none: it has no such setting).
        thinking: the lowest and highest thinking budget it takes (no highest: below the
            reply limit is the only bound); ``None``: it takes none.
        thinking_excludes_temperature: a temperature cannot go with a thinking budget.
        default_max_output: the reply limit sent when none is chosen, where the request must
            carry one (Anthropic's).
        output_rate: credits per output token (thinking and reasoning tokens are billed so),
            where the caller priced the model: what a reply limit or a budget can cost.
    """

    temperature_max: float | None = None
    max_output: int | None = None
    efforts: tuple[str, ...] = ()
    thinking: tuple[int, int | None] | None = None
    thinking_excludes_temperature: bool = False
    default_max_output: int | None = None
    output_rate: Decimal | None = None

    def reply_limit(self, settings: ModelSettings) -> int | None:
        """The reply limit a request with these settings carries or meets."""
        return settings.max_output_tokens or self.max_output or self.default_max_output


def offered(api: WireApi, model: str, max_output: int | None, *, vendor: bool = True) -> Offered:
    """What ``model`` takes when spoken to in ``api``.

    Args:
        max_output: the model's longest reply, where known.
        vendor: the endpoint is the model's own vendor (or the offline demo standing in for
            it); an OpenAI-compatible server is offered a temperature and a reply limit only.
    """
    name = model.lower()
    if api == WireApi.ANTHROPIC:
        thinking = bool(_ANTHROPIC_THINKING.search(name))
        return Offered(
            temperature_max=1.0,
            max_output=max_output,
            thinking=(ANTHROPIC_MIN_THINKING, None) if thinking else None,
            thinking_excludes_temperature=True,
            default_max_output=ANTHROPIC_DEFAULT_MAX_TOKENS,
        )
    if api == WireApi.GEMINI:
        found = _GEMINI_THINKING.search(name)
        budget = None if found is None else (128, 32768) if found[1] == "pro" else (0, 24576)
        return Offered(temperature_max=2.0, max_output=max_output, thinking=budget)
    if _OPENAI_REASONING.search(name):
        efforts = (EFFORTS if _GPT5.search(name) else EFFORTS[1:]) if vendor else ()
        return Offered(max_output=max_output, efforts=efforts)
    return Offered(temperature_max=2.0, max_output=max_output)


def reasons_by_default(model: str) -> bool:
    """Whether a model thinks before it answers when asked nothing (its thinking counts
    against the reply limit)."""
    return bool(_REASONS_BY_DEFAULT.search(model.lower()))


def validate(settings: ModelSettings, offer: Offered) -> None:
    """Refuse what the model would refuse, in the user's words.

    Raises:
        InvalidSetting: a setting the model does not take, or out of its bounds.
    """
    if settings.temperature is not None:
        if offer.temperature_max is None:
            raise InvalidSetting("This model takes no temperature.")
        if not 0 <= settings.temperature <= offer.temperature_max:
            raise InvalidSetting(f"Temperature goes from 0 to {offer.temperature_max:g}.")
    limit = settings.max_output_tokens
    if limit is not None:
        if limit < 1:
            raise InvalidSetting("The max output must be at least 1 token.")
        if offer.max_output is not None and limit > offer.max_output:
            raise InvalidSetting(f"This model writes at most {offer.max_output:,} tokens.")
    if settings.reasoning_effort is not None and settings.reasoning_effort not in offer.efforts:
        raise InvalidSetting(
            f"Reasoning effort is one of {', '.join(offer.efforts)}."
            if offer.efforts
            else "This model takes no reasoning effort."
        )
    if settings.thinking_budget is not None:
        _validate_thinking(settings, offer)


def _validate_thinking(settings: ModelSettings, offer: Offered) -> None:
    budget = settings.thinking_budget
    assert budget is not None
    if offer.thinking is None:
        raise InvalidSetting("This model takes no thinking budget.")
    least, most = offer.thinking
    if budget < least or (most is not None and budget > most):
        bounds = f"from {least:,} to {most:,}" if most is not None else f"at least {least:,}"
        raise InvalidSetting(f"The thinking budget is {bounds} tokens.")
    limit = offer.reply_limit(settings)
    if budget and limit is not None and budget >= limit:
        raise InvalidSetting(
            f"The thinking budget must be below the max output ({limit:,} tokens): thinking "
            "counts within it, and the answer needs room too."
        )
    if offer.thinking_excludes_temperature and settings.temperature is not None:
        raise InvalidSetting("Extended thinking takes no temperature: leave it at Default.")


def applicable(settings: ModelSettings, offer: Offered) -> ModelSettings:
    """The stored settings a model takes: each one it would refuse is left at its default
    (a conversation moved to another model keeps working)."""
    kept = ModelSettings()
    for name in ("max_output_tokens", "thinking_budget", "reasoning_effort", "temperature"):
        value = getattr(settings, name)
        if value is None:
            continue
        candidate = replace(kept, **{name: value})
        try:
            validate(candidate, offer)
        except InvalidSetting:
            continue
        kept = candidate
    return kept


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return round(float(value), 2)


def _count(value: Any, *, least: int = 1) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        return None
    return value
