"""The vendors of the OpenAI protocol, each read by its own rules.

They all answer in Chat Completions' shape, and they all bend it somewhere: xAI bills reasoning
outside ``completion_tokens``, Groq puts usage under ``x_groq``, DeepSeek names its cache hits
``prompt_cache_hit_tokens``, OpenRouter and xAI report their own cost, llama.cpp reports
``timings`` where it reports no usage. genai-prices has usage extractors for several of them;
Tallybook uses them where they are right and says below where and why it reads differently.

A built-in endpoint is its vendor; an endpoint the user added is recognised by its host, and an
unknown one is read with every shape-based fallback (they cannot conflict: each only fills in
what a plain Chat Completions answer would lack).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from app.core.pricing.charges import ProviderFigure
from app.core.providers.usage import UsageRules, credits_from_usd, dig

_PREDICTIONS = (
    ("completion_tokens_details", "accepted_prediction_tokens"),
    ("completion_tokens_details", "rejected_prediction_tokens"),
)
"""Predicted Outputs' tokens are inside ``completion_tokens`` and billed as such (OpenAI's
reference: "still counted in the total completion tokens for purposes of billing")."""
_GROQ_TIMES = (("queue_time",), ("prompt_time",), ("completion_time",), ("total_time",))
TICKS_PER_CREDIT = 10_000
"""xAI's ``cost_in_usd_ticks`` are 10^-10 USD; a credit is 10^-6 USD."""


def chat_tier(response: Mapping[str, Any]) -> dict[str, str]:
    """OpenAI's ``service_tier`` as genai-prices' price context (``flex``, ``priority``...);
    the standard tier (``default``, or ``auto`` resolved to it) changes nothing."""
    tier = response.get("service_tier")
    if not isinstance(tier, str) or tier.lower() in ("", "default", "auto", "standard"):
        return {}
    return {"service_tier": tier.lower()}


def _groq_usage(response: dict[str, Any]) -> dict[str, Any]:
    """Groq without ``include_usage`` (and older Groq always) reports under ``x_groq.usage``;
    genai-prices reads only ``usage``."""
    if not response.get("usage") and isinstance(dig(response, "x_groq", "usage"), Mapping):
        response["usage"] = response["x_groq"]["usage"]
    return response


def _deepseek_hits(response: dict[str, Any]) -> dict[str, Any]:
    """DeepSeek's own names for its cache: ``prompt_cache_hit_tokens`` (+ ``_miss_``, their sum
    is ``prompt_tokens``). Newer answers repeat the hits as ``prompt_tokens_details.
    cached_tokens``, which genai-prices reads; older ones only have the hits, read here."""
    usage = response.get("usage")
    hits = dig(usage, "prompt_cache_hit_tokens")
    details = dig(usage, "prompt_tokens_details") or {}
    if not isinstance(usage, Mapping) or not isinstance(details, Mapping) or type(hits) is not int:
        return response
    if details.get("cached_tokens") is None:
        response["usage"] = {**usage, "prompt_tokens_details": {**details, "cached_tokens": hits}}
    return response


def _llamacpp_timings(response: dict[str, Any]) -> dict[str, Any]:
    """llama.cpp's server answers with ``timings`` (``prompt_n`` tokens evaluated, ``cache_n``
    reused from its cache, ``predicted_n`` generated), also on streams that report no usage:
    its ``prompt_tokens`` is ``prompt_n + cache_n``. A local server bills nothing, but the
    counts are the server's own, not estimates."""
    timings = response.get("timings")
    if response.get("usage") or not isinstance(timings, Mapping):
        return response
    numbers = [timings.get(name) for name in ("prompt_n", "cache_n", "predicted_n")]
    counts = [n for n in numbers if type(n) is int and n >= 0]
    if len(counts) == len(numbers):
        prompt_n, cache_n, predicted_n = counts
        response["usage"] = {
            "prompt_tokens": prompt_n + cache_n,
            "completion_tokens": predicted_n,
        }
    return response


def _any_compatible(response: dict[str, Any]) -> dict[str, Any]:
    return _llamacpp_timings(_deepseek_hits(_groq_usage(response)))


