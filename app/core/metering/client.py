"""The metering client: estimate, check, stream, record. Every chat request goes through it.

1. **Quote** (no network, no write): count the prompt, fit the context window (refuse, or drop
   the oldest turns if the conversation allows it), price it.
2. **Journal** (one write transaction): refuse if a blocking budget that covers it is reached;
   check the prompt cost against the balance, minus what requests in flight hold; refuse with
   nothing sent, or write a ``pending`` request holding that cost; the caller's
   :class:`RequestHooks` file it (a conversation's messages) in the same transaction.
3. **Send** over httpx2, retrying 429/5xx/unreachable with backoff (honouring ``Retry-After``)
   only before the reply's first byte, then relay text deltas as they arrive.
4. **Settle** exactly once, whatever happened: the provider's reported usage where it reported
   it, Tallybook's own counts (flagged estimated) where it did not: the pre-send count for the
   input, the received text for the output. A cancelled, cut or malformed reply is charged for
   what arrived, with ``context='incomplete'``; a request that got no reply at all is marked
   failed and charged nothing. Then the alerts that became true are raised, once.

The client keeps no conversations: what a caller wants kept of a request besides its charge
(the chat service's messages) it does in the hooks, inside the client's own transactions.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import httpx2
import tenacity
from sqlalchemy.orm import Session

from app.core import keys, redaction
from app.core.clock import utcnow
from app.core.conversations import MessageUsage
from app.core.counting.tokens import TokenCount, TokenCounter
from app.core.counting.window import fit_context
from app.core.errors import MissingKey, ProviderError, ProviderUnreachable
from app.core.ledger import alerts, entries
from app.core.ledger.entries import Spend, SpendRecord
from app.core.messages import ChatMessage, ToolSpec
from app.core.metering import checks
from app.core.metering.generation_costs import GenerationCosts
from app.core.metering.journal import JournalOwner
from app.core.metering.recovery import StoreText, recover
from app.core.model_settings import DEFAULT_SETTINGS, ModelSettings
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import ModelLimits, PriceBook, Rates
from app.core.pricing.units import extra_units, is_default_rated
from app.core.providers.base import (
    Adapter,
    Delta,
    HttpCall,
    MalformedStream,
    StreamDecoder,
    StreamState,
    TextDelta,
    Turn,
)
from app.core.providers.http import TIMEOUT, raise_for_status, transport_error
from app.core.providers.registry import Endpoint, get_endpoint
from app.core.providers.sse import ServerSentEvent, iter_sse
from app.core.providers.usage import InputTokens, OutputTokens, ReportedUsage, combine
from app.core.redaction import redact
from app.core.storage.db import Database
from app.core.types import ConversationId, MessageId, RequestId, RequestStatus, WireApi

logger = logging.getLogger(__name__)


class RequestHooks(Protocol):
    """What a caller keeps of a request besides its charge, written in the client's own
    transactions so that a refused request leaves nothing and a failed one is undone whole."""

    def opened(self, session: Session, request: ChatRequest, now: datetime) -> Filed:
        """The request was accepted (the journal's transaction): file it."""
        ...

    def abandoned(self, session: Session) -> None:
        """No reply came: undo what :meth:`opened` wrote."""
        ...

    def settled(self, session: Session, text: str) -> None:
        """The request was charged (in a transaction after the charge, so keeping the reply
        can never undo it); ``text`` is the reply as it was charged."""
        ...


@dataclass(frozen=True)
class Filed:
    """Where an accepted request is filed: its charge is under this conversation and message."""

    conversation_id: ConversationId | None
    message_id: MessageId | None = None


@dataclass(frozen=True)
class Passthrough:
    """A request another tool wrote, forwarded as written (what the local endpoint receives).

    Attributes:
        api: the protocol it is written in: ``openai-chat``, ``openai-responses`` or
            ``anthropic``.
        body: the tool's JSON body. Tallybook changes one thing: a streamed Chat Completions
            request always asks for usage (``stream_options.include_usage``), or nothing
            could be metered as reported.
        headers: the tool's protocol headers to keep (``anthropic-beta``...); authentication
            is always Tallybook's own.
    """

    api: WireApi
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    def call(self, made: HttpCall, *, stream: bool) -> HttpCall:
        """``made`` (the adapter's URL and authentication) with the tool's body and headers."""
        body = dict(self.body)
        if stream:
            body["stream"] = True
            if self.api == WireApi.OPENAI_CHAT:
                asked = body.get("stream_options")
                body["stream_options"] = {
                    **(asked if isinstance(asked, dict) else {}),
                    "include_usage": True,
                }
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return HttpCall(made.url, {**made.headers, **self.headers}, body)


@dataclass(frozen=True)
class ChatRequest:
    """One turn to send: where, which model, what, and on whose account.

    Attributes:
        endpoint: an endpoint id (``openai``, ``anthropic``, ``demo``, ``custom-...``).
        conversation_id: the conversation the charge is filed under, when no hooks file it.
        context: ``message`` for a chat turn, ``title`` for naming a conversation.
        hooks: what the caller keeps of the request besides its charge (see
            :class:`RequestHooks`); they decide the conversation and message it is filed under.
        passthrough: the request as another tool wrote it; ``messages`` and ``tools`` are then
            only what it is counted and priced by.
        settings: the conversation's temperature, reasoning effort and thinking budget, as
            the model takes them (the reply limit is ``max_tokens``).
    """

    endpoint: str
    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    conversation_id: ConversationId | None = None
    context: str = "message"
    drop_oldest: bool = False
    hooks: RequestHooks | None = None
    passthrough: Passthrough | None = None
    settings: ModelSettings = DEFAULT_SETTINGS


@dataclass(frozen=True)
class Quote:
    """What a request will send and what its prompt costs, known before anything is sent."""

    request: ChatRequest
    endpoint: Endpoint
    messages: tuple[ChatMessage, ...]
    dropped: int
    count: TokenCount
    rates: Rates
    limits: ModelLimits
    prices: PriceBook

    @property
    def prompt_cost(self) -> Decimal:
        """The prompt at the model's input rate, in credits."""
        return self.count.tokens * self.rates.prompt

    @property
    def reply_limit(self) -> int | None:
        """The longest reply the request allows: its own limit (a conversation's max
        output), else the model's, where known. Thinking and reasoning count within it."""
        return self.request.max_tokens or self.limits.max_output

    @property
    def worst_case(self) -> Decimal | None:
        """The most the request can cost, in credits: the prompt and a reply as long as
        :attr:`reply_limit` at the output rate (``None`` when no limit is known)."""
        limit = self.reply_limit
        return None if limit is None else self.prompt_cost + limit * self.rates.completion

    @property
    def hold(self) -> Decimal:
        """What the request holds of the balance while in flight: its worst case when it
        carries its own reply limit (the most it can cost is then the user's choice), else
        the prompt, which is all the balance check asks to be covered."""
        worst = self.worst_case
        if self.request.max_tokens is None or worst is None:
            return self.prompt_cost
        return worst


@dataclass(frozen=True)
class Metered:
    """The last item of a stream: what the reply was and what it cost.

    Attributes:
        usage: every billed unit of the reply, all steps together.
        status: ``complete``, or ``incomplete`` (cancelled, cut, malformed).
        error: why an incomplete reply stopped, if it was not the user (it is not raised: the
            reply up to that point was charged and is shown).
        model: the model that served the reply, which it was priced by.
        requested_model: the model asked for, when the reply names another.
        computed_cost: Tallybook's own price, in credits.
        provider_cost: the provider's own figure, in credits, where it gave one (the charge).
        usage_notes: what the provider's usage carried that Tallybook did not understand.
        alerts: what became true with this charge (low balance, a budget crossed, an unusual
            request), each raised once: whoever shows alerts shows these.
    """

    request_id: RequestId
    conversation_id: ConversationId | None
    message_id: MessageId | None
    text: str
    usage: TokenUsage
    input_estimated: bool
    output_estimated: bool
    status: RequestStatus
    finish_reason: str | None
    record: SpendRecord
    estimate: TokenCount
    error: ProviderError | None = None
    model: str = ""
    requested_model: str | None = None
    computed_cost: Decimal = Decimal(0)
    provider_cost: Decimal | None = None
    usage_notes: str | None = None
    alerts: tuple[alerts.Alert, ...] = ()

    @property
    def cost(self) -> Decimal:
        """What the reply cost, in credits (positive): the provider's figure where it gave
        one, Tallybook's price otherwise."""
        return -self.record.total

    @property
    def estimated(self) -> bool:
        """Whether any count is Tallybook's own rather than the provider's."""
        return self.input_estimated or self.output_estimated

    def as_usage(self) -> MessageUsage:
        """The reply's figures as a stored reply has them (no need to read the ledger back)."""
        rows = self.record.transactions
        return MessageUsage(
            input_tokens=self.usage.input_tokens,
            output_tokens=self.usage.completion_tokens,
            cached_tokens=self.usage.cache_read_tokens,
            reasoning_tokens=self.usage.reasoning_tokens,
            cost=self.cost,
            estimated=self.estimated,
            status=self.status,
            extras=extra_units((r.token_type, r.raw_amount, r.token_value) for r in rows),
            model=self.model or None,
            requested_model=self.requested_model,
            computed_cost=self.computed_cost,
            provider_cost=self.provider_cost,
            usage_notes=self.usage_notes,
            default_rated=any(is_default_rated(r.rate_source) for r in rows),
        )


StreamItem = Delta | Metered
_Item = TypeVar("_Item")


@dataclass
class _Outcome:
    text: list[str] = field(default_factory=list)
    cancelled: bool = False
    error: ProviderError | None = None


class MeteringClient:
    """Sends chat requests and records every one of them on the ledger.

    Thread-safe: several conversations may stream at once; the ledger serialises the writes.
    """

    def __init__(
        self,
        db: Database,
        *,
        counter: TokenCounter | None = None,
        transport: httpx2.BaseTransport | None = None,
        timeout: httpx2.Timeout = TIMEOUT,
        retries: int = 2,
        backoff: float = 0.5,
        key_for: Callable[[str], keys.ApiKey | None] = keys.get_key,
        clock: Callable[[], datetime] = utcnow,
        save_every: float = 0.5,
        generation_backoff: float = 1.0,
    ) -> None:
        self._db = db
        self.counter = counter or TokenCounter()
        self._http = httpx2.Client(transport=transport, timeout=timeout)
        self._retries = retries
        self._backoff = backoff
        self._key_for = key_for
        self._clock = clock
        self._save_every = save_every
        self._owner = JournalOwner(db.path)
        self.generation_costs = GenerationCosts(db, self._http, backoff=generation_backoff)

    def close(self) -> None:
        """Close the HTTP connections and give up this client's journal claim."""
        self.generation_costs.close()
        self._http.close()
        self._owner.release()

    def recover_pending(self, store_text: StoreText | None = None) -> list[RequestId]:
        """Charge the requests a crashed process left pending (ledger writes: call it from a
        worker at start, not from a constructor); returns their ids. ``store_text`` keeps each
        one's reply text where the caller keeps replies."""
        return recover(self._db, self.counter, self._clock, store_text)

    def quote(self, request: ChatRequest) -> Quote:
        """Count, fit and price the prompt (nothing is sent or written).

        Raises:
            ContextWindowExceeded: it does not fit and may not be trimmed.
            TallybookError: unknown endpoint.
        """
        with self._db.read() as session:
            endpoint = get_endpoint(session, request.endpoint)
            book = PriceBook.load(session)
        limits = book.limits(request.model, provider=endpoint.price_provider)
        fitted = fit_context(
            self.counter,
            request.model,
            request.messages,
            limits,
            tools=request.tools,
            reserve_output=request.max_tokens or 0,
            drop_oldest=request.drop_oldest,
        )
        rates = book.rates(
            request.model, provider=endpoint.price_provider, input_tokens=fitted.count.tokens
        )
        return Quote(
            request, endpoint, fitted.messages, fitted.dropped, fitted.count, rates, limits, book
        )

    def stream(
        self, request: ChatRequest, *, cancel: threading.Event | None = None
    ) -> Generator[StreamItem, None, None]:
        """Send a request and yield its reply as it arrives, then one :class:`Metered`.

        Closing the generator early (or setting ``cancel``) stops the reply; what arrived is
        still charged. Errors before the first byte are raised (after the retries) and charge
        nothing; errors after it end the stream and are reported in :attr:`Metered.error`.

        Raises:
            InsufficientBalance, ContextWindowExceeded, MissingKey: refused; nothing was sent.
            ProviderError: no reply came (bad key, unknown model, rate limit, outage, timeout).
        """
        return self._streamed(request, cancel, lambda _event, deltas: deltas)

    def relay(
        self, request: ChatRequest, *, cancel: threading.Event | None = None
    ) -> Generator[ServerSentEvent | Metered, None, None]:
        """As :meth:`stream`, but yield the provider's events themselves (for the local
        endpoint, which hands them to the tool that asked), then one :class:`Metered`."""
        return self._streamed(request, cancel, lambda event, _deltas: (event,))

    def send(self, request: ChatRequest, *, stream: bool = True) -> Metered:
        """Send a request and wait for the whole reply.

        With ``stream=False`` the provider is asked for one JSON answer instead of a stream
        (some servers report usage only that way).
        """
        if stream:
            for item in self.stream(request):
                if isinstance(item, Metered):
                    return item
            raise AssertionError("a stream always ends with its Metered record")
        return self.exchange(request)[1]

    def exchange(self, request: ChatRequest) -> tuple[bytes, Metered]:
        """Send a request for one JSON answer; return the answer's bytes as the provider sent
        them (for the local endpoint) and what it cost. Raises as :meth:`stream` does."""
        quote, adapter, response, request_id, filed = self._start(request, None, stream=False)
        outcome = _Outcome()
        state = StreamState()
        answer = b""
        try:
            answer = redact(response.read().decode("utf-8", "replace")).encode()
            text, state = adapter.parse_response(response.json())
            outcome.text.append(redact(text))
        except (httpx2.HTTPError, ValueError) as error:
            outcome.error = ProviderUnreachable(
                f"{quote.endpoint.name}'s answer broke off ({type(error).__name__})."
            )
        except ProviderError as error:
            outcome.error = error
        finally:
            response.close()
        return answer, self._settle(quote, state, outcome, request_id, filed)

    def _streamed(
        self,
        request: ChatRequest,
        cancel: threading.Event | None,
        pick: Callable[[ServerSentEvent, list[Delta]], Iterable[_Item]],
    ) -> Generator[_Item | Metered, None, None]:
        quote, adapter, response, request_id, filed = self._start(request, cancel, stream=True)
        decoder = adapter.decoder()
        outcome = _Outcome()
        try:
            for event, deltas in self._relay(
                response, decoder, outcome, cancel, quote.endpoint.name, request_id
            ):
                yield from pick(event, deltas)
        except GeneratorExit:
            outcome.cancelled = True
            raise
        finally:
            response.close()
            metered = self._settle(quote, decoder.state, outcome, request_id, filed)
        yield metered

    def _start(
        self, request: ChatRequest, cancel: threading.Event | None, *, stream: bool
    ) -> tuple[Quote, Adapter, httpx2.Response, RequestId, Filed]:
        """Quote, journal and connect; a request that gets no answer is marked failed."""
        quote = self.quote(request)
        passthrough = request.passthrough
        if passthrough is None:
            adapter, base_url = quote.endpoint.adapter_for(request.model)
        else:
            adapter, base_url = quote.endpoint.adapter_for_api(passthrough.api)
        key = self._key(quote.endpoint)
        request_id, filed = self._journal(quote)
        try:
            max_tokens = request.max_tokens
            if max_tokens is None and adapter.requires_max_tokens:
                max_tokens = quote.limits.max_output
            turn = Turn(
                request.model, quote.messages, request.tools, max_tokens, settings=request.settings
            )
            call = adapter.call(base_url, key, turn, stream=stream)
            if passthrough is not None:
                call = passthrough.call(call, stream=stream)
            response = self._connect(call.url, call.headers, call.body, quote.endpoint, key, cancel)
        except BaseException:
            self._abandon(quote, request_id)
            raise
        return quote, adapter, response, request_id, filed

    def _key(self, endpoint: Endpoint) -> keys.ApiKey | None:
        if not endpoint.needs_key:
            return keys.ApiKey("tallybook-demo", "none") if endpoint.id == "demo" else None
        key = self._key_for(endpoint.id)
        if key is not None:
            redaction.remember(key.secret)  # whatever the provider sends back is scrubbed of it
        if key is None:
            raise MissingKey(
                f"No API key for {endpoint.name}. Add one in Keys (it is kept in the OS key "
                "store), or set its environment variable; the Offline demo needs none."
            )
        return key

    def _journal(self, quote: Quote) -> tuple[RequestId, Filed]:
        """Check the budgets and the balance and write the pending request, in one transaction
        with the caller's filing of it (:meth:`RequestHooks.opened`), so a refused request
        changes nothing."""
        request = quote.request
        now = self._clock()
        with self._db.write() as session:
            checks.check(
                session,
                quote.prompt_cost,
                provider=quote.endpoint.id,
                model=request.model,
                now=now,
            )
            filed = Filed(request.conversation_id)
            if request.hooks is not None:
                filed = request.hooks.opened(session, request, now)
            draft = self._spend(
                quote, TokenUsage(quote.count.tokens, 0), filed, request.context, True, True
            )
            request_id = entries.open_request(
                session, draft, hold=quote.hold, owner=self._owner.id, now=now
            )
        return request_id, filed

    def _abandon(self, quote: Quote, request_id: RequestId) -> None:
        """No reply came: nothing is charged, and what the caller filed is undone."""
        with self._db.write() as session:
            entries.abandon(session, request_id)
            if quote.request.hooks is not None:
                quote.request.hooks.abandoned(session)

    def _connect(
        self,
        url: str,
        headers: dict[str, str],
        body: dict[str, object],
        endpoint: Endpoint,
        key: keys.ApiKey | None,
        cancel: threading.Event | None,
    ) -> httpx2.Response:
        """Open the streamed response, retrying only what may succeed, only before any reply."""
        secret = key.secret if key else ""

        def attempt() -> httpx2.Response:
            if cancel is not None and cancel.is_set():
                raise ProviderError("Cancelled before the provider answered.")
            try:
                response = self._http.send(
                    self._http.build_request("POST", url, json=body, headers=headers), stream=True
                )
            except httpx2.HTTPError as error:
                raise transport_error(error, endpoint.name) from None
            if response.status_code >= 400:
                try:
                    response.read()
                    raise_for_status(response, endpoint.name, secret)
                finally:
                    response.close()
            return response

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda error: getattr(error, "retryable", False)),
            stop=tenacity.stop_after_attempt(self._retries + 1),
            wait=_wait_retry_after(self._backoff),
            sleep=_cancellable_sleep(cancel),
            reraise=True,
        )
        response: httpx2.Response = retrying(attempt)
        return response

    def _relay(
        self,
        response: httpx2.Response,
        decoder: StreamDecoder,
        outcome: _Outcome,
        cancel: threading.Event | None,
        provider: str,
        request_id: int,
    ) -> Iterator[tuple[ServerSentEvent, list[Delta]]]:
        """Yield each event with its deltas until the reply ends, is cancelled, breaks or
        turns malformed, every text in them scrubbed of keys (:class:`ProviderText`).

        The text received so far is saved with the pending request every ``save_every``
        seconds, so a crash mid-reply is charged for what had arrived.
        """
        saved_at = time.monotonic()
        scrub = ProviderText()
        try:
            for raw in iter_sse(response.iter_bytes()):
                event, deltas = scrub.event(raw, decoder.feed(raw))
                outcome.text += (delta.text for delta in deltas if isinstance(delta, TextDelta))
                yield event, deltas
                if time.monotonic() - saved_at >= self._save_every:
                    saved_at = time.monotonic()
                    with self._db.write() as session:
                        entries.save_partial(session, request_id, "".join(outcome.text))
                if cancel is not None and cancel.is_set():
                    outcome.cancelled = True
                    return
        except ProviderError as error:  # a malformed event, an error event, unreadable usage
            outcome.error = error
        except httpx2.HTTPError as error:
            outcome.error = ProviderUnreachable(
                f"{provider} stopped mid-reply ({type(error).__name__}); what arrived was kept."
            )
        except Exception as error:  # a decoder bug must not mark a broken reply complete
            outcome.error = MalformedStream(
                f"{provider} sent a reply Tallybook could not read ({type(error).__name__})."
            )
        finally:
            outcome.text.append(scrub.end())

    def _settle(
        self,
        quote: Quote,
        state: StreamState,
        outcome: _Outcome,
        request_id: RequestId,
        filed: Filed,
    ) -> Metered:
        """Charge the request once: reported counts where reported, Tallybook's own elsewhere;
        then let the caller keep the reply, and raise the alerts the charge made true."""
        text = "".join(outcome.text)
        ended = state.finished or state.finish_reason is not None
        complete = ended and not outcome.cancelled and outcome.error is None
        report = state.usage
        reported_input = report.input
        reported_output = report.output if complete else None
        input_tokens = reported_input or InputTokens(prompt=quote.count.tokens)
        output = reported_output or OutputTokens(
            self.counter.count_text(quote.request.model, text).tokens
        )
        usage = combine(input_tokens, output, report.steps if reported_output else ())
        status = RequestStatus.COMPLETE if complete else RequestStatus.INCOMPLETE
        context = quote.request.context if complete else "incomplete"
        spend = self._spend(
            quote,
            usage,
            filed,
            context,
            reported_input is None,
            reported_output is None,
            report=report if reported_output else replace(report, figure=None),
            served=state.model,
        )
        with self._db.write() as session:
            record = entries.settle(session, request_id, spend, status=status, now=self._clock())
            raised = self._raise_alerts(session, request_id)
        if quote.request.hooks is not None:  # after the charge: keeping it can never undo it
            with self._db.write() as session:
                quote.request.hooks.settled(session, text)
        if state.response_id is not None:  # OpenRouter's exact cost, fetched in the background
            self.generation_costs.later(
                quote.endpoint, request_id, state.response_id, self._key_for
            )
        figure = spend.provider_figure
        return Metered(
            request_id=request_id,
            conversation_id=filed.conversation_id,
            message_id=filed.message_id,
            text=text,
            usage=usage.total(),
            input_estimated=reported_input is None,
            output_estimated=reported_output is None,
            status=status,
            finish_reason=state.finish_reason,
            record=record,
            estimate=quote.count,
            error=outcome.error,
            model=spend.model,
            requested_model=spend.requested_model,
            computed_cost=spend.computed_cost,
            provider_cost=figure.credits if figure else None,
            usage_notes=spend.usage_notes,
            alerts=raised,
        )

    def _raise_alerts(self, session: Session, request_id: RequestId) -> tuple[alerts.Alert, ...]:
        """The alerts this charge made true, each raised once, in the charge's transaction (one
        commit, not two) but inside a savepoint: a failing check is rolled back and logged, and
        the charge stands."""
        try:
            with session.begin_nested():
                return tuple(alerts.check(session, request_id=request_id, now=self._clock()))
        except Exception:
            logger.exception("checking the alerts after request %s failed", request_id)
            return ()

    def _spend(
        self,
        quote: Quote,
        usage: TokenUsage,
        filed: Filed,
        context: str,
        input_estimated: bool,
        output_estimated: bool,
        *,
        report: ReportedUsage | None = None,
        served: str | None = None,
    ) -> Spend:
        request = quote.request
        report = report or ReportedUsage()
        model, rates = self._priced_by(quote, served, usage, dict(report.tier))
        return Spend(
            provider=quote.endpoint.id,
            model=model,
            usage=usage,
            rates=rates,
            conversation_id=filed.conversation_id,
            message_id=filed.message_id,
            context=context,
            input_estimated=input_estimated,
            output_estimated=output_estimated,
            estimated_prompt_tokens=quote.count.tokens,
            estimate_method=quote.count.method,
            requested_model=request.model if model != request.model else None,
            provider_figure=report.figure,
            raw_usage=_usage_json(report.raw),
            usage_notes=_notes(report.unmapped),
            service_tier=_tier_name(report.tier),
        )

    def _priced_by(
        self, quote: Quote, served: str | None, usage: TokenUsage, tier: dict[str, str]
    ) -> tuple[str, Rates]:
        """The model a reply is priced by, and its rates: the one the reply says served it.

        A served name that is the same price-table entry as the requested one (a dated
        snapshot of an alias) keeps the requested name, so reports and budgets see one model;
        a served name the table does not know, for a requested one it does, is priced as
        requested (and still recorded as served on the request).
        """
        requested = quote.request.model
        book, provider = quote.prices, quote.endpoint.price_provider
        size = usage.input_tokens
        if served is None and not tier and size == quote.count.tokens:
            return requested, quote.rates  # what the quote priced (the journal's draft)
        asked = book.rates(requested, provider=provider, input_tokens=size, tier=tier)
        if not served or served == requested:
            return requested, asked
        answered = book.rates(served, provider=provider, input_tokens=size, tier=tier)
        if answered.model == asked.model or (answered.is_default and not asked.is_default):
            return requested, asked
        return served, answered


