"""Anthropic Messages API: request bodies and the token-count endpoint.

Anthropic takes the system prompt apart from the messages, tool calls as ``tool_use`` blocks in
the assistant's turn and their results as ``tool_result`` blocks in the next user turn, and
images as base64 or URL sources. ``count_tokens`` is free and exact for the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx2

from app.core.chat import ChatMessage, ImagePart, ToolSpec
from app.core.keys import ApiKey
from app.core.providers.http import count_field, post_json

BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


def headers(key: ApiKey) -> dict[str, str]:
    """Authentication and version headers."""
    return {"x-api-key": key.secret, "anthropic-version": API_VERSION}


def messages_body(
    model: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
) -> dict[str, Any]:
    """The body of ``/v1/messages`` (without ``max_tokens`` and ``stream``, set by the caller)."""
    system = "\n\n".join(m.text for m in messages if m.role in ("system", "developer"))
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # the API wants alternating turns
        else:
            turns.append({"role": role, "content": blocks})
    while turns and turns[0]["role"] != "user":  # a trimmed history may start with a reply
        turns.pop(0)
    body: dict[str, Any] = {"model": model, "messages": turns}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [
            {
                "name": t.name,
                "description": t.description,
                "input_schema": dict(t.parameters) or {"type": "object"},
            }
            for t in tools
        ]
    return body


def count_tokens(
    client: httpx2.Client,
    key: ApiKey,
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec] = (),
    *,
    base_url: str = BASE_URL,
) -> int:
    """Anthropic's own count of the prompt's input tokens (``/v1/messages/count_tokens``)."""
    answer = post_json(
        client,
        f"{base_url.rstrip('/')}/v1/messages/count_tokens",
        messages_body(model, messages, tools),
        headers=headers(key),
        provider="Anthropic",
        secret=key.secret,
    )
    return count_field(answer, "input_tokens", "Anthropic")


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.text,
            }
        ]
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, str):
            if part:
                blocks.append({"type": "text", "text": part})
        else:
            blocks.append({"type": "image", "source": _image_source(part)})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.parsed_arguments()}
        )
    return blocks or [{"type": "text", "text": ""}]


def _image_source(part: ImagePart) -> dict[str, str]:
    inline = part.inline_data()
    if inline is None:
        return {"type": "url", "url": part.url}
    media_type, data = inline
    return {"type": "base64", "media_type": media_type, "data": data}
