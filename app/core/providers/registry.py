"""Where requests go: the built-in providers, OpenAI-compatible endpoints, and the offline demo.

An endpoint's ``id`` names its key in the key store and is the ``provider`` written on each
transaction; ``price_provider`` is the genai-prices provider whose rates apply (OpenRouter's
prices differ from OpenAI's for the same model). The user can add OpenAI-compatible endpoints
(name and base URL); they are kept in the settings table, never with a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from app.core.counting.tokens import counting_rules
from app.core.errors import InvalidSetting, TallybookError, UnknownEndpoint
from app.core.paths import resource_path
from app.core.providers import anthropic, gemini, openai, vendors
from app.core.providers.base import Adapter
from app.core.providers.usage import UsageRules
from app.core.redaction import redact
from app.core.storage import settings
from app.core.types import EndpointApi, WireApi

CUSTOM_KEY = "custom_endpoints"
MAX_NAME = 80
RECENT_MODELS_KEY = "recent_models"
DEMO = EndpointApi.DEMO


@dataclass(frozen=True)
class Endpoint:
    """A place to send chat requests."""

    id: str
    name: str
    api: EndpointApi
    """What it speaks: ``openai``, ``compatible`` (Chat Completions), ``anthropic``, ``gemini``,
    or ``demo`` (all of them)."""
    base_url: str
    price_provider: str | None = None
    needs_key: bool = True
    builtin: bool = True

    def adapter_for(self, model: str) -> tuple[Adapter, str]:
        """The protocol adapter and base URL for a model on this endpoint."""
        if self.api == DEMO:
            return _demo_adapter(model, demo_url())
        if self.api == EndpointApi.ANTHROPIC:
            return anthropic.MessagesAdapter(), self.base_url
        if self.api == EndpointApi.GEMINI:
            return gemini.GeminiAdapter(), self.base_url
        if self.id == "openai":
            if openai.api_for_model(model) == "responses":
                return openai.ResponsesAdapter(), self.base_url
            return openai.ChatCompletionsAdapter(), self.base_url
        return openai.ChatCompletionsAdapter(
            usage_rules=self.usage_rules, max_tokens_field="max_tokens"
        ), self.base_url

    def adapter_for_api(self, api: WireApi) -> tuple[Adapter, str]:
        """The adapter and base URL for a request already written in ``api``'s format.

        ``api`` is ``openai-chat``, ``openai-responses`` or ``anthropic`` (what the local
        endpoint receives); the offline demo speaks all three.

        Raises:
            TallybookError: this endpoint does not speak that protocol.
        """
        base_url = self.base_url
        if self.api == DEMO:
            base_url = demo_url() if api == WireApi.ANTHROPIC else f"{demo_url()}/v1"
        speaks = {
            WireApi.OPENAI_CHAT: self.api in (EndpointApi.OPENAI, EndpointApi.COMPATIBLE, DEMO),
            WireApi.OPENAI_RESPONSES: self.id == "openai" or self.api == DEMO,
            WireApi.ANTHROPIC: self.api in (EndpointApi.ANTHROPIC, DEMO),
        }
        if not speaks.get(api, False):
            raise TallybookError(f"{self.name} does not speak the {api} API.")
        if api == WireApi.ANTHROPIC:
            return anthropic.MessagesAdapter(), base_url
        if api == WireApi.OPENAI_RESPONSES:
            return openai.ResponsesAdapter(), base_url
        return openai.ChatCompletionsAdapter(usage_rules=self.usage_rules), base_url

    @property
    def usage_rules(self) -> UsageRules:
        """How this endpoint's Chat Completions usage is read: by its vendor's rules."""
        return vendors.chat_rules(vendors.vendor_of(self.id, self.base_url))


BUILTIN: tuple[Endpoint, ...] = (
    Endpoint(DEMO, "Offline demo", DEMO, "", None, needs_key=False),
    Endpoint("openai", "OpenAI", EndpointApi.OPENAI, openai.BASE_URL, "openai"),
    Endpoint("anthropic", "Anthropic", EndpointApi.ANTHROPIC, anthropic.BASE_URL, "anthropic"),
    Endpoint("gemini", "Google Gemini", EndpointApi.GEMINI, gemini.BASE_URL, "google"),
    Endpoint(
        "openrouter",
        "OpenRouter",
        EndpointApi.COMPATIBLE,
        "https://openrouter.ai/api/v1",
        "openrouter",
    ),
    Endpoint("groq", "Groq", EndpointApi.COMPATIBLE, "https://api.groq.com/openai/v1", "groq"),
    Endpoint(
        "deepseek", "DeepSeek", EndpointApi.COMPATIBLE, "https://api.deepseek.com/v1", "deepseek"
    ),
    Endpoint("mistral", "Mistral", EndpointApi.COMPATIBLE, "https://api.mistral.ai/v1", "mistral"),
    Endpoint("xai", "xAI", EndpointApi.COMPATIBLE, "https://api.x.ai/v1", "x-ai"),
    Endpoint(
        "together", "Together", EndpointApi.COMPATIBLE, "https://api.together.xyz/v1", "together"
    ),
    Endpoint(
        "ollama",
        "Ollama (local)",
        EndpointApi.COMPATIBLE,
        "http://127.0.0.1:11434/v1",
        None,
        needs_key=False,
    ),
    Endpoint(
        "lmstudio",
        "LM Studio (local)",
        EndpointApi.COMPATIBLE,
        "http://127.0.0.1:1234/v1",
        None,
        needs_key=False,
    ),
)


def all_endpoints(session: Session) -> list[Endpoint]:
    """Built-in endpoints, then the user's own."""
    return [*BUILTIN, *_custom(session)]


