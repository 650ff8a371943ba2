"""A ReplySink that records what a user would have seen, for engine-level tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.admin.config import load_admin
from bot.admin.gate import Asker, Gate, Meter
from bot.config import Settings
from bot.history.compaction import COMPACTION_SYSTEM
from bot.ports import Store
from bot.types import Ending, ThreadState


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


async def meter_for(
    settings: Settings, store: Store, thread: ThreadState, count: Callable[[str], int], *,
    user: str = "U-Ada", **admin_env: str,
) -> Meter:
    """The admin controls' meter for a model call in ``thread`` on ``user``'s behalf, as
    the engine builds it (``admin_env``: THREADBOT_… quota settings)."""
    gate = Gate(settings, load_admin(admin_env), store)
    return gate.meter(await gate.place(thread.key), thread.id, Asker(user), count)


def answering(fake: Any) -> list[Any]:
    """The requests a fake LLM recorded for replies, without the ones that wrote a rolling
    summary (bot/history/compaction.py)."""
    return [r for r in fake.requests if COMPACTION_SYSTEM not in json.dumps(r.json)]