def _openrouter_cost(usage: Mapping[str, Any]) -> ProviderFigure | None:
    """OpenRouter's ``usage.cost`` is what it charged, in USD. With the user's own provider key
    (``is_byok``) it is only OpenRouter's fee, and the provider bills the inference
    (``cost_details.upstream_inference_cost``) itself: both are the user's spend."""
    cost = credits_from_usd(usage.get("cost"))
    if cost is None:
        return None
    if usage.get("is_byok") is True:
        upstream = credits_from_usd(dig(usage, "cost_details", "upstream_inference_cost"))
        cost += upstream or Decimal(0)
    return ProviderFigure(cost, "reported by OpenRouter")


def _xai_ticks(usage: Mapping[str, Any]) -> ProviderFigure | None:
    ticks = usage.get("cost_in_usd_ticks")
    if isinstance(ticks, bool) or not isinstance(ticks, int) or not 0 <= ticks <= 10**16:
        return None
    return ProviderFigure(Decimal(ticks) / TICKS_PER_CREDIT, "reported by xAI")


OPENAI_CHAT = UsageRules("openai", "chat", not_billed=_PREDICTIONS, tier=chat_tier)
COMPATIBLE = UsageRules(
    "openai",
    "chat",
    not_billed=(*_PREDICTIONS, *_GROQ_TIMES),
    prepare=_any_compatible,
    tier=chat_tier,
    found_in=("x_groq", "timings"),
)
_RULES: dict[str, UsageRules] = {
    "openai": OPENAI_CHAT,
    "openrouter": UsageRules(
        "openrouter",
        "chat",
        extra=(
            (("prompt_tokens_details", "image_tokens"), "input_image_tokens"),
            (("prompt_tokens_details", "video_tokens"), "input_video_tokens"),
            (("completion_tokens_details", "image_tokens"), "output_image_tokens"),
            (("server_tool_use", "web_search_requests"), "web_searches"),
        ),
        not_billed=(("cost",), ("cost_details",), *_PREDICTIONS),
        figure=_openrouter_cost,
        tier=chat_tier,
    ),
    # genai-prices' x-ai "chat" extractor is right where OpenAI's is not: xAI's reasoning
    # tokens are outside completion_tokens and billed as output (its cost_in_usd_ticks only
    # matches that reading). Live Search's sources are billed per source.
    # prompt_tokens_details splits the prompt by modality, cached tokens included in each:
    # they are parts of prompt_tokens at its rate (no grok model prices them apart), and read
    # as units they would overlap the cached count.
    "xai": UsageRules(
        "x-ai",
        "chat",
        extra=((("num_sources_used",), "web_searches"),),
        not_billed=(
            ("cost_in_usd_ticks",),
            ("prompt_tokens_details", "text_tokens"),
            ("prompt_tokens_details", "image_tokens"),
            ("prompt_tokens_details", "audio_tokens"),
            *_PREDICTIONS,
        ),
        figure=_xai_ticks,
        tier=chat_tier,
    ),
    "groq": UsageRules(
        "groq", "default", not_billed=_GROQ_TIMES, prepare=_groq_usage, found_in=("x_groq",)
    ),
    "deepseek": UsageRules(
        "deepseek",
        "chat",
        not_billed=(("prompt_cache_hit_tokens",), ("prompt_cache_miss_tokens",)),
        prepare=_deepseek_hits,
    ),
    "mistral": UsageRules("mistral", "default"),
    "fireworks": UsageRules("fireworks", "chat"),
    # genai-prices has no Together reader; Together answers in OpenAI's shape.
    "together": UsageRules("openai", "chat"),
    "ollama": UsageRules("openai", "chat"),
}
_HOSTS = {
    "api.openai.com": "openai",
    "openrouter.ai": "openrouter",
    "api.x.ai": "xai",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.mistral.ai": "mistral",
    "api.fireworks.ai": "fireworks",
    "api.together.xyz": "together",
    "api.together.ai": "together",
}


def vendor_of(endpoint_id: str, base_url: str) -> str | None:
    """The vendor behind an endpoint: a built-in's id, else its host's (``None``: unknown)."""
    if endpoint_id in _RULES:
        return endpoint_id
    host = (urlsplit(base_url).hostname or "").lower()
    if host in _HOSTS:
        return _HOSTS[host]
    if urlsplit(base_url).port == 11434:
        return "ollama"
    return None


def chat_rules(vendor: str | None) -> UsageRules:
    """How a Chat Completions answer from this vendor is read."""
    return _RULES.get(vendor or "", COMPATIBLE)
