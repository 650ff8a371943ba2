"""What the engine needs from a platform to show a reply.

The engine streams into a ReplySink without knowing the platform; each adapter decides how
often to flush (Slack streaming, Discord edits, terminal writes).
"""

from __future__ import annotations

from typing import Protocol


class ReplySink(Protocol):
    """One reply's view on the platform. The engine (bot/engine.py) guarantees, so a sink
    needs no locks or shields of its own for its calls:

    - calls are strictly ordered, never concurrent: ``start`` completes before the first
      ``append``; ``finish`` or ``fail`` comes after ``start`` and every ``append``
      (commands and hints may call only ``finish``);
    - a stop never cancels a call midway: each ``start`` and ``append`` runs to completion,
      the stop takes effect between calls, and then the same sink's ``finish`` gets the text
      so far, a blank line and ``_(stopped)_`` (just the note if there was no text).

    Work a sink starts itself (a typing task, a timer) is not covered and is its own to order.
    """

    async def start(self) -> None:
        """The bot begins answering: show typing / a status / a placeholder."""

    async def append(self, delta: str) -> None:
        """More text of the reply; the adapter chooses when to show it."""

    async def finish(self, text: str) -> None:
        """The one final text of the reply (complete, not a delta). Called exactly once
        per reply unless ``fail`` is called instead."""

    async def fail(self, message: str) -> None:
        """The reply failed; ``message`` is short and safe to show to the user."""