def get_endpoint(session: Session, endpoint_id: str) -> Endpoint:
    """The endpoint with this id.

    Raises:
        UnknownEndpoint: no such endpoint.
    """
    for endpoint in all_endpoints(session):
        if endpoint.id == endpoint_id:
            return endpoint
    known = ", ".join(e.id for e in all_endpoints(session))
    raise UnknownEndpoint(f"No provider or endpoint called {endpoint_id!r}; known: {known}.")


def add_endpoint(
    session: Session,
    name: str,
    base_url: str,
    *,
    api: str = EndpointApi.COMPATIBLE,
    price_provider: str | None = None,
    needs_key: bool = True,
) -> Endpoint:
    """Add an endpoint: usually OpenAI-compatible (a local server, a gateway, another vendor);
    ``api`` may also be ``anthropic`` or ``gemini`` for a proxy speaking those protocols. A
    base URL without a scheme gets one (:func:`complete_base_url`).

    Raises:
        InvalidSetting: an empty or overlong name, a URL that is not a plain http(s) base URL
            (credentials, a query or fragment, a bad port, spaces), an unknown protocol, or a
            name already in use.
    """
    if api not in (EndpointApi.COMPATIBLE, EndpointApi.ANTHROPIC, EndpointApi.GEMINI):
        raise InvalidSetting(f"Unknown protocol {api!r}: use compatible, anthropic or gemini.")
    name = name.strip()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise InvalidSetting("An endpoint needs a name.")
    if len(name) > MAX_NAME or not name.isprintable():
        raise InvalidSetting(f"An endpoint's name is one line of at most {MAX_NAME} characters.")
    base_url = _check_base_url(complete_base_url(base_url)[0])
    endpoint = Endpoint(
        f"custom-{slug}",
        name,
        EndpointApi(api),
        base_url,
        price_provider,
        needs_key=needs_key,
        builtin=False,
    )
    if any(e.id == endpoint.id for e in all_endpoints(session)):
        raise InvalidSetting(f"An endpoint called {name!r} already exists.")
    stored = [asdict(e) for e in _custom(session)] + [asdict(endpoint)]
    settings.put(session, CUSTOM_KEY, stored)
    return endpoint


def complete_base_url(text: str) -> tuple[str, bool]:
    """The URL with a scheme, and whether one was added: ``api.example.com/v1`` is taken as
    ``https://api.example.com/v1`` (what hosted APIs speak), ``localhost:8080/v1`` as
    ``http://`` (a server on this computer rarely has a certificate). A URL that names any
    scheme is left for :func:`add_endpoint`'s checks; the caller tells the user what was added.
    """
    url = text.strip()
    if not url or "://" in url:
        return url, False
    host = urlsplit(f"//{url}").hostname or ""
    local = host == "localhost" or host == "::1" or host.startswith("127.")
    return f"{'http' if local else 'https'}://{url}", True


