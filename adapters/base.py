"""What the engine needs from a platform to show a reply.

The engine streams into a ReplySink without knowing the platform; each adapter decides how
often to flush (Slack streaming, Discord edits, terminal writes).
"""

from __future__ import annotations

from typing import Protocol


class ReplySink(Protocol):
    async def start(self) -> None:
        """The bot begins answering: show typing / a status / a placeholder."""

    async def append(self, delta: str) -> None:
        """More text of the reply; the adapter chooses when to show it."""

    async def finish(self, text: str) -> None:
        """The one final text of the reply (complete, not a delta). Called exactly once
        per reply unless ``fail`` is called instead."""

    async def fail(self, message: str) -> None:
        """The reply failed; ``message`` is short and safe to show to the user."""
