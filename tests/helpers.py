"""A ReplySink that records what a user would have seen, for engine-level tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.types import Ending


@dataclass
class RecordingSink:
    refs: tuple[str, ...] = ()
    started: bool = False
    deltas: list[str] = field(default_factory=list)
    final: str | None = None
    ending: Ending | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self.started = True

    async def append(self, delta: str) -> None:
        self.deltas.append(delta)

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        assert self.final is None and self.error is None, "a reply was finished twice"
        self.final = text
        self.ending = ending
        self.done.set()

    async def fail(self, message: str) -> None:
        assert self.final is None and self.error is None, "a reply was finished twice"
        self.error = message
        self.done.set()

    @property
    def used(self) -> bool:
        return self.started or bool(self.deltas) or self.done.is_set()