def _check_base_url(text: str) -> str:
    """The base URL, tidied, or the reason it cannot be one.

    Keys belong in the key store: a URL carrying one (``user:key@host``, ``?api_key=``) would be
    written to the ledger file in plain text, so credentials, queries and fragments are refused.
    """
    url = text.strip().rstrip("/")
    shown = redact(url)
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidSetting(f"{shown!r} is not a URL: it contains spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSetting(f"{shown!r} is not an http(s) URL.")
    if parts.username is not None or parts.password is not None:
        raise InvalidSetting(
            "The URL contains a user name or password. Give the URL without it and enter the "
            "key in its row: keys are kept in the OS key store, never in the ledger."
        )
    if parts.query or parts.fragment:
        raise InvalidSetting(
            "A base URL has no ?query or #fragment (Tallybook adds /chat/completions and the "
            "like after it). If it carried a key, enter the key in its row instead."
        )
    try:
        parts.port  # noqa: B018 (raises on a port out of range or not a number)
    except ValueError:
        raise InvalidSetting(f"{shown!r} has an invalid port.") from None
    return url


def remove_endpoint(session: Session, endpoint_id: str) -> bool:
    """Forget one of the user's endpoints (its past transactions stay)."""
    kept = [e for e in _custom(session) if e.id != endpoint_id]
    changed = len(kept) != len(_custom(session))
    settings.put(session, CUSTOM_KEY, [asdict(e) for e in kept])
    return changed


def _custom(session: Session) -> list[Endpoint]:
    stored: list[dict[str, Any]] = settings.get(session, CUSTOM_KEY, [])
    return [Endpoint(**{**entry, "api": EndpointApi(entry["api"])}) for entry in stored]


def default_endpoint(model: str) -> str:
    """The built-in endpoint a model goes to when none is named: its maker's (``anthropic``,
    ``gemini``), told by its tokenizer family; ``openai`` for every other model."""
    family = counting_rules(model).family
    return {"anthropic": "anthropic", "gemini": "gemini"}.get(family, "openai")


def _demo_adapter(model: str, url: str) -> tuple[Adapter, str]:
    """The offline demo answers a model in the protocol of the endpoint it would go to."""
    maker = default_endpoint(model)
    if maker == "anthropic":
        return anthropic.MessagesAdapter(), url
    if maker == "gemini":
        return gemini.GeminiAdapter(), url
    if openai.api_for_model(model) == "responses":
        return openai.ResponsesAdapter(), f"{url}/v1"
    return openai.ChatCompletionsAdapter(), f"{url}/v1"


_demo: Callable[[], str] | None = None


class DemoUnavailable(TallybookError):
    """Nothing runs the offline demo in this process (its owner has not started one)."""


def use_demo(url_of: Callable[[], str] | None) -> Callable[[], str] | None:
    """Say where the offline demo answers: ``url_of`` gives its base URL (starting it on first
    use, if its owner likes), ``None`` when it has stopped. Returns the one it replaces, for
    its owner to put back. The demo is a loopback server (:mod:`app.servers.emulator`), so the
    core is told of it rather than starting it: whoever runs the app, the command line or the
    tests owns it, and stops it."""
    global _demo
    previous, _demo = _demo, url_of
    return previous


def demo_url() -> str:
    """The offline demo's base URL.

    Raises:
        DemoUnavailable: no demo runs in this process.
    """
    if _demo is None:
        raise DemoUnavailable("The offline demo is not running in this process.")
    return _demo()


@dataclass(frozen=True)
class ModelChoice:
    """A model offered for an endpoint, with what it costs per token."""

    endpoint: str
    model: str
    prompt: Decimal
    completion: Decimal
    flagged: bool
    """Priced at the default for unknown models."""


def model_menu(session: Session) -> list[tuple[Endpoint, list[ModelChoice]]]:
    """Each endpoint with the models the picker offers, priced (any other name can be typed)."""
    from app.core.pricing.prices import PriceBook

    book = PriceBook.load(session)
    menu = json.loads(resource_path("model_menu.json").read_text(encoding="utf-8"))
    recent: dict[str, list[str]] = settings.get(session, RECENT_MODELS_KEY, {})
    result = []
    for endpoint in all_endpoints(session):
        names = list(dict.fromkeys([*recent.get(endpoint.id, []), *menu.get(endpoint.id, [])]))
        choices = []
        for name in names:
            rates = book.rates(name, provider=endpoint.price_provider)
            choices.append(
                ModelChoice(endpoint.id, name, rates.prompt, rates.completion, rates.is_default)
            )
        result.append((endpoint, choices))
    return result


def remember_model(session: Session, endpoint_id: str, model: str) -> None:
    """Put a model first in its endpoint's menu (the last few used are kept)."""
    recent: dict[str, list[str]] = settings.get(session, RECENT_MODELS_KEY, {})
    models = [model, *[m for m in recent.get(endpoint_id, []) if m != model]][:5]
    settings.put(session, RECENT_MODELS_KEY, {**recent, endpoint_id: models})
