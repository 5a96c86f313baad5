"""One row per request (and per top-up), as a person reads spend, a keyset page at a time.

The columns say what a request was in the user's words: where it came from, which model, tokens
in and out, what it cost (positive, readable, exact on hover), how it ended, and what to look at
twice (an estimate, a default rate, the provider's own figure). Pages come from
:func:`app.core.ledger.request_rows.page`, newest first or oldest first.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from sqlalchemy.orm import Session

from app.core import money
from app.core.conversations import source_label
from app.core.ledger import request_rows
from app.core.ledger.request_rows import Position, RequestRow
from app.core.ledger.selection import Selection
from app.core.types import RequestStatus
from app.ui.context import AppContext
from app.ui.transactions.paging import Column, PagedTableModel

DEFAULT_RATE_FLAG = "⚠ default rate"
_STATUS_WORDS = {
    RequestStatus.COMPLETE.value: "complete",
    RequestStatus.INCOMPLETE.value: "incomplete",
    RequestStatus.FAILED.value: "failed",
    RequestStatus.PENDING.value: "in flight",
    request_rows.TOP_UP: "credits added",
}
_STATUS_TIPS = {
    RequestStatus.COMPLETE.value: "The reply ended as the provider meant it to",
    RequestStatus.INCOMPLETE.value: "Stopped, cut off or recovered after a crash: charged for "
    "what arrived",
    RequestStatus.FAILED.value: "No reply came: nothing was charged",
    RequestStatus.PENDING.value: "Being sent now (or its process stopped; it is settled on the "
    "next start)",
    request_rows.TOP_UP: "Credits added to the balance (a top-up, a refill or a set balance)",
}


def _tokens_in(row: RequestRow) -> str:
    if row.is_top_up or not row.ledger_rows:
        return ""
    cached = f" ({row.cache_read_tokens:,} cached)" if row.cache_read_tokens else ""
    return f"{row.input_tokens:,}{cached}"


def _tokens_in_tip(row: RequestRow) -> str | None:
    if row.is_top_up or not row.ledger_rows:
        return None
    uncached = row.input_tokens - row.cache_read_tokens - row.cache_write_tokens
    parts = [f"{uncached:,} not cached"]
    if row.cache_read_tokens:
        parts.append(f"{row.cache_read_tokens:,} read from the cache")
    if row.cache_write_tokens:
        parts.append(f"{row.cache_write_tokens:,} written to the cache")
    return f"{row.input_tokens:,} input tokens: " + ", ".join(parts)


def _tokens_out(row: RequestRow) -> str:
    if row.is_top_up or not row.ledger_rows:
        return ""
    reasoning = f" ({row.reasoning_tokens:,} reasoning)" if row.reasoning_tokens else ""
    return f"{row.output_tokens:,}{reasoning}"


def _tokens_out_tip(row: RequestRow) -> str | None:
    if row.is_top_up or not row.ledger_rows:
        return None
    text = f"{row.output_tokens:,} output tokens"
    if row.reasoning_tokens:
        text += f", of which {row.reasoning_tokens:,} the model spent reasoning"
    if row.other_units:
        text += f"; {row.other_units:,} other billed units (searches, tool calls)"
    return text


def _cost(row: RequestRow) -> str:
    if row.is_top_up:
        return "+" + money.format_usd(row.cost)
    return money.format_usd(row.cost)


def _cost_tip(row: RequestRow) -> str:
    exact = money.format_usd_exact(row.cost)
    if row.is_top_up:
        return f"{exact} added ({money.format_credits(row.cost)} credits)"
    text = f"{exact} ({money.format_credits(row.cost)} credits)"
    if row.provider_figure:
        text += ": the provider's own figure"
    if row.default_rate:
        text += "; priced at the default rate, the model's real price may differ a lot"
    return text


def flags(row: RequestRow) -> list[str]:
    """What to look at twice about ``row``, each a few words."""
    found = []
    if row.default_rate:
        found.append(DEFAULT_RATE_FLAG)
    if row.estimated:
        found.append("≈ estimated")
    if row.provider_figure:
        found.append("provider's figure")
    if row.requested_model:
        found.append(f"asked {row.requested_model}")
    if row.usage_notes:
        found.append("⚠ usage not fully understood")
    return found


def _flags_tip(row: RequestRow) -> str | None:
    lines = []
    if row.default_rate:
        lines.append(
            "⚠ default rate: the price table has no price for this model (or one of its units), "
            "so it was priced at Tallybook's default; set one in Tools > Prices…"
        )
    if row.estimated:
        lines.append("≈ estimated: Tallybook counted the tokens itself; the provider reported none")
    if row.provider_figure:
        lines.append("provider's figure: the charge is the cost the provider reported")
    if row.requested_model:
        lines.append(f"asked {row.requested_model}: the reply named {row.model}, which was priced")
    if row.usage_notes:
        lines.append(f"⚠ usage not fully understood: {row.usage_notes}")
    return "\n".join(lines) or None


def _conversation(row: RequestRow) -> str:
    if row.is_top_up:
        return "Credits"
    return row.conversation_title or "—"


def _conversation_tip(row: RequestRow) -> str | None:
    if row.conversation_id is None:
        return None
    why = "" if row.context == "message" else f" · {row.context} request"
    return f"{row.conversation_title} (#{row.conversation_id}){why}"


COLUMNS: tuple[Column[RequestRow], ...] = (
    Column(
        "Time (UTC)",
        "created_at",
        lambda r: r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        tip="When the request was charged, in UTC like the reports and the CSV",
    ),
    Column(
        "Source",
        None,
        lambda r: source_label(r.source) if r.source else "—",
        tip="Where the request came from: the chat window, or a tool on the local endpoint",
    ),
    Column(
        "Conversation",
        None,
        _conversation,
        tip="The conversation the request belonged to",
        cell_tip=_conversation_tip,
    ),
    Column("Provider", None, lambda r: r.provider or "—"),
    Column("Model", None, lambda r: r.model or "—"),
    Column(
        "Tokens in",
        None,
        _tokens_in,
        numeric=True,
        tip="Input tokens, cached ones included (how many were read from the cache in brackets)",
        cell_tip=_tokens_in_tip,
    ),
    Column(
        "Tokens out",
        None,
        _tokens_out,
        numeric=True,
        tip="Output tokens (the model's reasoning among them in brackets, where it says)",
        cell_tip=_tokens_out_tip,
    ),
    Column(
        "Cost",
        None,
        _cost,
        numeric=True,
        tip="What the request cost (a top-up: what it added); the exact amount on hover",
        cell_tip=_cost_tip,
    ),
    Column(
        "Status",
        None,
        lambda r: _STATUS_WORDS.get(r.status, r.status),
        tip="complete, incomplete (stopped or cut off: charged for what arrived), failed "
        "(nothing charged), in flight",
        cell_tip=lambda r: _STATUS_TIPS.get(r.status),
    ),
    Column(
        "Flags",
        None,
        lambda r: " · ".join(flags(r)),
        tip="⚠ default rate: no price in the table, priced at the default; ≈ estimated: "
        "Tallybook counted the tokens; provider's figure: the provider's own cost is the charge",
        cell_tip=_flags_tip,
    ),
)
TIME_COLUMN = 0
CONVERSATION_COLUMN = 2


class RequestTableModel(PagedTableModel[RequestRow]):
    """The requests and top-ups of a filter by time, loaded lazily; it keeps no totals (the
    view's footer sums the ledger rows, which are the same money)."""

    def __init__(
        self,
        context: AppContext,
        parent: QObject | None = None,
        *,
        page_size: int = request_rows.PAGE_SIZE,
    ) -> None:
        super().__init__(context, COLUMNS, parent, page_size=page_size, with_totals=False)

    def _read(
        self,
        session: Session,
        selection: Selection,
        *,
        sort: str,
        descending: bool,
        after: Any,
        limit: int,
    ) -> list[RequestRow]:
        return request_rows.page(
            session, selection, descending=descending, after=after, limit=limit
        )

    def _after(self, row: RequestRow, sort: str) -> Position:
        return row.position
