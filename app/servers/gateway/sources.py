"""Which tool sent a request: the name on its token, its own word for it, or its user agent.

In that order. A tool token (:mod:`app.servers.gateway.tokens`) carries the name the user gave
it, and that name wins over everything the request says: the user handed the token to one tool
to see that tool's spend, so no header can file it under another name (or hide it under
``zed``). With the shared access token, a tool can name itself with the ``X-Tallybook-Source``
header (a script, an editor plugin); otherwise the user agent's first product is used, as the
official clients write it: ``OpenAI/Python 3.1.0`` is ``openai-python``, ``Anthropic/Python
1.2.0`` is ``anthropic-python``, ``curl/8.5.0`` is ``curl``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.core.conversations import UNKNOWN_SOURCE

SOURCE_HEADER = "x-tallybook-source"
_PRODUCT = re.compile(r"\s*([A-Za-z][\w.\-]*)(?:/([\w.\-]+))?")


def source_of(headers: Mapping[str, str], token_name: str | None = None) -> str:
    """The calling tool's name (header names in lower case); cleaned where it is stored.

    Args:
        headers: the request's.
        token_name: the name of the tool token it presented, if it presented one.
    """
    if token_name:
        return token_name
    named = (headers.get(SOURCE_HEADER) or "").strip()
    if named:
        return named
    return tool_from_user_agent(headers.get("user-agent") or "")


def tool_from_user_agent(user_agent: str) -> str:
    """``OpenAI/Python 3.1.0`` -> ``openai-python``; ``curl/8.5.0`` -> ``curl``."""
    match = _PRODUCT.match(user_agent)
    if match is None:
        return UNKNOWN_SOURCE
    product, version = match.groups()
    name = product.lower()
    if version and version[0].isalpha():  # "OpenAI/Python": the second word is the flavour
        name = f"{name}-{version.lower()}"
    return name
