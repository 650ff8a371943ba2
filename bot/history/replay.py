"""Replay: each request carries the system prompt and the newest stored messages that fit
the token budget, normalised to what the Chat/Messages APIs accept (user first, strict
alternation, authors named when several people talk). Also the base of the chain strategy,
which replays whenever its chain breaks, and of the one-shot summary requests."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import lru_cache

from bot.config import Settings
from bot.errors import ErrorKind, ProviderError
from bot.history.compaction import SUMMARY_HEADER, Compactor, speaker
from bot.history.window import Window
from bot.images import IMAGE_TOKENS, sees_images, with_images
from bot.meter import Meter
from bot.ports import Provider, Store
from bot.providers.reasoning import thinking_tokens
from bot.tokens import TokenCounter, is_openai_model
from bot.types import ChatMessage, Completion, ContextMessage, Request, Role, ThreadState

log = logging.getLogger(__name__)

# Per-message framing the APIs add around content (role markers etc.); counted at insert so
# the budget holds for many short messages, not just for long ones.
MESSAGE_OVERHEAD_TOKENS = 4
TRUNCATION_NOTE = "\n\n[…message truncated: it was longer than the bot's context budget]"
SUMMARY_SYSTEM = (
    "You summarise chat conversations for someone catching up. Give the key points, decisions "
    "and open questions as a short bulleted list. Name people where it matters."
)


class ReplayHistory:
    name = "replay"
    # Name every user message (``Name: text``), not only when several people talk.
    always_attribute = False

    def __init__(
        self, store: Store, counter: TokenCounter, settings: Settings,
        provider: Provider | None = None,
    ) -> None:
        self._store = store
        self._counter = counter
        self.model = settings.model_name
        self._system = settings.system_prompt
        self.window = Window(
            settings.context_tokens, settings.max_output_tokens,
            counter.count(settings.system_prompt),
            exact=is_openai_model(self.model) and not counter.estimated,
            thinking=thinking_tokens(settings.reasoning, self.model,
                                     claude=settings.provider == "anthropic"),
        )
        self._prefix_tokens = lru_cache(maxsize=4096)(lambda name: counter.count(f"{name}: "))
        self._image_turns = settings.image_turns
        self.sees_images = sees_images(self.model, settings.vision_models)
        # Rolling summaries need a model to write them (THREADBOT_COMPACTION)
        self.compactor = (
            Compactor(store, counter, provider, self.window,
                      model=settings.compaction_model or self.model)
            if settings.compaction and provider is not None else None
        )

    @property
    def budget(self) -> int:
        """Tokens of history a request may carry (``Window``)."""
        return self.window.budget

    def count(self, text: str) -> int:
        return self._counter.count(text) + MESSAGE_OVERHEAD_TOKENS

    async def request(self, thread: ThreadState, *, before: int | None = None) -> Request:
        return await self.replay(thread, store=False, before=before)

    async def retry(
        self, thread: ThreadState, request: Request, error: ProviderError, *, before: int | None = None
    ) -> Request | None:
        """Over the model's window: once more with less history (the window the server
        states, kept from now on; else half), so a huge paste is answered, truncated with a
        note, and the thread goes on working."""
        if error.kind is not ErrorKind.CONTEXT_TOO_LONG or not request.budget:
            return None
        smaller = self.window.shrunk(error.window, request.budget)
        if smaller is None:
            return None
        log.info("request over the model's window in %s; retrying with %d tokens of history",
                 thread.key, smaller)
        return await self.replay(thread, store=request.store, before=before, budget=smaller)

    async def after_reply(
        self, thread: ThreadState, request: Request, completion: Completion
    ) -> None:
        return None

    async def after_unfinished(self, thread: ThreadState) -> None:
        return None

    async def compact(self, thread: ThreadState, meter: Meter) -> None:
        """After a reply was shown: fold the oldest messages into the rolling summary when
        the thread has outgrown its budget (``Compactor``)."""
        if self.compactor is not None:
            await self.compactor.compact(thread, meter)

    async def replay(
        self, thread: ThreadState, *, store: bool, before: int | None = None,
        budget: int | None = None,
    ) -> Request:
        """Rebuild the context from the local store (up to the reply's row ``before``)."""
        budget = budget or self.budget
        summary, after = await self._summary(thread, budget)
        room = budget - (self.count(summary) if summary else 0)
        window = await self._store.context(thread, room, before=before, after=after)
        authors = {m.author_id for m in window if m.role == "user"}
        attribute = self.always_attribute or len(authors) > 1
        return self._request(self._fitted(window, attribute, room), thread=thread, store=store,
                             budget=budget, summary=summary)

    def _fitted(self, window: list[ContextMessage], attribute: bool, budget: int
                ) -> tuple[ChatMessage, ...]:
        """The newest messages within ``budget``, images included: when the request will
        carry images, their tokens (``IMAGE_TOKENS`` each) are taken from the budget first
        and the text is fitted to the rest."""
        messages = normalise(self._fit(window, attribute=attribute, budget=budget),
                             attribute=attribute)
        reserve = IMAGE_TOKENS * sum(
            len(m.images) for m in with_images(messages, self._image_turns, sees=self.sees_images))
        if not reserve:
            return messages
        text_budget = max(1, budget - reserve)
        return normalise(self._fit(window, attribute=attribute, budget=text_budget),
                         attribute=attribute)

    async def _summary(self, thread: ThreadState, budget: int) -> tuple[str, int]:
        """The rolling summary as the request carries it, and the running total it covers
        ("", 0: none, or one that would leave too little room beside it)."""
        rolling = await self.compactor.summary(thread) if self.compactor else None
        if rolling is None or self.count(rolling.content) * 2 >= budget:
            return "", 0
        return f"{SUMMARY_HEADER}\n{rolling.content}", rolling.covers.tokens

    async def summary_request(self, thread: ThreadState) -> Request | None:
        """The conversation to summarise: the rolling summary (whatever compacted the
        thread's start), then the messages after it that fit beside it."""
        rolling = await self._store.rolling_summary(thread)
        earlier = rolling.content if rolling else ""
        room = self.budget - (self.count(earlier) if earlier else 0)
        window = await self._store.context(thread, room, after=rolling.covers.tokens if rolling else 0)
        if not window and not earlier:
            return None
        return self.transcript_request([(speaker(m), m.content) for m in window], earlier=earlier)

    def transcript_request(self, lines: Sequence[tuple[str, str]], *, earlier: str = "") -> Request:
        """The newest lines within budget (beside ``earlier``, a summary of what came
        before them), as one user message to summarise."""
        kept: list[str] = []
        used = self.count(earlier) if earlier else 0
        for who, text in reversed(lines):
            line = f"{who}: {text}" if who else text
            used += self.count(line)
            if used > self.budget and kept:
                break
            kept.append(line)
        transcript = "\n".join(reversed(kept))
        if earlier:
            transcript = f"{SUMMARY_HEADER}\n{earlier}\n\nThe messages since:\n{transcript}"
        prompt = f"Summarize this conversation:\n\n{transcript}"
        return Request(
            model=self.model,
            system=SUMMARY_SYSTEM,
            messages=(ChatMessage("user", self._counter.truncate(prompt, self.budget)),),
            max_output_tokens=self.window.max_output,
        )

    def _request(
        self,
        messages: tuple[ChatMessage, ...],
        *,
        thread: ThreadState,
        store: bool,
        previous_response_id: str | None = None,
        budget: int | None = None,
        summary: str = "",
    ) -> Request:
        system = "\n\n".join(part for part in (self._system, summary) if part)
        return Request(
            model=self.model,
            system=system,
            messages=with_images(messages, self._image_turns, sees=self.sees_images),
            max_output_tokens=self.window.max_output,
            previous_response_id=previous_response_id,
            store=store,
            budget=budget or self.budget,
            summary=summary,
            cache_key=cache_key(thread),
        )

    def _fit(
        self, messages: list[ContextMessage], *, attribute: bool, budget: int | None = None
    ) -> list[ContextMessage]:
        """The newest messages within budget, ``Name: `` prefixes counted when ``attribute``;
        the newest is kept (truncated) even if alone it is too long, so a huge paste gets an
        answer instead of an error."""
        budget = budget or self.budget

        def cost(m: ContextMessage) -> int:
            named = attribute and m.role == "user" and m.author_name
            return m.tokens + (self._prefix_tokens(m.author_name) if named else 0)

        costs = [cost(m) for m in messages]
        if sum(costs) <= budget:
            return messages  # the usual case: the store's window already fits
        kept: list[ContextMessage] = []
        used = 0
        for message, spent in zip(reversed(messages), reversed(costs), strict=True):
            used += spent
            if used > budget:
                if not kept:
                    prefix = spent - message.tokens
                    room = max(1, budget - prefix - self.count(TRUNCATION_NOTE))
                    content = self._counter.truncate(message.content, room) + TRUNCATION_NOTE
                    kept.append(message._replace(content=content))
                break
            kept.append(message)
        return kept[::-1]


def normalise(messages: Sequence[ContextMessage], *, attribute: bool) -> tuple[ChatMessage, ...]:
    """User first, strict user/assistant alternation (same-role neighbours merged), and each
    user message prefixed with its author's name when ``attribute``."""
    out: list[ChatMessage] = []
    for m in messages:
        role: Role = "user" if m.role == "user" else "assistant"
        # Leading spaces stay: an indented paste (code without a fence) means what it shows.
        text = m.content.strip("\n").rstrip()
        if not text.strip():
            continue
        if attribute and role == "user" and m.author_name:
            text = f"{m.author_name}: {text}"
        images = m.images if role == "user" else ()
        if out and out[-1].role == role:
            out[-1] = ChatMessage(role, f"{out[-1].content}\n\n{text}", out[-1].images + images)
        elif out or role == "user":
            out.append(ChatMessage(role, text, images))
    return tuple(out)


def cache_key(thread: ThreadState) -> str:
    """One prompt-cache group per thread (OpenAI's ``prompt_cache_key``), without sending
    the platform's ids: a hash of the thread's key."""
    return "threadbot-" + hashlib.sha256(str(thread.key).encode()).hexdigest()[:24]
