"""Compaction: when a thread outgrows its budget, its oldest part is summarised into a rolling
summary instead of silently dropped, so turn 600 still knows what was agreed in turn 3.

A request then carries: system prompt → rolling summary → every message since the summary.
The summary is rewritten in blocks, not one message per turn: once the unsummarised part
passes a high-water mark (``HIGH_WATER`` of the room beside the summary), the oldest
messages are folded into the summary until only ``LOW_WATER`` is left. Between two
compactions the request only grows at its end, so its prefix (system + summary + older
turns) stays byte-identical for many turns and the providers' prompt caches keep hitting.

It runs after a reply has been shown, while the engine still holds the thread's lease (so
never twice at once for one thread; a per-process set guards that too). Its model call is
metered like the reply's (``bot.meter.Meter``): a row in the spending ledger charged to
whoever asked last, checked against their quotas and the spend cap. A compaction that fails
or is refused leaves the thread as it was — the oldest messages leave the context, as with
``THREADBOT_COMPACTION=off`` — with one log line.

The summary row records what it covers as a running token total of its epoch (stable
across ``threadbot migrate-store``, unlike row ids) and how many messages that is, which
model wrote it, when, and the tokens that call used; ``threadbot export`` shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.history.window import Window
from bot.meter import Meter
from bot.ports import Provider, Store
from bot.tokens import TokenCounter
from bot.types import (
    ChatMessage,
    Completion,
    ContextMessage,
    Coverage,
    Request,
    RollingSummary,
    ThreadState,
)

log = logging.getLogger(__name__)

SUMMARY_SHARE = 0.25  # of the history budget, at most, for the rolling summary
HIGH_WATER = 0.75  # of the room beside the summary: past this, compact after the reply...
LOW_WATER = 0.35  # ...down to this, so the next compaction is many turns away
SUMMARY_HEADER = (
    "Summary of the earlier conversation (the messages it covers are not repeated below):"
)
COMPACTION_SYSTEM = (
    "You keep the running summary of a long team chat for an assistant who goes on answering "
    "in it. Merge the previous summary and the new messages into one updated summary. Keep "
    "every fact, decision, agreement, number, name and open question, and say who said or "
    "decided what, by name. Plain text, concise, no preamble."
)


class Compactor:
    def __init__(
        self, store: Store, counter: TokenCounter, provider: Provider, window: Window, *,
        model: str,
    ) -> None:
        self._store = store
        self._counter = counter
        self._provider = provider
        self._window = window
        self.model = model
        self._running: set[int] = set()  # threads being compacted by this process

    @property
    def summary_cap(self) -> int:
        """The longest summary, in tokens: a fixed share, so the rest of the budget stays
        for the conversation itself."""
        return max(32, int(self._window.budget * SUMMARY_SHARE))

    async def summary(self, thread: ThreadState) -> RollingSummary | None:
        return await self._store.rolling_summary(thread)

    async def compact(self, thread: ThreadState, meter: Meter) -> None:
        """Fold the oldest unsummarised block into the summary when the thread needs it."""
        if thread.id in self._running:
            return
        self._running.add(thread.id)
        try:
            await self._compact(thread, meter)
        except Refused as exc:  # a quota or the spend cap: trimmed until it allows one
            log.warning("compaction refused in %s (%s); the oldest messages leave the context "
                        "instead", thread.key, exc)
        except Exception as exc:  # the user already has the answer; the next turn trims
            log.warning("compaction failed in %s (%s); the oldest messages leave the context "
                        "instead", thread.key, exc)
        finally:
            self._running.discard(thread.id)

    async def _compact(self, thread: ThreadState, meter: Meter) -> None:
        total = await self._store.running_total(thread)
        room = self._window.budget - self.summary_cap
        if total <= room * HIGH_WATER:
            return  # a short thread: one read per turn, and no summary to look for
        summary = await self._store.rolling_summary(thread)
        after = summary.covers.tokens if summary else 0
        pending = total - after
        if pending <= room * HIGH_WATER:
            return
        cut = total - int(room * LOW_WATER)  # what stays unsummarised: the newest part
        # A backlog bigger than one block (a thread older than compaction) is summarised
        # from its newest block only: one model call, not one per block of history.
        start = max(after, cut - self._block_cap)
        block, through = await self._store.oldest(thread, cut - start, after=start)
        if not block:
            return
        completion = await self._summarise(summary, block, meter)
        covers = Coverage(through, (summary.covers.messages if summary else 0) + len(block))
        content = self._counter.truncate(completion.text.strip(), self.summary_cap)
        await self._store.add_rolling_summary(thread, RollingSummary(
            content=content, tokens=self._counter.count(content), covers=covers,
            model=completion.model or self.model, usage=completion.usage,
        ))
        log.info("compacted %d messages of %s into its rolling summary", len(block), thread.key)

    @property
    def _block_cap(self) -> int:
        """The most tokens of messages one summarising request carries: with the previous
        summary and the new one, it fits the model's window like any request."""
        return max(64, self._window.budget - 2 * self.summary_cap)

    async def _summarise(
        self, summary: RollingSummary | None, block: Sequence[ContextMessage], meter: Meter
    ) -> Completion:
        transcript = self._counter.truncate(
            "\n".join(f"{speaker(m)}: {m.content.strip()}" for m in block), self._block_cap
        )
        earlier = summary.content if summary else "(none yet)"
        prompt = f"Previous summary:\n{earlier}\n\nNew messages:\n{transcript}"
        request = Request(
            model=self.model, system=COMPACTION_SYSTEM,
            messages=(ChatMessage("user", prompt),), max_output_tokens=self.summary_cap,
        )
        refusal = await meter.admit(request)
        if refusal is not None:
            raise Refused(" ".join(refusal.split()))
        completion: Completion | None = None
        try:
            async for item in self._provider.stream(request):
                if isinstance(item, Completion):
                    completion = item
        except Exception:
            await meter.spent(request, None, "")  # the call ended: its charge closes
            raise
        await meter.spent(request, completion, completion.text if completion else "")
        if completion is None or not completion.text.strip():
            raise ValueError("the model returned no summary")
        return completion


class Refused(Exception):
    """The admin controls did not let the summarising call go ahead (the refusal's line)."""


def speaker(message: ContextMessage) -> str:
    """How a transcript names a message's author."""
    return "Assistant" if message.role == "assistant" else (message.author_name or "User")
