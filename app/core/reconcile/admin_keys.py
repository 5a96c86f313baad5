"""The organisation keys that providers' records APIs need, and where they come from.

A chat key cannot read an organisation's usage or costs: OpenAI wants an admin key, Anthropic an
admin key, OpenRouter a management key. Each has a key store entry of its own (beside the chat
key's, so saving one never replaces the other) and an environment variable as a read-only
fallback. Every key found is remembered for redaction, like a chat key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from app.core.keys import ApiKey, get_key
from app.core.reconcile.records import ReconcileError
from app.core.redaction import remember


@dataclass(frozen=True)
class AdminKeyPlace:
    """Where one provider's records key is looked for, and what the user calls it."""

    entry: str  # the key store entry
    variable: str  # the environment fallback
    name: str  # in the user's words: "OpenAI admin key"


ADMIN_KEYS = {
    "openai": AdminKeyPlace("openai-admin", "OPENAI_ADMIN_KEY", "OpenAI admin key"),
    "anthropic": AdminKeyPlace("anthropic-admin", "ANTHROPIC_ADMIN_KEY", "Anthropic admin key"),
    "openrouter": AdminKeyPlace(
        "openrouter-management", "OPENROUTER_MANAGEMENT_KEY", "OpenRouter management key"
    ),
}


def admin_key(provider: str) -> ApiKey:
    """The records key for ``provider``: its key store entry first, then its variable.

    Raises:
        ReconcileError: the provider has no records key here, or none is saved or set; the
            sentence names both places it could be.
    """
    place = ADMIN_KEYS.get(provider)
    if place is None:
        raise ReconcileError(f"Tallybook cannot read {provider}'s usage records.")
    if (stored := get_key(place.entry)) is not None:
        return stored
    if value := os.environ.get(place.variable, "").strip():
        remember(value)
        return ApiKey(value, f"${place.variable}")
    raise ReconcileError(
        f"No {place.name} is set: save one in the key store (Keys, {place.name}, entry"
        f" '{place.entry}') or set {place.variable}."
    )
