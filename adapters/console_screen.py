"""Where the console writes: stdout, watched for a reader that went away and for open lines.

A closed stdout (`threadbot console | head -1`) is noticed on the first failed write, or
before a message is answered: the console is told once, later writes are dropped, and the
descriptor is pointed at /dev/null so the interpreter's last flush at exit raises no
BrokenPipeError either.

Log records go to stderr as configured; in a terminal that is the same screen, so while a
console line is open (a `bot>` line streaming, or the prompt) they wait, and are written
when the line ends — by us or by the user's Enter.
"""

from __future__ import annotations

import logging
import os
import select
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from adapters.console_markdown import Renderer


class Screen:
    def __init__(self, out: TextIO, on_gone: Callable[[], None],
                 markdown: Renderer | None = None) -> None:
        self._out = out
        self._on_gone = on_gone
        self.markdown = markdown  # renders replies on a terminal; None through a pipe
        self.entered = 0  # lines the user entered (their Enter moved the cursor down)
        self.line_end_listeners: list[Callable[[], None]] = []
        self.open_line = False  # the last thing written did not end its line
        self.gone = False

    def write(self, text: str) -> None:
        if self.gone or not text:
            return
        try:
            self._out.write(text)
            self._out.flush()
        except (OSError, ValueError):  # EPIPE, or a closed stream: nobody reads any more
            self._lose_reader()
            return
        if text.endswith("\n"):
            self.line_ended()
        else:
            self.open_line = True

    def check_reader(self) -> None:
        """Notice a reader that left since our last write (the writing end of a pipe whose
        reading end closed reports POLLERR), before work is done for nobody."""
        if self.gone or not hasattr(select, "poll"):
            return
        try:
            poll = select.poll()
            poll.register(self._out.fileno(), 0)  # errors and hang-ups are always reported
            events = poll.poll(0)
        except (OSError, ValueError):  # no descriptor (a StringIO)
            return
        if any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events):
            self._lose_reader()

    def user_line(self) -> None:
        """The user pressed Enter (the terminal echoed it)."""
        self.entered += 1
        self.line_ended()

    def line_ended(self) -> None:
        """The cursor is at the start of a line (we wrote a newline, or the user pressed
        Enter and the terminal echoed it)."""
        self.open_line = False
        for listener in self.line_end_listeners:
            listener()

    def _lose_reader(self) -> None:
        self.gone = True
        self.open_line = False
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._out.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # no descriptor (a StringIO): nothing to flush later
            pass
        self._on_gone()


class _HeldLogs(logging.Filter):
    """On a log handler: records that come while a console line is open wait for its end."""

    def __init__(self, screen: Screen, handler: logging.Handler) -> None:
        super().__init__()
        self._screen = screen
        self.handler = handler
        self._held: deque[logging.LogRecord] = deque()

    def filter(self, record: logging.LogRecord) -> bool:
        if self._screen.open_line:
            self._held.append(record)
            return False
        return True

    def release(self, *, all_of_them: bool = False) -> None:
        while self._held and (all_of_them or not self._screen.open_line):
            self.handler.handle(self._held.popleft())


@contextmanager
def logs_between_lines(screen: Screen) -> Iterator[None]:
    """Hold the root handlers' records while a console line is open (see the module doc)."""
    holds = [_HeldLogs(screen, handler) for handler in logging.getLogger().handlers]
    for hold in holds:
        hold.handler.addFilter(hold)
        screen.line_end_listeners.append(hold.release)
    try:
        yield
    finally:
        for hold in holds:
            hold.handler.removeFilter(hold)
            screen.line_end_listeners.remove(hold.release)
            hold.release(all_of_them=True)


@contextmanager
def chat_first(stream: TextIO) -> Iterator[None]:
    """While the console runs, log records below WARNING stay off ``stream`` (stderr, the
    same screen in a terminal): info lines between the chat's are noise there. A log file
    (THREADBOT_LOG_FILE) keeps every level."""
    on_screen = [h for h in logging.getLogger().handlers
                 if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                 and h.stream is stream]
    levels = [h.level for h in on_screen]
    for handler in on_screen:
        handler.setLevel(max(handler.level, logging.WARNING))
    try:
        yield
    finally:
        for handler, level in zip(on_screen, levels, strict=True):
            handler.setLevel(level)
