"""How the user wants the local endpoint run: on or off, its port, where it forwards.

Kept in the ledger file (``settings``), so the app and ``tallybook serve`` start it the same way;
a hand-edited or damaged value falls back to the defaults rather than stopping the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

from sqlalchemy.orm import Session

from app.core.errors import InvalidSetting
from app.core.providers import registry
from app.core.storage import settings
from app.servers.gateway.forwarding import Upstreams
from app.servers.gateway.server import DEFAULT_PORT

KEY = "local_endpoint"


@dataclass(frozen=True)
class EndpointConfig:
    """The local endpoint's settings.

    Attributes:
        enabled: the app starts it when it opens.
        port: on 127.0.0.1.
        upstreams: the endpoint ids it forwards OpenAI-style and Anthropic requests to.
    """

    enabled: bool = False
    port: int = DEFAULT_PORT
    upstreams: Upstreams = field(default_factory=Upstreams)


def load(session: Session) -> EndpointConfig:
    """The saved settings, or the defaults for anything missing or unusable."""
    stored: Any = settings.get(session, KEY, {})
    if not isinstance(stored, dict):
        return EndpointConfig()
    default = EndpointConfig()
    port = stored.get("port")
    known = {endpoint.id for endpoint in registry.all_endpoints(session)}

    def endpoint(name: str, fallback: str) -> str:
        value = stored.get(name)
        return value if isinstance(value, str) and value in known else fallback

    return EndpointConfig(
        enabled=stored.get("enabled") is True,
        port=port if _is_port(port) else default.port,
        upstreams=Upstreams(
            endpoint("openai", default.upstreams.openai),
            endpoint("anthropic", default.upstreams.anthropic),
        ),
    )


def save(session: Session, config: EndpointConfig) -> None:
    """Store ``config``.

    Raises:
        InvalidSetting: the port is not 1 to 65535, or an upstream is not a known endpoint.
    """
    if not _is_port(config.port):
        raise InvalidSetting(f"The port must be a number from 1 to 65535, not {config.port!r}.")
    known = {endpoint.id for endpoint in registry.all_endpoints(session)}
    for upstream in (config.upstreams.openai, config.upstreams.anthropic):
        if upstream not in known:
            raise InvalidSetting(f"There is no endpoint {upstream!r} to forward to.")
    settings.put(
        session,
        KEY,
        {
            "enabled": config.enabled,
            "port": config.port,
            "openai": config.upstreams.openai,
            "anthropic": config.upstreams.anthropic,
        },
    )


def _is_port(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