class ProviderText:
    """Scrubs keys from one streamed reply: each event's data (an error event that quotes the
    key), and the reply's text and reasoning, where a key may arrive split across deltas
    (:class:`~app.core.redaction.StreamRedactor`). An event whose text changed is rewritten, so a
    tool on the local endpoint never receives a key either."""

    def __init__(self) -> None:
        self._text = redaction.StreamRedactor()
        self._reasoning = redaction.StreamRedactor()
        self._secrets = sorted(redaction.known_secrets(), key=len, reverse=True)

    def event(
        self, event: ServerSentEvent, deltas: list[Delta]
    ) -> tuple[ServerSentEvent, list[Delta]]:
        """The event and its deltas as they may be passed on."""
        scrubbed: list[Delta] = []
        changed: list[tuple[str, str]] = []
        for delta in deltas:
            redactor = self._text if isinstance(delta, TextDelta) else self._reasoning
            text = redactor.feed(delta.text)
            if text != delta.text:
                changed.append((delta.text, text))
            if text:
                scrubbed.append(type(delta)(text))
        data = _rewritten(event.data, changed) if changed else event.data
        if any(secret in data for secret in self._secrets) or redaction.looks_like_key(data):
            data = redact(data)
        if data is not event.data:
            event = replace(event, data=data)
        return event, scrubbed

    def end(self) -> str:
        """Reply text still held at the end (the start of a key: masked)."""
        self._reasoning.flush()
        return self._text.flush()


