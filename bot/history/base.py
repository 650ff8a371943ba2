"""What a history strategy is to the engine, and how the engine finds a thread's strategy.

A strategy turns a thread's stored history into the next provider Request, and is told how
each reply ended so it can keep its own bookkeeping (the chain's anchor). The engine knows
nothing more about it: which strategies exist and which one a thread uses is decided once,
in ``bot.history.make_histories``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.errors import ProviderError
from bot.meter import Meter
from bot.types import Completion, Request, ThreadState


class HistoryStrategy(Protocol):
    name: str  # stored with each thread it starts, so a thread keeps its strategy
    model: str
    sees_images: bool  # the model takes image input (THREADBOT_VISION_MODELS)

    def count(self, text: str) -> int:
        """Tokens a message costs in the context (what the store records at insert)."""
        ...

    async def request(self, thread: ThreadState, *, before: int | None = None) -> Request:
        """The request for the thread's next reply, from what was stored before the reply's
        reserved row ``before``."""
        ...

    async def retry(
        self, thread: ThreadState, request: Request, error: ProviderError, *, before: int | None = None
    ) -> Request | None:
        """A request to try instead after ``request`` failed before any text was shown,
        or None to let the failure stand."""
        ...

    async def after_reply(
        self, thread: ThreadState, request: Request, completion: Completion
    ) -> None:
        """The reply to ``request`` was stored in full."""
        ...

    async def after_unfinished(self, thread: ThreadState) -> None:
        """The reply was stopped or failed: the provider's view of the thread is uncertain."""
        ...

    async def compact(self, thread: ThreadState, meter: Meter) -> None:
        """The reply was shown and the thread's lease is still held: time for upkeep that
        keeps later requests small (a rolling summary), its model call admitted and billed
        by ``meter``; never raises."""
        ...

    async def summary_request(self, thread: ThreadState) -> Request | None:
        """A one-shot request summarising the thread's context; None if there is nothing."""
        ...

    def transcript_request(self, lines: Sequence[tuple[str, str]]) -> Request:
        """A one-shot request summarising (speaker, text) lines that are not stored."""
        ...


@dataclass(frozen=True, slots=True)
class Histories:
    """The strategy new threads start with, and the one each stored thread continues with
    (a thread keeps the strategy it started with when the setting changes)."""

    default: HistoryStrategy
    by_name: Mapping[str, HistoryStrategy]

    def of(self, thread: ThreadState) -> HistoryStrategy:
        return self.by_name.get(thread.strategy, self.default)

    def count(self, text: str) -> int:
        return self.default.count(text)
