"""What the console user says: lines from stdin, gathered into messages.

Through a pipe, every line is a message (scripts depend on it). In a terminal, a paste is
one message. The terminal hands over a line at a time and cannot tell a paste from typing,
so timing does: lines that arrive within PASTE_GAP of each other are a paste (nobody types
a line and presses Enter again within 50 ms; a paste arrives in one burst). When a burst
has several lines, the next Enter sends it, and text typed before that Enter ends it — so
a block copied with its final newline and one copied without it (its last line still
waiting on the input line) both take one Enter, and arrive whole. A one-line burst is
indistinguishable from typing and is sent at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

PASTE_GAP = 0.05  # seconds between the lines of one paste, at most


@dataclass(frozen=True, slots=True)
class Line:
    text: str  # with its newline
    at: float  # loop time it arrived


class Input:
    """Lines from ``stdin`` (or ``read``: the line editor) as they arrive, read on a daemon
    thread (a blocked read never holds up the exit). In a terminal, ``on_line`` is told of
    each one as it comes: its echoed Enter has ended the line on the screen."""

    def __init__(self, stdin: TextIO, interactive: bool, on_line: Callable[[], None],
                 read: Callable[[], str] | None = None) -> None:
        self._interactive = interactive
        self._queue: asyncio.Queue[Line | None] = asyncio.Queue()
        self._ended = False
        loop = asyncio.get_running_loop()

        def arrive(text: str | None) -> None:
            if text is not None and interactive:
                on_line()
            self._queue.put_nowait(None if text is None else Line(text, loop.time()))

        def pump() -> None:
            try:
                for line in iter(read or stdin.readline, ""):
                    loop.call_soon_threadsafe(arrive, line)
                loop.call_soon_threadsafe(arrive, None)
            except RuntimeError:  # the loop closed (/exit) while we waited for input
                return

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()

    @property
    def ended(self) -> bool:
        return self._ended

    def end(self) -> None:
        """Read nothing more: the next ``message`` is None, even if lines are waiting."""
        self._ended = True
        self._queue.put_nowait(None)  # wakes a ``message`` that waits for a line

    async def message(self) -> str | None:
        """The next message without its final newline; None at the end of the input."""
        first = await self._line()
        if first is None:
            return None
        burst = [first]
        while self._interactive and (line := await self._line(by=burst[-1].at + PASTE_GAP)):
            burst.append(line)
        if len(burst) > 1 and (end := await self._line()) is not None and end.text.strip():
            burst.append(end)  # the paste's unfinished last line, or words typed after it
        return "".join(line.text for line in burst).rstrip("\r\n")

    async def _line(self, by: float | None = None) -> Line | None:
        """The next line; None at the end, or when none arrived by loop time ``by``."""
        if self._ended:
            return None
        try:
            async with asyncio.timeout_at(by):
                line = await self._queue.get()
        except TimeoutError:
            return None
        if line is None:
            self._ended = True
        return None if self._ended else line
