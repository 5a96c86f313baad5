"""The local metering endpoint: other tools spend through Tallybook, every call on the ledger.

Scripts, editors and other tools point their OpenAI or Anthropic client at
``http://127.0.0.1:<port>`` with Tallybook's access token, or a tool token made for that tool
(:mod:`.tokens`), as the API key. Each request is counted, checked against the balance,
forwarded (as written) to the real provider with the key from the key store, or to the offline
demo, through the same metering client as the chat window, and charged on the same ledger under
a conversation named after the calling tool. The endpoint binds to loopback only unless
explicitly told otherwise.
"""

from app.servers.gateway.access import (
    TokenKeeping,
    access_token,
    renew_access_token,
    token_keeping,
)
from app.servers.gateway.forwarding import Upstreams
from app.servers.gateway.server import DEFAULT_PORT, Gateway, Settlement

__all__ = [
    "DEFAULT_PORT",
    "Gateway",
    "Settlement",
    "TokenKeeping",
    "Upstreams",
    "access_token",
    "renew_access_token",
    "token_keeping",
]
