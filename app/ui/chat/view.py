"""The chat area of the main window: one conversation, replies streaming in, and what they cost.

Everything slow happens off the GUI thread: database reads on ``context.reads`` (side by side),
writes on ``context.tasks`` (one thread, in order), replies and titles on ``context.streams``.
Results come back as signals and are painted only if they still belong to what is on screen
(each load and quote carries a generation number; a reply keeps its own widgets and lets go of
them when the view moves on). A conversation opens on its newest page, and only what fills the
view is built (:class:`~app.ui.chat.message_list.MessageList`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from app.core.attachments import Attachment
from app.core.chats import NewConversation, Opened
from app.core.conversations import MessageView
from app.core.counting.tokens import TokenCount
from app.core.errors import (
    ConversationNotFound,
    MissingKey,
    ProviderError,
    SpendRefused,
    TallybookError,
)
from app.core.ledger import alerts
from app.core.metering import checks
from app.core.metering.client import Metered, Quote, StreamItem
from app.core.model_settings import DEFAULT_SETTINGS, ModelSettings
from app.core.money import format_usd
from app.core.providers.base import ReasoningDelta, TextDelta
from app.core.storage.changes import CONVERSATIONS, LEDGER, SETTINGS, Changes
from app.core.types import ConversationId, MessageId, RequestStatus
from app.ui.alerts import send_warning
from app.ui.chat import loading
from app.ui.chat.attachments import show_in_message
from app.ui.chat.composer import Composer
from app.ui.chat.figures import (
    context_use,
    estimate_line,
    expensive_reason,
    per_million,
    provider_count_line,
)
from app.ui.chat.header import NO_COSTS, ConversationHeader
from app.ui.chat.message import MessageWidget
from app.ui.chat.message_list import MessageList
from app.ui.chat.model_picker import Menu
from app.ui.chat.notices import ErrorStrip, WelcomeCard
from app.ui.context import AppContext
from app.ui.dialogs.model_settings import edit_model_settings, reply_cost_tip
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import LatestLoad
from app.ui.workers import StreamHandle

DEFAULT_SELECTION = ("demo", "gpt-4o-mini")
"""Where a new window sends until told otherwise: the offline demo needs no key."""
QUOTE_DELAY_MS = 250
"""The live estimate waits for a pause in typing this long."""


@dataclass(eq=False)
class _Reply:
    """A reply on its way: what was asked, and where it is shown.

    The widgets are ``None`` once the view shows something else; the reply still streams, is
    metered, and is announced, but paints nothing.
    """

    conversation_id: ConversationId | None
    endpoint: str
    model: str
    text: str
    """The user's message ("" for a retry)."""
    bubble: MessageWidget | None
    prompt_bubble: MessageWidget | None = None
    retry_of: MessageId | None = None
    edit_of: MessageId | None = None
    """The user's message this one is an edited version of (a new branch)."""
    new: NewConversation | None = None
    """The conversation this first message creates (``None``: it has one)."""
    attachments: tuple[Attachment, ...] = ()
    """The files of the user's message."""
    handle: StreamHandle | None = None
    stop_asked: bool = False
    announced: bool = False
    settled: bool = False
    partial: str = ""


