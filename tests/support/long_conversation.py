"""A long stored conversation (1,000 messages by default) of long Markdown and code replies.

Shared by ``tests/ui/test_long_conversation.py`` and ``benchmarks/bench_window.py``: each reply is
a few thousand characters of headings, lists, paragraphs, inline code and a fenced code block,
charged on the ledger exactly as a live reply is (so every reply has its cost footer).
"""

from __future__ import annotations

from datetime import timedelta

from app.core import conversations
from app.core.clock import utcnow
from app.core.ledger import entries
from app.core.ledger.entries import Spend
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.storage.db import Database
from app.core.types import ConversationId

PROVIDER, MODEL = "demo", "gpt-4o-mini"


def question(turn: int) -> str:
    """The user's message of a turn (plain text, shown as typed)."""
    return f"Question {turn}: how would you write step {turn} of the parser, and why?"


def reply(turn: int) -> str:
    """A reply of about 3,000 characters: prose, a list, inline code and a code block."""
    paragraph = (
        f"Step {turn} reads the next token with `next_token()` and decides, from **its kind "
        "alone**, which rule applies; a rule that needs more context _peeks_ instead of "
        "consuming, so a failed match costs nothing. See [the notes](https://example.com/notes) "
        "for why backtracking is avoided here. "
    ) * 3
    items = "\n".join(
        f"{n}. Keep `state_{n}` small: it is copied on every branch ({n * turn} bytes today)."
        for n in range(1, 7)
    )
    code = "\n".join(
        [
            "```python",
            f"def step_{turn}(tokens: list[str], position: int) -> tuple[Node, int]:",
            '    """Parse one statement starting at ``position``."""',
            "    kind = classify(tokens[position])",
            "    if kind is Kind.KEYWORD:",
            "        return keyword_rule(tokens, position + 1)",
            *(f"    # case {n}: {'x' * (n % 7 + 20)} handled below" for n in range(12)),
            "    node, position = expression(tokens, position)",
            "    return Node(kind, [node]), position",
            "```",
        ]
    )
    return (
        f"## Step {turn}\n\n{paragraph}\n\n{items}\n\n{code}\n\n{paragraph}\n\n> Done: step {turn}."
    )


def create(db: Database, messages: int = 1000) -> ConversationId:
    """Store a conversation of ``messages`` messages (questions and replies taking turns)."""
    start = utcnow() - timedelta(days=1)
    with db.write() as session:
        book = PriceBook.load(session)
        rates = book.rates(MODEL, provider="openai", at=start)
        conversation = conversations.create_conversation(
            session, title="A long conversation", provider=PROVIDER, model=MODEL, now=start
        )
        spends = []
        for index in range(messages):
            turn, at = index // 2 + 1, start + timedelta(seconds=index)
            if index % 2 == 0:
                text, role = question(turn), "user"
            else:
                text, role = reply(turn), "assistant"
            message_id = conversations.add_message(
                session, conversation.id, role, text, provider=PROVIDER, model=MODEL, now=at
            )
            if role == "assistant":
                usage = TokenUsage(prompt_tokens=400 + 30 * turn, completion_tokens=700 + turn)
                spends.append(
                    (Spend(PROVIDER, MODEL, usage, rates, conversation.id, message_id), at)
                )
        entries.spend_many(session, spends)
    return conversation.id
