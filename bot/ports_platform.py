"""The ports a platform fills for the engine: a reply's view on screen (``ReplySink``,
optionally ``ShowsThinking``), what it offers after a restart (``Resumer``) and how it
fetches a shared image again (``ImageSource``). The core owns them; ``adapters/`` implement
them. Imported through ``bot.ports``, which re-exports them beside the store and provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bot.types import Ending, Image, ThreadKey, Unfinished


class ReplySink(Protocol):
    """One reply's view on a platform. The engine guarantees, so a sink needs no locks or
    shields of its own for its calls:

    - calls are strictly ordered, never concurrent: ``start`` completes before the first
      ``append``; ``finish`` or ``fail`` comes after ``start`` and every ``append``
      (commands and hints may call only ``finish``);
    - a stop never cancels a call midway: each ``start`` and ``append`` runs to completion,
      the stop takes effect between calls, and then the same sink's ``finish`` gets the text
      written so far with ``Ending.STOPPED``.

    Work a sink starts itself (a typing task, a timer) is not covered and is its own to order.
    """

    @property
    def refs(self) -> Sequence[str]:
        """The platform's ids of the messages showing this reply so far, oldest first, in a
        form the platform's ``Resumer.tidy`` understands ([] for sinks that post nothing
        until the end). The engine records them, so a reply cut off by a crash can be
        tidied up on screen after the restart."""
        ...

    async def start(self) -> None:
        """The bot begins answering: show typing / a status / a placeholder."""
        ...

    async def append(self, delta: str) -> None:
        """More text of the reply; the adapter chooses when to show it."""
        ...

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        """The one final text of the reply (complete, not a delta) and how it ended; a
        stopped or interrupted reply is shown with a note (``text`` may then be empty).
        Called exactly once per reply unless ``fail`` is called instead."""
        ...

    async def fail(self, message: str) -> None:
        """The reply failed; ``message`` is short and safe to show to the user."""
        ...


@runtime_checkable
class ShowsThinking(Protocol):
    """A ReplySink that can tell the user the model is thinking (a reasoning model, before its
    answer): a status line or a placeholder that the answer's text then replaces. Optional —
    a sink without it simply keeps showing what ``start`` showed. Called between ``start`` and
    ``finish``/``fail``, in order with ``append`` like every other call."""

    async def thinking(self) -> None:
        """The model has started thinking: show "thinking…" until the next text. Told once
        per stretch, before the first text too (a sink whose ``start`` says so already
        need not do more then)."""
        ...


class Resumer(Protocol):
    """What a platform offers the engine after a restart: tidying up a reply a dead process
    left half-written on screen, and a sink to answer a waiting conversation in."""

    async def tidy(self, key: ThreadKey, refs: Sequence[str], answer: str | None) -> None:
        """Put right the messages ``refs`` (from ``ReplySink.refs``) a dead process left:
        with ``answer`` None the reply was cut short (mark it interrupted: it is answered
        again); else it was stored as ``answer`` but may not look finished (close it).
        Never raises."""
        ...

    def sink_for(self, work: Unfinished) -> ReplySink | None:
        """A sink that answers in ``work.key``'s conversation; None when this platform
        instance cannot answer there (the console shows only its own thread)."""
        ...


class ImageSource(Protocol):
    """A platform's way to fetch a shared image again by its stored reference (``Image``:
    file id, hash, where it was served), when its bytes are no longer in memory — after a
    restart, or when another replica stored the message. The engine checks the hash."""

    async def fetch_image(self, image: Image) -> bytes | str:
        """The image's bytes as they were sent when shared (downscaled the same way), or
        a short phrase for the model saying why not ("it is no longer there"). Time-boxed;
        never raises."""
        ...
