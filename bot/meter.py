"""What the core asks the admin controls about one model call (``bot.admin.gate.Meter``):
may it go ahead, and what did it cost. Its own module because both the replier and the
history strategies (a compaction's summarising call) meter their calls."""

from __future__ import annotations

from typing import Protocol

from bot.types import Completion, Request


class Meter(Protocol):
    async def admit(self, request: Request) -> str | None:
        """None: go ahead; else the one line to show instead (nothing is sent)."""
        ...

    async def spent(self, request: Request, completion: Completion | None, shown: str) -> str:
        """Record what the call cost (``completion`` None: it did not complete and
        ``shown`` is what was shown); the footer to show under the reply, or ""."""
        ...

    def again(self) -> Meter:
        """A meter for one more call charged to the same person in the same place (the
        compaction after a reply): each call is its own row in the ledger."""
        ...
