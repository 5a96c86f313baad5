"""Images and PDFs on a message: stored with it, counted before sending, sent in each
provider's wire shape, sent again as context, and refused where they cannot go."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from app.core import conversations
from app.core.attachments import MAX_BYTES, Attachment, AttachmentRefused
from app.core.chats import Chats
from app.core.counting.documents import DEFAULT_PER_PAGE, pdf_pages
from app.core.counting.images import Tiles, tokens_for_size
from app.core.errors import ProviderError
from app.core.messages import ChatMessage, DocumentPart, ImagePart
from app.core.metering.client import Metered, MeteringClient
from app.core.providers import openai, payloads
from app.core.providers.base import Turn
from app.core.providers.registry import add_endpoint
from app.core.storage.db import Database
from app.core.storage.models import Attachment as AttachmentRow
from app.core.storage.models import Message
from tests.support.replay_server import Answer, ReplayServer, replay_server


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def pdf(pages: int) -> bytes:
    objects = b"".join(
        b"%d 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" % i for i in range(pages)
    )
    return b"%PDF-1.4\n" + objects + b"2 0 obj << /Type /Pages /Count %d >> endobj\n%%EOF" % pages


PHOTO = Attachment.from_bytes("photo.png", png(1024, 1024))
REPORT = Attachment.from_bytes("report.pdf", pdf(2))


@pytest.fixture
def chats(db: Database) -> Iterator[Chats]:
    service = Chats(db, MeteringClient(db))
    yield service
    service.metering.close()


def _send(chats: Chats, conversation: int | None, text: str, model: str, *files: Attachment):
    *_, metered = chats.send(conversation, text, "demo", model, attachments=files)
    assert isinstance(metered, Metered) and metered.error is None
    return metered


def test_a_file_is_known_by_its_bytes_and_limited_in_size(tmp_path: Path) -> None:
    assert (PHOTO.media_type, REPORT.media_type) == ("image/png", "application/pdf")
    renamed = tmp_path / "notes.txt"
    renamed.write_bytes(png(10, 10))
    assert Attachment.from_path(renamed).media_type == "image/png"
    text = tmp_path / "plain.txt"
    text.write_text("just words")
    with pytest.raises(AttachmentRefused, match=r"not an image .* or a PDF"):
        Attachment.from_path(text)
    huge = tmp_path / "huge.png"
    huge.write_bytes(png(4, 4) + b"\0" * MAX_BYTES)
    with pytest.raises(AttachmentRefused, match="at most 20 MB"):
        Attachment.from_path(huge)
    assert pdf_pages(REPORT.data) == 2


def test_attachments_are_stored_with_the_message_and_sent_again_as_context(
    db: Database, chats: Chats
) -> None:
    first = _send(chats, None, "What is in these?", "gpt-4o", PHOTO, REPORT)
    conversation = first.conversation_id
    assert conversation is not None
    with db.read() as session:
        shown = conversations.messages(session, conversation)
        history = conversations.history(session, conversation)
        rows = session.scalars(select(AttachmentRow).order_by(AttachmentRow.position)).all()
        prompt = session.scalars(select(Message).where(Message.role == "user")).one()
    assert shown[0].attachments == (PHOTO, REPORT)
    assert shown[1].attachments == ()
    assert [(r.message_id, r.position, r.name) for r in rows] == [
        (prompt.id, 0, "photo.png"),
        (prompt.id, 1, "report.pdf"),
    ]
    image, document, text = history[0].parts
    assert isinstance(image, ImagePart) and image.url.startswith("data:image/png;base64,")
    assert base64.b64decode(image.url.partition(",")[2]) == PHOTO.data
    assert isinstance(document, DocumentPart) and document.name == "report.pdf"
    assert text == "What is in these?"
    # A later turn carries them as context: its prompt is counted with them.
    later = chats.quote(conversation, "And now?", "demo", "gpt-4o")
    assert any(isinstance(p, ImagePart) for m in later.messages for p in m.parts)
    assert later.count.tokens > 765 + 2 * DEFAULT_PER_PAGE


def test_the_quote_counts_an_image_by_the_providers_formula(chats: Chats) -> None:
    bare = chats.quote(None, "Describe it.", "demo", "gpt-4o")
    with_image = chats.quote(None, "Describe it.", "demo", "gpt-4o", attachments=[PHOTO])
    assert with_image.count.tokens - bare.count.tokens == tokens_for_size(
        Tiles(85, 170), 1024, 1024
    )
    assert with_image.count.tokens - bare.count.tokens == 765
    assert with_image.count.exact  # the size was read from the bytes
    assert with_image.prompt_cost > bare.prompt_cost


def test_a_pdf_is_estimated_by_its_pages(chats: Chats) -> None:
    bare = chats.quote(None, "Summarise.", "demo", "gpt-4o")
    quoted = chats.quote(None, "Summarise.", "demo", "gpt-4o", attachments=[REPORT])
    assert quoted.count.tokens - bare.count.tokens == 2 * DEFAULT_PER_PAGE
    assert not quoted.count.exact and "approximate parts" in quoted.count.method
    gemini = chats.quote(None, "Summarise.", "demo", "gemini-2.5-flash", attachments=[REPORT])
    assert not gemini.count.exact


def test_an_endpoint_that_cannot_take_a_file_refuses_before_sending(
    db: Database, chats: Chats
) -> None:
    with replay_server() as server, db.write() as session:
        local = add_endpoint(session, "Local server", server.url + "/v1", needs_key=False).id
    with pytest.raises(AttachmentRefused, match="no common way to send a PDF"):
        chats.quote(None, "Summarise.", local, "llama-3", attachments=[REPORT])
    with pytest.raises(AttachmentRefused, match="no common way to send a PDF"):
        chats.send(None, "Summarise.", local, "llama-3", attachments=[REPORT])
    with pytest.raises(AttachmentRefused, match="takes text only"):
        chats.quote(None, "Look.", "demo", "gpt-3.5-turbo", attachments=[PHOTO])
    assert server.requests == []
    with db.read() as session:
        assert session.scalars(select(Message)).all() == []


def test_a_text_only_model_is_refused_an_image_in_the_history(db: Database, chats: Chats) -> None:
    conversation = _send(chats, None, "Look.", "gpt-4o", PHOTO).conversation_id
    with pytest.raises(AttachmentRefused, match="takes text only"):
        chats.quote(conversation, "And?", "demo", "gpt-3.5-turbo")


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-5-pro", "claude-sonnet-4-5", "gemini-2.5-flash"])
def test_each_protocol_of_the_offline_demo_takes_images_and_pdfs(chats: Chats, model: str) -> None:
    metered = _send(chats, None, "What is in these?", model, PHOTO, REPORT)
    assert metered.text
    assert metered.estimate.tokens > 2 * 258


def _recorded(db: Database, chats: Chats, api: str, model: str) -> dict:
    with replay_server() as server:
        server.answer = Answer(400, {"error": {"message": "recorded"}})
        with db.write() as session:
            endpoint = add_endpoint(session, f"Proxy {api}", server.url, api=api, needs_key=False)
        with pytest.raises(ProviderError):
            list(
                chats.send(
                    None, "What is in these?", endpoint.id, model, attachments=[PHOTO, REPORT]
                )
            )
        return _only(server).body


def _only(server: ReplayServer):
    assert server.requests
    return server.requests[-1]


def test_anthropic_gets_image_and_document_blocks(db: Database, chats: Chats) -> None:
    body = _recorded(db, chats, "anthropic", "claude-sonnet-4-5")
    image, document, text = body["messages"][0]["content"]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png"
    assert base64.b64decode(image["source"]["data"]) == PHOTO.data
    assert document == {
        "type": "document",
        "source": {
            "type": "base64",
            "media_type": "application/pdf",
            "data": base64.b64encode(REPORT.data).decode(),
        },
    }
    assert text == {"type": "text", "text": "What is in these?"}


def test_gemini_gets_inline_data_for_both(db: Database, chats: Chats) -> None:
    body = _recorded(db, chats, "gemini", "gemini-2.5-flash")
    image, document, text = body["contents"][0]["parts"]
    assert image["inlineData"]["mimeType"] == "image/png"
    assert document["inlineData"] == {
        "mimeType": "application/pdf",
        "data": base64.b64encode(REPORT.data).decode(),
    }
    assert text == {"text": "What is in these?"}


def test_openai_gets_an_image_url_and_a_file_part() -> None:
    message = ChatMessage("user", (PHOTO.part(), REPORT.part(), "What is in these?"))
    turn = Turn("gpt-4o", (message,))
    chat = openai.ChatCompletionsAdapter().call("http://x/v1", None, turn, stream=True).body
    image, document, text = chat["messages"][0]["content"]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert document == {
        "type": "file",
        "file": {
            "filename": "report.pdf",
            "file_data": "data:application/pdf;base64," + base64.b64encode(REPORT.data).decode(),
        },
    }
    assert text == {"type": "text", "text": "What is in these?"}
    responses = openai.ResponsesAdapter().call("http://x/v1", None, turn, stream=True).body
    kinds = [part["type"] for part in responses["input"][0]["content"]]
    assert kinds == ["input_image", "input_file", "input_text"]
    # What a server receiving them reads back (the emulator, the local endpoint) is the same.
    assert payloads.from_chat_completions(chat).messages == (message,)
    assert payloads.from_responses(responses).messages[0].parts[1] == REPORT.part()