class ChatView(QWidget):
    """A conversation: header, messages, inline errors and the composer.

    Signals:
        conversation_created(int): a new conversation was created by the first send (emitted
            once the provider accepted the message; a refused first message leaves none).
        reply_finished(object): the :class:`~app.core.metering.client.Metered` of a reply that
            settled (complete, stopped or broken off).
        busy_changed(bool): a reply started or stopped streaming.
        keys_requested(): the user asked to add an API key.
    """

    conversation_created = Signal(int)
    reply_finished = Signal(object)
    busy_changed = Signal(bool)
    keys_requested = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._header_figures = LatestLoad(context, self)
        self._conversation_id: ConversationId | None = None
        self._load_generation = 0
        self._quote_generation = 0
        self._threshold: Decimal | None = None
        self._reply: _Reply | None = None
        self._busy = False
        self._costs = NO_COSTS
        self._pending_edit: tuple[MessageId, str] | None = None
        """An edit that was not sent, opened again once the conversation is shown anew."""
        self._keep_in_view: MessageId | None = None
        """The message a branch switch was made on: in view once the new branch is shown."""

        self.header = ConversationHeader()
        self.header.system_prompt_saved.connect(self._on_header_system_prompt_saved)
        self.header.drop_oldest_toggled.connect(self._on_header_drop_oldest_toggled)
        self.header.model_settings_requested.connect(self._on_header_model_settings_requested)

        self.welcome = WelcomeCard()
        self.welcome.demo_requested.connect(self._on_welcome_demo_requested)
        self.welcome.keys_requested.connect(self._on_welcome_keys_requested)
        self._welcome_row = QWidget()
        welcome_layout = QHBoxLayout(self._welcome_row)
        welcome_layout.setContentsMargins(0, 24, 0, 24)
        welcome_layout.addStretch(1)
        welcome_layout.addWidget(self.welcome, 4)
        welcome_layout.addStretch(1)
        self._welcome_row.hide()
        self.message_scroll = MessageList(self._welcome_row, self._stored_message)
        self.message_scroll.earlier_wanted.connect(self._on_message_scroll_earlier_wanted)

        self.errors = ErrorStrip()
        self.errors.keys_requested.connect(self._on_errors_keys_requested)
        self.composer = Composer()
        self.composer.submitted.connect(self._on_composer_submitted)
        self.composer.stop_requested.connect(self._on_composer_stop_requested)
        self.composer.draft_changed.connect(self._on_composer_draft_changed)
        self.composer.picker.selection_changed.connect(self._on_picker_selection_changed)
        self.composer.picker.model_chosen.connect(self._on_picker_model_chosen)

        rule_top = QFrame()
        rule_top.setFrameShape(QFrame.Shape.HLine)
        rule_top.setFrameShadow(QFrame.Shadow.Sunken)
        rule_bottom = QFrame()
        rule_bottom.setFrameShape(QFrame.Shape.HLine)
        rule_bottom.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(rule_top)
        layout.addWidget(self.message_scroll, 1)
        layout.addWidget(self.errors)
        layout.addWidget(rule_bottom)
        layout.addWidget(self.composer)

        self._quote_timer = QTimer(self)
        self._quote_timer.setSingleShot(True)
        self._quote_timer.setInterval(QUOTE_DELAY_MS)
        self._quote_timer.timeout.connect(self._on_quote_timer_timeout)

        ChangeThrottle(context.events.changed, SETTINGS, self._on_settings_changed, self)
        ChangeThrottle(
            context.events.changed, CONVERSATIONS | LEDGER, self._on_figures_changed, self
        )
        self.composer.picker.set_selection(*DEFAULT_SELECTION)
        self._load_menu()
        self.open_conversation(None)

    # The public API (used by the main window)

    def open_conversation(self, conversation_id: ConversationId | None) -> None:
        """Show a stored conversation, or ``None`` for a fresh one that is saved on first send.

        A reply still streaming elsewhere carries on (and is charged); it is shown again if
        its conversation is opened before it ends.
        """
        self._load_generation += 1
        generation = self._load_generation
        self._clear_messages()
        self.errors.hide()
        self._conversation_id = conversation_id
        self._costs = NO_COSTS
        self._pending_edit = self._keep_in_view = None
        self.header.set_costs(self._costs)
        self.header.set_context(None, None)
        if conversation_id is None:
            self.header.set_title("New conversation")
            self.header.set_system_prompt("")
            self.header.set_drop_oldest(False)
            self.header.set_model_settings(DEFAULT_SETTINGS)
            db = self._context.db
            self._run_read(
                lambda: loading.has_chatted(db),
                lambda chatted: self._on_has_chatted_done(generation, chatted),
            )
        else:
            self.header.set_title("…")
            self._load(conversation_id)
        self._schedule_quote()

    def current_conversation(self) -> ConversationId | None:
        """The conversation shown, or ``None`` for a fresh one not saved yet."""
        return self._conversation_id

    def selection(self) -> tuple[str, str]:
        """(endpoint id, model) the next message goes to."""
        return self.composer.picker.selection()

    def set_selection(self, endpoint: str, model: str) -> None:
        """Send the next message to this endpoint and model (any model name is accepted)."""
        self.composer.picker.set_selection(endpoint, model)
        self._schedule_quote()

    def stop(self) -> None:
        """Stop the streaming reply; what arrived stays on screen and is charged."""
        reply = self._reply
        if reply is None:
            return
        reply.stop_asked = True
        if reply.handle is not None:
            reply.handle.cancel()

    def focus_composer(self) -> None:
        """Put the cursor in the draft."""
        self.composer.editor.setFocus(Qt.FocusReason.OtherFocusReason)

    def set_confirm_threshold(self, credits: Decimal | None) -> None:
        """Ask before sending a message whose prompt is quoted above ``credits`` (None: never)."""
        self._threshold = credits

    def is_busy(self) -> bool:
        """Whether a reply is on its way."""
        return self._busy

    def quote_pending(self) -> bool:
        """Whether the draft's quote waits for its timer (once started it is a read on the pool)."""
        return self._quote_timer.isActive()

    def messages(self) -> list[MessageWidget]:
        """The message widgets built, oldest first: a long conversation's newest, as far up as
        the user has scrolled (older ones are built on the way up)."""
        return self.message_scroll.widgets()

    # Loading a conversation

    def _load(self, conversation_id: ConversationId) -> None:
        """Read the conversation's branch shown (again: after a branch was switched or made)."""
        self._load_generation += 1
        generation = self._load_generation
        db = self._context.db
        self._run_read(
            lambda: loading.load_conversation(db, conversation_id),
            lambda snapshot: self._on_load_done(generation, snapshot),
            lambda error: self._on_load_failed(generation, error),
        )

    def _on_has_chatted_done(self, generation: int, chatted: bool) -> None:
        if generation == self._load_generation and self._conversation_id is None:
            self._welcome_row.setVisible(not chatted and not self.messages())

    def _on_load_done(self, generation: int, snapshot: loading.ConversationSnapshot) -> None:
        if generation != self._load_generation:
            return
        self._show_snapshot(snapshot)
        conversation = snapshot.conversation
        if conversation.provider and conversation.model:
            self.composer.picker.set_selection(conversation.provider, conversation.model)
        self._schedule_quote()

    def _on_load_failed(self, generation: int, error: BaseException) -> None:
        if generation == self._load_generation:
            self.header.set_title("")
            self.errors.show_message(describe(error))

    def _show_snapshot(self, snapshot: loading.ConversationSnapshot) -> None:
        """Paint a conversation as stored, re-attaching a reply that is still streaming."""
        self._clear_messages()
        conversation = snapshot.conversation
        self.header.set_title(conversation.title)
        self.header.set_system_prompt(snapshot.system_prompt)
        self.header.set_drop_oldest(conversation.drop_oldest)
        self.header.set_model_settings(conversation.model_settings)
        self._costs = snapshot.costs
        self.header.set_costs(self._costs)
        reply = self._reply
        streaming_here = (
            reply is not None and not reply.settled and reply.conversation_id == conversation.id
        )
        shown = list(snapshot.page.messages)
        if streaming_here:
            # The reply in flight is stored empty until it settles; show the live one instead.
            while shown and shown[-1].role == "assistant" and not shown[-1].content:
                shown.pop()
        self.message_scroll.show_stored(loading.MessagePage(shown, snapshot.page.earlier))
        if streaming_here and reply is not None:
            reply.bubble = self._add_message("assistant", model=reply.model)
            reply.bubble.start_streaming(reply.model)
            if reply.partial:
                reply.bubble.append(reply.partial)
        self.message_scroll.stick_to_bottom()
        keep, self._keep_in_view = self._keep_in_view, None
        if keep is not None:
            self.message_scroll.keep_in_view(keep)
        pending, self._pending_edit = self._pending_edit, None
        if pending is not None:
            widget = self._widget_of(pending[0])
            if widget is not None:
                widget.start_editing()
                widget.editor.text_edit.setPlainText(pending[1])

    def _on_message_scroll_earlier_wanted(self, before: int) -> None:
        """The user scrolled up to the oldest message read: read the page stored before it."""
        generation, conversation_id = self._load_generation, self._conversation_id
        if conversation_id is None:
            return
        db = self._context.db
        self._run_read(
            lambda: loading.older_messages(db, conversation_id, before),
            lambda page: self._on_earlier_done(generation, page),
            lambda error: self._on_earlier_failed(generation, error),
        )

    def _on_earlier_done(self, generation: int, page: loading.MessagePage) -> None:
        if generation == self._load_generation:
            self.message_scroll.add_earlier(page)

    def _on_earlier_failed(self, generation: int, error: BaseException) -> None:
        if generation == self._load_generation:
            self.errors.show_message(describe(error))

    # Sending

    def _on_composer_submitted(self) -> None:
        text, files = self.composer.text().strip(), self.composer.attachments()
        if not (text or files) or self._busy:
            return
        if self._threshold is None:
            self._begin_send(text, files)
            return
        self._set_busy(True)  # no second send while the price is checked
        conversation_id = self._conversation_id
        endpoint, model = self.selection()
        new = self._new_conversation()
        chats = self._context.chats
        self._run_read(
            lambda: chats.quote(conversation_id, text, endpoint, model, new=new, attachments=files),
            lambda quote: self._on_send_quote_done(text, files, conversation_id, quote),
            self._on_send_quote_failed,
        )

    def _on_send_quote_done(
        self,
        text: str,
        files: tuple[Attachment, ...],
        conversation_id: ConversationId | None,
        quote: Quote,
    ) -> None:
        self._set_busy(False)
        if conversation_id != self._conversation_id:
            return  # the user moved on while the price was checked
        if self._declined(quote, in_conversation=conversation_id is not None):
            self.focus_composer()
            return
        self._begin_send(text, files)

    def _on_send_quote_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self.errors.show_message(describe(error), offer_keys=isinstance(error, MissingKey))

    def _declined(self, quote: Quote, *, in_conversation: bool) -> bool:
        """Whether the user said no to a message quoted above the confirmation threshold."""
        threshold = self._threshold
        return (
            threshold is not None
            and quote.prompt_cost > threshold
            and not self._confirm_expensive(quote, threshold, in_conversation)
        )

    def _confirm_expensive(self, quote: Quote, threshold: Decimal, in_conversation: bool) -> bool:
        """The one modal question of the chat: is this expensive message worth it?"""
        reason = expensive_reason(quote, in_conversation=in_conversation)
        answer = QMessageBox.question(
            self,
            "Send an expensive message?",
            f"{reason}\n\nYou asked to confirm messages above {format_usd(threshold)}. "
            "Send it anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _new_conversation(self) -> NewConversation | None:
        """The settings a first message creates its conversation with (``None``: it has one)."""
        if self._conversation_id is not None:
            return None
        return NewConversation(
            self.header.system_prompt(),
            self.header.drop_oldest_box.isChecked(),
            self.header.model_settings(),
        )

    def _begin_send(self, text: str, files: tuple[Attachment, ...] = ()) -> None:
        endpoint, model = self.selection()
        self._set_busy(True)
        self.errors.hide()
        self._welcome_row.hide()
        self.composer.clear()
        prompt = self._add_message("user", text)
        show_in_message(prompt, prompt.body, files)
        bubble = self._add_message("assistant", model=model)
        bubble.start_streaming(model)
        self.message_scroll.stick_to_bottom()
        reply = _Reply(
            self._conversation_id,
            endpoint,
            model,
            text,
            bubble,
            prompt,
            new=self._new_conversation(),
            attachments=files,
        )
        self._reply = reply
        self._start_stream(reply)

    def _on_message_retry_requested(self, message_id: MessageId) -> None:
        conversation_id = self._conversation_id
        bubble = self._widget_of(message_id)
        if self._busy or conversation_id is None or bubble is None:
            return
        endpoint, model = self.selection()
        self.errors.hide()
        self._set_busy(True)
        self.message_scroll.remove_after(bubble)  # what followed stays on the old branch
        bubble.set_siblings(())
        bubble.start_streaming(model)
        reply = _Reply(conversation_id, endpoint, model, "", bubble, retry_of=message_id)
        self._reply = reply
        self._start_stream(reply)

    def _on_message_edit_submitted(self, message_id: MessageId, text: str) -> None:
        """Send the edited message as a new branch in place of the old one and what followed."""
        conversation_id = self._conversation_id
        edited = self._widget_of(message_id)
        if conversation_id is None or edited is None:
            return
        if self._busy:
            self.errors.show_message("Wait for the reply to finish (or stop it) to edit.")
            return
        if self._threshold is None:
            self._begin_edit(conversation_id, message_id, text)
            return
        self._set_busy(True)  # no second send while the price is checked, as for a new message
        endpoint, model = self.selection()
        chats = self._context.chats
        self._run_read(
            lambda: chats.quote(conversation_id, text, endpoint, model, replaces=message_id),
            lambda quote: self._on_edit_quote_done(conversation_id, message_id, text, quote),
            self._on_send_quote_failed,
        )

    def _on_edit_quote_done(
        self, conversation_id: ConversationId, message_id: MessageId, text: str, quote: Quote
    ) -> None:
        self._set_busy(False)
        edited = self._widget_of(message_id)
        if conversation_id != self._conversation_id or edited is None:
            return  # the user moved on while the price was checked
        if self._declined(quote, in_conversation=True):
            edited.start_editing(text)  # the edit is kept open, as the composer keeps a draft
            return
        self._begin_edit(conversation_id, message_id, text)

    def _begin_edit(
        self, conversation_id: ConversationId, message_id: MessageId, text: str
    ) -> None:
        edited = self._widget_of(message_id)
        if edited is None:
            return
        endpoint, model = self.selection()
        self.errors.hide()
        self._set_busy(True)
        self.message_scroll.remove_after(edited)
        self.message_scroll.remove(edited)
        prompt = self._add_message("user", text)
        bubble = self._add_message("assistant", model=model)
        bubble.start_streaming(model)
        self.message_scroll.stick_to_bottom()
        reply = _Reply(conversation_id, endpoint, model, text, bubble, prompt, edit_of=message_id)
        self._reply = reply
        self._start_stream(reply)

    def _on_message_branch_requested(self, message_id: MessageId) -> None:
        """Show the branch through another attempt (or edit), remembered by the ledger."""
        conversation_id = self._conversation_id
        if conversation_id is None:
            return
        if self._busy:
            self.errors.show_message("Wait for the reply to finish (or stop it) to switch.")
            return
        chats = self._context.chats
        self._run_write(
            lambda: chats.show_branch(conversation_id, message_id),
            lambda _none: self._on_branch_shown(conversation_id, message_id),
        )

    def _on_branch_shown(self, conversation_id: ConversationId, message_id: MessageId) -> None:
        if conversation_id == self._conversation_id:
            self._keep_in_view = message_id  # where the user switched, not the bottom
            self._load(conversation_id)
            self._schedule_quote()  # the context sent is the new branch's

    def _start_stream(self, reply: _Reply) -> None:
        """Stream the reply on ``context.streams``; its signals come back to this view."""
        conversation_id = reply.conversation_id
        chats = self._context.chats
        endpoint, model, text, retry_of = reply.endpoint, reply.model, reply.text, reply.retry_of
        new, edit_of, files = reply.new, reply.edit_of, reply.attachments

        def make(cancel: threading.Event) -> Generator[StreamItem | Opened, None, None]:
            if retry_of is not None and conversation_id is not None:
                return chats.retry(conversation_id, retry_of, endpoint, model, cancel=cancel)
            if edit_of is not None and conversation_id is not None:
                return chats.edit(conversation_id, edit_of, text, endpoint, model, cancel=cancel)
            return chats.send(
                conversation_id, text, endpoint, model, new=new, cancel=cancel, attachments=files
            )

        handle = self._context.streams.stream(
            make,
            self._guarded(lambda item: self._on_reply_item(reply, item)),
            self._guarded(lambda: self._on_reply_done(reply)),
            self._guarded(lambda error: self._on_reply_failed(reply, error)),
        )
        reply.handle = handle
        if reply.stop_asked:
            handle.cancel()

    def _on_reply_item(self, reply: _Reply, item: object) -> None:
        if isinstance(item, Opened):
            self._on_reply_opened(reply, item)
            return
        if isinstance(item, Metered):
            self._on_reply_metered(reply, item)
            return
        self._announce(reply)
        if isinstance(item, TextDelta):
            reply.partial += item.text
            if reply.bubble is not None:
                reply.bubble.append(item.text)
        elif isinstance(item, ReasoningDelta) and reply.bubble is not None:
            reply.bubble.append_reasoning(item.text)

    def _on_reply_opened(self, reply: _Reply, opened: Opened) -> None:
        """The request was accepted: a first message's conversation exists from here on."""
        reply.conversation_id = opened.conversation_id
        if reply.new is not None and reply.bubble is not None and self._conversation_id is None:
            self._conversation_id = opened.conversation_id
        if reply.prompt_bubble is not None and opened.prompt_id is not None:
            reply.prompt_bubble.set_message_id(opened.prompt_id)  # it can be edited from now on
        self._announce(reply)

    def _on_reply_metered(self, reply: _Reply, metered: Metered) -> None:
        self._announce(reply)
        reply.settled = True
        reply.partial = metered.text
        if reply.bubble is not None:
            reply.bubble.finish(metered.text, metered.as_usage(), metered.message_id)
            if metered.error is not None:
                self.errors.show_message(describe(metered.error))
        if reply.conversation_id == self._conversation_id:
            costs = self._costs
            self._costs = replace(
                costs, total=costs.total + metered.cost, branch=costs.branch + metered.cost
            )
            self.header.set_costs(self._costs)
        self.reply_finished.emit(metered)
        if metered.status == RequestStatus.COMPLETE and metered.error is None:
            self.composer.picker.reply_succeeded(reply.endpoint, reply.model)  # a typo is not kept
        if (
            metered.status == RequestStatus.COMPLETE
            and metered.error is None
            and reply.retry_of is None
            and reply.edit_of is None
        ):
            self._name_conversation(reply)

    def _on_reply_done(self, reply: _Reply) -> None:
        if self._reply is reply:
            self._reply = None
        self._set_busy(False)
        if self._forked_here(reply) and reply.conversation_id is not None:
            self._load(reply.conversation_id)  # the new attempt's < 2/2 >, read from the tree
        self._schedule_quote()

    def _forked_here(self, reply: _Reply) -> bool:
        """Whether the reply was a retry or an edit of the conversation on screen."""
        forked = reply.retry_of is not None or reply.edit_of is not None
        return forked and reply.conversation_id == self._conversation_id

    def _on_reply_failed(self, reply: _Reply, error: BaseException) -> None:
        """No reply came: say why in the chat and give the message back. The chat service
        stored nothing of it (a first message's conversation was not kept either), so the
        view shows the conversation as it was."""
        if self._reply is reply:
            self._reply = None
        quiet = reply.stop_asked and isinstance(error, ProviderError)
        if isinstance(error, SpendRefused):  # on the banner, with its remedy's button, until
            self._context.events.alert.emit(alerts.refused(error))  # its cause is gone
        elif not quiet:
            self.errors.show_message(describe(error), offer_keys=isinstance(error, MissingKey))
        showing = reply.bubble is not None and self._conversation_id == reply.conversation_id
        self._drop_reply_widgets(reply)
        if showing and self._forked_here(reply) and reply.conversation_id is not None:
            if reply.edit_of is not None:
                self._pending_edit = (reply.edit_of, reply.text)  # the edit opens again
            self._load(reply.conversation_id)  # the branch as it was
        elif showing:
            self._give_back(reply.text)
            self.composer.add_attachments(reply.attachments)
        self._set_busy(False)
        self._schedule_quote()

    def _announce(self, reply: _Reply) -> None:
        """Tell the window about the conversation the first message created, once."""
        if reply.new is not None and not reply.announced and reply.conversation_id is not None:
            reply.announced = True
            self.conversation_created.emit(reply.conversation_id)

    def _give_back(self, text: str) -> None:
        """Put a message that was not sent back in the draft, before anything typed since."""
        if not text:
            return
        typed = self.composer.text()
        self.composer.set_text(f"{text}\n\n{typed}" if typed.strip() else text)

    def _name_conversation(self, reply: _Reply) -> None:
        """Title a new conversation with its model, off the GUI thread (metered; may skip)."""
        conversation_id = reply.conversation_id
        if conversation_id is None or not reply.text:
            return
        chats = self._context.chats
        endpoint, model, text = reply.endpoint, reply.model, reply.text
        self._context.streams.run(
            lambda: chats.name(conversation_id, endpoint, model, text),
            lambda _title: None,  # the title's commit refreshes the header and the list
            self._guarded(lambda error: self._on_naming_failed(conversation_id, error)),
        )

    def _on_naming_failed(self, conversation_id: ConversationId, error: BaseException) -> None:
        # A title is a nicety: a provider refusing it is not worth interrupting the chat for.
        if not isinstance(error, TallybookError) and conversation_id == self._conversation_id:
            self.errors.show_message(describe(error))

    # The live estimate and the context gauge

    def _schedule_quote(self) -> None:
        self._quote_generation += 1  # whatever is in flight describes an older draft
        self._quote_timer.start()

    def _on_quote_timer_timeout(self) -> None:
        self._quote_generation += 1
        generation = self._quote_generation
        endpoint, model = self.selection()
        if not endpoint or not model:
            self.composer.set_estimate("")
            self.header.set_context(None, None)
            return
        text = self.composer.text()
        conversation_id = self._conversation_id
        new = self._new_conversation()
        chats, db = self._context.chats, self._context.db

        files = self.composer.attachments()
        draft = bool(text.strip() or files)

        def read() -> tuple[Quote, SpendRefused | None]:
            quote = chats.quote(conversation_id, text, endpoint, model, new=new, attachments=files)
            return quote, checks.quote_refusal(db, quote) if draft else None

        self._run_read(
            read,
            lambda quoted: self._on_quote_done(generation, draft, *quoted),
            lambda error: self._on_quote_failed(generation, error),
        )

    def _on_quote_done(
        self, generation: int, draft: bool, quote: Quote, refusal: SpendRefused | None
    ) -> None:
        if generation != self._quote_generation:
            return
        if draft:  # warned before sending what the balance or a budget would refuse
            self.composer.set_estimate(
                send_warning(estimate_line(quote), refusal),
                describe(refusal)
                if refusal is not None
                else f"What the prompt costs, counted with {quote.count.method} "
                f"({'exact' if quote.count.exact else 'an estimate'}). The reply is paid on top, "
                f"at {per_million(quote.rates.completion)} per 1M output tokens."
                + reply_cost_tip(quote),
                quote.rates,
            )
            if not quote.count.exact:
                self._ask_provider_count(generation, quote)
        else:
            self.composer.set_estimate("")
        use = context_use(quote)
        if use is None:
            self.header.set_context(None, None)
        else:
            self.header.set_context(*use, exact=quote.count.exact)

    def _ask_provider_count(self, generation: int, quote: Quote) -> None:
        """Anthropic's or Gemini's own count, in the background, if the user allows it."""
        db = self._context.db

        def done(count: TokenCount | None) -> None:
            if count is not None and generation == self._quote_generation:
                self.composer.set_estimate(
                    provider_count_line(quote, count),
                    f"Counted by the provider; Tallybook's own estimate was "
                    f"{quote.count.tokens:,} tokens.",
                    quote.rates,
                )

        def failed(error: BaseException) -> None:
            if generation == self._quote_generation:  # the local estimate stands; say why
                self.composer.set_estimate(
                    estimate_line(quote),
                    f"The provider could not count it: {describe(error)}",
                    quote.rates,
                )

        self._context.streams.run(
            lambda: loading.provider_count(db, quote), self._guarded(done), self._guarded(failed)
        )

    def _on_quote_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._quote_generation:
            return
        words = describe(error)
        self.composer.set_estimate(words, words)
        self.header.set_context(None, None)

    # Conversation settings

    def _on_header_system_prompt_saved(self, text: str) -> None:
        conversation_id = self._conversation_id
        if conversation_id is not None:
            chats = self._context.chats
            self._run_write(
                lambda: chats.configure(conversation_id, system_prompt=text),
                lambda _none: self._schedule_quote(),
            )
        self._schedule_quote()

    def _on_header_drop_oldest_toggled(self, enabled: bool) -> None:
        conversation_id = self._conversation_id
        if conversation_id is not None:
            chats = self._context.chats
            self._run_write(
                lambda: chats.configure(conversation_id, drop_oldest=enabled),
                lambda _none: self._schedule_quote(),
            )

    def _on_header_model_settings_requested(self) -> None:
        """The settings the selected model takes, in a dialog; saved with the conversation (a
        new one is created with them), and the estimate quoted again with them."""
        endpoint, model = self.selection()
        chats, header = self._context.chats, self.header

        def saved(settings: ModelSettings) -> None:
            header.set_model_settings(settings)
            conversation_id = self._conversation_id
            if conversation_id is not None:
                self._run_write(
                    lambda: chats.configure(conversation_id, model_settings=settings),
                    lambda _none: self._schedule_quote(),
                )
            self._schedule_quote()

        self._run_read(
            lambda: chats.offered_settings(endpoint, model),
            lambda offer: edit_model_settings(self, model, offer, header.model_settings(), saved),
        )

    # The model picker and the composer

    def _load_menu(self) -> None:
        db = self._context.db
        self._run_read(lambda: loading.load_menu(db), self._on_menu_loaded)

    def _on_menu_loaded(self, menu: Menu) -> None:
        self.composer.picker.set_menu(menu)
        self._schedule_quote()

    def _on_picker_selection_changed(self, _endpoint: str, _model: str) -> None:
        self._schedule_quote()

    def _on_picker_model_chosen(self, endpoint: str, model: str) -> None:
        chats = self._context.chats
        self._run_write(lambda: chats.choose_model(endpoint, model), lambda _none: None)

    def _on_composer_draft_changed(self) -> None:
        self._schedule_quote()

    def _on_composer_stop_requested(self) -> None:
        self.stop()

    def _on_welcome_demo_requested(self) -> None:
        self.set_selection(*DEFAULT_SELECTION)
        self._welcome_row.hide()
        self.focus_composer()

    def _on_welcome_keys_requested(self) -> None:
        self.keys_requested.emit()

    def _on_errors_keys_requested(self) -> None:
        self.keys_requested.emit()

    # App-wide changes

    def _on_settings_changed(self, _changes: Changes) -> None:
        self._load_menu()  # prices, endpoints or keys may have changed

    def _on_figures_changed(self, _changes: Changes) -> None:
        """Whoever wrote (this window, a title, the CLI): the header's title and total."""
        conversation_id = self._conversation_id
        if conversation_id is None:
            return
        db = self._context.db
        self._header_figures.start(
            lambda: loading.header_figures(db, conversation_id),
            lambda figures: self._on_header_figures_done(conversation_id, figures),
            self._on_header_figures_failed,
        )

    def _on_header_figures_failed(self, error: BaseException) -> None:
        if not isinstance(error, ConversationNotFound):  # deleted meanwhile: the window moves on
            self._on_task_failed(error)

    def _on_header_figures_done(
        self, conversation_id: ConversationId, figures: loading.HeaderFigures
    ) -> None:
        if conversation_id != self._conversation_id:
            return
        self.header.set_title(figures.title)
        if not (self._reply is not None and self._reply.conversation_id == conversation_id):
            self._costs = figures.costs  # not mid-reply: the ledger's figures are the truth
            self.header.set_costs(self._costs)

    # Message list

    def _stored_message(self, message: MessageView) -> MessageWidget:
        """The widget of a stored message: a reply with its cost footer, rendered once."""
        user = message.role == "user"
        text = message.content if user else ""
        widget = self._message_widget(message.role, text, message.model, message.id)
        if not user:
            widget.finish(message.content, message.usage)
        show_in_message(widget, widget.body, message.attachments)
        widget.set_siblings(message.siblings)
        return widget

    def _widget_of(self, message_id: int) -> MessageWidget | None:
        return next((m for m in self.messages() if m.message_id == message_id), None)

    def _message_widget(
        self, role: str, text: str, model: str | None, message_id: int | None = None
    ) -> MessageWidget:
        widget = MessageWidget(role, text, model=model, message_id=message_id)
        widget.retry_requested.connect(self._on_message_retry_requested)
        widget.branch_requested.connect(self._on_message_branch_requested)
        widget.edit_submitted.connect(self._on_message_edit_submitted)
        return widget

    def _add_message(self, role: str, text: str = "", *, model: str | None = None) -> MessageWidget:
        widget = self._message_widget(role, text, model)
        self.message_scroll.append(widget)
        return widget

    def _drop_reply_widgets(self, reply: _Reply) -> None:
        """Take away the bubbles of a reply that never came (a retry's is reloaded instead)."""
        for widget in (reply.prompt_bubble, reply.bubble):
            if widget is not None:
                self.message_scroll.remove(widget)
        reply.prompt_bubble = reply.bubble = None

    def _clear_messages(self) -> None:
        if self._reply is not None:
            self._reply.bubble = self._reply.prompt_bubble = None
        self.message_scroll.clear()

    # Plumbing

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.composer.set_draft_limit(event.size().height() // 3)  # then the draft scrolls

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.composer.set_busy(busy)
            self.busy_changed.emit(busy)

    def _run_read(
        self,
        function: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run a query on ``context.reads``; answers reach this view only while it lives."""
        self._context.reads.run(
            function, self._guarded(on_done), self._guarded(on_error or self._on_task_failed)
        )

    def _run_write(self, function: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        """Run a change on ``context.tasks`` (the one writer), answering as :meth:`_run_read`."""
        self._context.tasks.run(
            function, self._guarded(on_done), self._guarded(self._on_task_failed)
        )

    def _on_task_failed(self, error: BaseException) -> None:
        self.errors.show_message(describe(error))

    def _guarded(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback``, skipped once this widget is gone (results may arrive after closing)."""

        def call(*args: Any) -> None:
            if shiboken6.isValid(self):
                callback(*args)

        return call
