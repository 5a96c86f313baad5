"""Prompts written in the Responses and Anthropic Messages formats, read as chat payloads.

Whoever receives such a request and needs to count it (the offline emulator answering it, the
local metering endpoint forwarding it) reads it here into the same values the rest of Tallybook
counts (:class:`~app.core.messages.ChatPayload`); Chat Completions bodies already are that format.
"""

from __future__ import annotations

import json
from typing import Any

from app.core.messages import (
    ROLES,
    ChatMessage,
    ChatPayload,
    DocumentPart,
    ImagePart,
    InvalidPayload,
    Part,
    ToolCall,
    ToolSpec,
)


def from_chat_completions(body: dict[str, Any]) -> ChatPayload:
    """A Chat Completions body's ``messages`` and ``tools``.

    Raises:
        InvalidPayload: no messages, or messages of the wrong shape.
    """
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise InvalidPayload("Missing required parameter: 'messages'.")
    return ChatPayload.from_openai(body)


def from_responses(body: dict[str, Any]) -> ChatPayload:
    """The Responses API's ``instructions``, ``input`` and function ``tools``.

    Raises:
        InvalidPayload: no input, or input items of the wrong shape.
    """
    messages: list[ChatMessage] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append(ChatMessage("system", instructions))
    given = body.get("input")
    if isinstance(given, str):
        messages.append(ChatMessage("user", given))
    elif isinstance(given, list):
        messages += (message for item in given for message in _responses_item(item))
    else:
        raise InvalidPayload("Missing required parameter: 'input'.")
    return ChatPayload(tuple(messages), _responses_tools(body.get("tools")))


def from_anthropic(body: dict[str, Any]) -> ChatPayload:
    """An Anthropic Messages body's ``system``, ``messages`` and ``tools``.

    Raises:
        InvalidPayload: no messages, or messages of the wrong shape.
    """
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        raise InvalidPayload("messages: Field required")
    messages: list[ChatMessage] = []
    system = text_of(body.get("system"))
    if system:
        messages.append(ChatMessage("system", system))
    for turn in turns:
        role = turn.get("role") if isinstance(turn, dict) else None
        if role not in ("user", "assistant"):
            raise InvalidPayload(f"messages: each role must be 'user' or 'assistant', not {role!r}")
        messages += _anthropic_turn(role, turn.get("content"))
    tools = tuple(
        ToolSpec(str(tool["name"]), str(tool.get("description") or ""), tool["input_schema"])
        for tool in body.get("tools") or ()
        if isinstance(tool, dict) and "name" in tool and isinstance(tool.get("input_schema"), dict)
    )
    return ChatPayload(tuple(messages), tools)


def text_of(value: Any) -> str:
    """Text from a string or a list of text-bearing parts (``text`` / ``input_text`` ...)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            str(part.get("text", "")) for part in value if isinstance(part, dict) and "text" in part
        )
    return ""


def compact_json(value: Any) -> str:
    """Compact JSON, as the providers write it (and as tool arguments are counted)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _responses_item(item: Any) -> list[ChatMessage]:
    if not isinstance(item, dict):
        raise InvalidPayload("Each input item must be an object.")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ROLES:
            raise InvalidPayload(f"Invalid input item role {role!r}.")
        return [ChatMessage(role, _responses_content(item.get("content")))]
    if kind == "function_call":
        call = ToolCall(
            str(item.get("call_id", "")), str(item.get("name", "")), str(item.get("arguments"))
        )
        return [ChatMessage("assistant", tool_calls=(call,))]
    if kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else compact_json(output)
        return [ChatMessage("tool", text, tool_call_id=str(item.get("call_id", "")))]
    return []  # reasoning, web search calls...: nothing a prompt count can see


def _responses_content(content: Any) -> str | tuple[Part, ...]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidPayload("Message content must be text or a list of parts.")
    parts: list[Part] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            detail = part.get("detail") if part.get("detail") in ("low", "high") else "auto"
            parts.append(ImagePart(part["image_url"], detail))
        elif kind == "input_file" and (
            document := DocumentPart.from_data_url(
                str(part.get("file_data") or ""), str(part.get("filename") or "document.pdf")
            )
        ):
            parts.append(document)
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append(part["refusal"])
        else:
            raise InvalidPayload(f"Unsupported content part: {compact_json(part)[:80]}")
    return tuple(parts)


def _responses_tools(tools: Any) -> tuple[ToolSpec, ...]:
    if not isinstance(tools, list):
        return ()
    return tuple(
        ToolSpec.from_openai(tool)
        for tool in tools
        if isinstance(tool, dict) and tool.get("type") == "function"
    )


def _anthropic_turn(role: str, content: Any) -> list[ChatMessage]:
    if isinstance(content, str):
        return [ChatMessage(role, content)]
    if not isinstance(content, list):
        raise InvalidPayload("messages: content must be text or a list of content blocks")
    results: list[ChatMessage] = []
    parts: list[Part] = []
    calls: list[ToolCall] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif kind == "image" and isinstance(block.get("source"), dict):
            source = block["source"]
            if source.get("type") == "base64":
                media = source.get("media_type", "image/png")
                parts.append(ImagePart(f"data:{media};base64,{source.get('data', '')}"))
            else:
                parts.append(ImagePart(str(source.get("url", ""))))
        elif kind == "document" and _base64_pdf(block.get("source")):
            parts.append(DocumentPart("application/pdf", str(block["source"].get("data", ""))))
        elif kind == "tool_use":
            arguments = compact_json(block.get("input") or {})
            calls.append(ToolCall(str(block.get("id", "")), str(block.get("name", "")), arguments))
        elif kind == "tool_result":
            result = block.get("content")
            text = result if isinstance(result, str) else text_of(result)
            results.append(ChatMessage("tool", text, tool_call_id=str(block.get("tool_use_id"))))
        elif kind in ("thinking", "redacted_thinking", "document", "search_result"):
            continue  # earlier thinking is dropped; text and URL documents are not counted
        else:
            raise InvalidPayload(f"messages: unsupported content block {compact_json(block)[:80]}")
    if parts or calls or not results:
        first = parts[0] if len(parts) == 1 else None
        value: str | tuple[Part, ...] = first if isinstance(first, str) else tuple(parts)
        results.append(ChatMessage(role, value, tool_calls=tuple(calls)))
    return results


def _base64_pdf(source: Any) -> bool:
    return (
        isinstance(source, dict)
        and source.get("type") == "base64"
        and source.get("media_type") == "application/pdf"
    )