def _rewritten(data: str, changed: list[tuple[str, str]]) -> str:
    """An event's JSON with each changed text value replaced by what may be passed on."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return data
    for before, after in changed:
        parsed = _replace_first(parsed, before, after)[0]
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def _replace_first(value: Any, before: str, after: str) -> tuple[Any, bool]:
    if isinstance(value, str):
        return (after, True) if value == before else (value, False)
    if isinstance(value, dict):
        for key, item in value.items():
            new, done = _replace_first(item, before, after)
            if done:
                return {**value, key: new}, True
    if isinstance(value, list):
        for index, item in enumerate(value):
            new, done = _replace_first(item, before, after)
            if done:
                return [*value[:index], new, *value[index + 1 :]], True
    return value, False


def _usage_json(raw: Any) -> str | None:
    """The provider's usage object as stored: JSON, scrubbed like any provider text."""
    if raw is None:
        return None
    try:
        return redact(json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str))
    except (TypeError, ValueError, RecursionError):
        return None


def _notes(unmapped: tuple[str, ...]) -> str | None:
    if not unmapped:
        return None
    return USAGE_NOT_UNDERSTOOD + ": " + ", ".join(unmapped)[:500]


def _tier_name(tier: tuple[tuple[str, str], ...]) -> str | None:
    return "+".join(value for _, value in tier)[:32] or None


USAGE_NOT_UNDERSTOOD = "usage not fully understood"


def _wait_retry_after(backoff: float) -> Callable[[tenacity.RetryCallState], float]:
    """The provider's ``Retry-After`` when it gave one (capped at a minute), else exponential."""
    exponential = tenacity.wait_exponential(multiplier=backoff, max=30)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), 60.0)
        return float(exponential(state))

    return wait


def _cancellable_sleep(cancel: threading.Event | None) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        if cancel is None:
            threading.Event().wait(seconds)
        elif cancel.wait(seconds):
            raise ProviderError("Cancelled while waiting to retry.")

    return sleep
