"""The chat payload as values: messages, their parts, tool definitions and calls.

Messages are immutable and hashable values: token counts are cached with the message itself as
the key, so an edited message (a new value, unequal to the old) is always counted afresh. The
OpenAI Chat Completions JSON shape is the interchange format (``from_openai`` /
``to_openai``); provider adapters translate from these values to their own wire formats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import TallybookError

ROLES = ("system", "developer", "user", "assistant", "tool")


class InvalidPayload(TallybookError, ValueError):
    """A chat payload that is not in the OpenAI ``messages`` format."""


@dataclass(frozen=True)
class ImagePart:
    """An image input: a ``data:`` URL (its size is read from the bytes) or a web URL."""

    url: str
    detail: str = "auto"

    def inline_data(self) -> tuple[str, str] | None:
        """``(media type, base64 data)`` of a ``data:`` URL; ``None`` for a web URL."""
        if not self.url.startswith("data:") or ";base64," not in self.url:
            return None
        header, _, data = self.url.partition(";base64,")
        return header.removeprefix("data:"), data


@dataclass(frozen=True)
class DocumentPart:
    """A document input (a PDF), inline: its media type, its bytes in base64, and the file name
    it was added under (OpenAI's file parts carry one)."""

    media_type: str
    data: str
    name: str = "document.pdf"

    @property
    def data_url(self) -> str:
        """The document as a ``data:`` URL (how OpenAI takes inline files)."""
        return f"data:{self.media_type};base64,{self.data}"

    @classmethod
    def from_data_url(cls, url: str, name: str = "document.pdf") -> DocumentPart | None:
        """From a base64 ``data:`` URL; ``None`` for anything else."""
        inline = ImagePart(url).inline_data()
        return None if inline is None else cls(inline[0], inline[1], name)


@dataclass(frozen=True)
class ToolCall:
    """A function call the assistant made (its arguments are the JSON text the model wrote)."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> Any:
        """The arguments as JSON values (providers that want objects); raw text if not JSON."""
        try:
            return json.loads(self.arguments) if self.arguments else {}
        except json.JSONDecodeError:
            return {"_raw": self.arguments}


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: name, description, JSON-schema parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_openai(cls, tool: Any) -> ToolSpec:
        """From ``{"type": "function", "function": {...}}`` (or the bare function object)."""
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidPayload("each tool needs a function with a name")
        parameters = function.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidPayload(f"the parameters of tool {function['name']!r} must be an object")
        return cls(function["name"], str(function.get("description") or ""), parameters)

    def to_openai(self) -> dict[str, Any]:
        """The Chat Completions ``tools`` entry."""
        function: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}


Part = str | ImagePart | DocumentPart


def inline_part(media_type: str, data: str, name: str = "document.pdf") -> ImagePart | DocumentPart:
    """An inline file as the part it is: a PDF is a document, anything else an image."""
    if media_type == "application/pdf":
        return DocumentPart(media_type, data, name)
    return ImagePart(f"data:{media_type};base64,{data}")


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat payload.

    ``content`` is plain text, or a tuple of text, image and document parts for multimodal input.
    """

    role: str
    content: str | tuple[Part, ...] = ""
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @property
    def parts(self) -> tuple[Part, ...]:
        """The content as parts, whatever its form."""
        if isinstance(self.content, str):
            return (self.content,) if self.content else ()
        return self.content

    @property
    def text(self) -> str:
        """All text parts joined (what a provider without images would see)."""
        return "".join(part for part in self.parts if isinstance(part, str))

    @property
    def size(self) -> int:
        """Characters held by the message (what a cache of messages costs in memory)."""
        parts = sum(_characters(p) for p in self.parts)
        return parts + sum(len(c.arguments) for c in self.tool_calls)

    @classmethod
    def from_openai(cls, message: Any) -> ChatMessage:
        """From a Chat Completions message object.

        Raises:
            InvalidPayload: unknown role, content of the wrong type, malformed parts or calls.
        """
        if not isinstance(message, dict):
            raise InvalidPayload("each message must be a JSON object")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidPayload(f"unknown message role {role!r}; use one of {', '.join(ROLES)}")
        name = message.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidPayload("a message name must be text")
        tool_call_id = message.get("tool_call_id")
        return cls(
            role=role,
            content=_content(message.get("content")),
            name=name,
            tool_calls=tuple(_tool_call(call) for call in message.get("tool_calls") or ()),
            tool_call_id=str(tool_call_id) if tool_call_id is not None else None,
        )

    def to_openai(self) -> dict[str, Any]:
        """The Chat Completions message object."""
        message: dict[str, Any] = {"role": self.role}
        if isinstance(self.content, str):
            message["content"] = self.content
        else:
            message["content"] = [_openai_part(part) for part in self.content]
        if self.name is not None:
            message["name"] = self.name
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        return message


@dataclass(frozen=True)
class ChatPayload:
    """Messages and tool definitions: what the prompt of one request is made of."""

    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()

    @classmethod
    def from_openai(cls, data: Any) -> ChatPayload:
        """From ``{"messages": [...], "tools": [...]}`` or a bare list of messages."""
        if isinstance(data, list):
            data = {"messages": data}
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise InvalidPayload('a chat payload is {"messages": [...]} or a list of messages')
        return cls(
            messages=tuple(ChatMessage.from_openai(m) for m in data["messages"]),
            tools=tuple(ToolSpec.from_openai(t) for t in data.get("tools") or ()),
        )

    @classmethod
    def parse(cls, text: str) -> ChatPayload:
        """From JSON text (raises :class:`InvalidPayload` on bad JSON or shape)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidPayload(f"not valid JSON: {error}") from None
        return cls.from_openai(data)


def _characters(part: Part) -> int:
    if isinstance(part, str):
        return len(part)
    return len(part.url) if isinstance(part, ImagePart) else len(part.data)


def _openai_part(part: Part) -> dict[str, Any]:
    """A Chat Completions content part (a document is a ``file`` with its data inline)."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if isinstance(part, ImagePart):
        return {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}
    return {"type": "file", "file": {"filename": part.name, "file_data": part.data_url}}


def _content(value: Any) -> str | tuple[Part, ...]:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise InvalidPayload("message content must be text or a list of parts")
    return tuple(_part(part) for part in value)


def _part(part: Any) -> Part:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return str(part["text"])
    if kind == "image_url":
        image = part.get("image_url")
        image = {"url": image} if isinstance(image, str) else image
        if isinstance(image, dict) and isinstance(image.get("url"), str):
            detail = image.get("detail") or "auto"
            if detail not in ("auto", "low", "high"):
                raise InvalidPayload(f"image detail must be auto, low or high, not {detail!r}")
            return ImagePart(image["url"], detail)
    if kind == "file" and isinstance(part.get("file"), dict):
        file = part["file"]
        name = str(file.get("filename") or "document.pdf")
        document = DocumentPart.from_data_url(str(file.get("file_data") or ""), name)
        if document is not None:
            return document
    raise InvalidPayload(f"unsupported content part: {str(part)[:80]}")


def _tool_call(call: Any) -> ToolCall:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidPayload("each tool call needs a function with a name")
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return ToolCall(str(call.get("id", "")), function["name"], arguments)
