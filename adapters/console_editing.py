"""Line editing and history for the console on a terminal: GNU readline (Python's
``readline`` module), imported only here and only when stdin and stdout are both the terminal.

Why readline and not a full-screen toolkit: the console keeps reading while a reply streams
(``/stop``), Ctrl-C must stay a signal (it stops the reply), and a paste is recognised by the
timing of its lines (``console_input.py``); readline edits one line at a time and leaves all
of that as it is. Its own bracketed-paste mode is off, so that timing rule stays the only one.

readline draws the prompt itself — so that moving in the line, Ctrl-R and the history
redraw it correctly — but only when the console asks for one (``ask``): while a reply
streams, lines are read without a prompt, and only once something was typed (a ``select``
poll), so a reply that ends finds the reader free to show the next prompt. The history is
kept in ``$XDG_STATE_HOME/threadbot/console_history`` (default ``~/.local/state``).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

POLL = 0.05  # seconds between looks at the keyboard while no prompt is shown
HISTORY_LINES = 1000


def history_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "threadbot" / "console_history"


class Editor:
    """Lines from the terminal through readline; ``readline`` runs on the reader thread."""

    def __init__(self, readline: Any, history: Path) -> None:
        import termios

        self._readline = readline
        self._history = history
        self._fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)  # readline's mode must not outlive us
        self._lock = threading.Lock()
        self._prompt: str | None = None
        if "libedit" not in (readline.__doc__ or ""):  # macOS's libedit has no such setting
            readline.parse_and_bind("set enable-bracketed-paste off")
        readline.set_history_length(HISTORY_LINES)
        with contextlib.suppress(OSError):
            readline.read_history_file(history)

    def ask(self, prompt: str) -> None:
        """Show ``prompt`` and read the next line after it (from the console's loop)."""
        with self._lock:
            self._prompt = prompt

    def readline(self) -> str:
        """The next line with its newline; "" at the end of the input (Ctrl-D)."""
        while True:
            with self._lock:
                prompt, self._prompt = self._prompt, None
            if prompt is None:
                ready, _, _ = select.select([self._fd], [], [], POLL)
                if not ready:
                    continue
                prompt = ""
            try:
                line = input(prompt)
            except EOFError:
                return ""
            with self._lock:
                self._prompt = None  # a prompt asked for meanwhile came before this line
            return line + "\n"

    def close(self) -> None:
        import termios

        with contextlib.suppress(OSError):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        with contextlib.suppress(OSError):
            self._history.parent.mkdir(parents=True, exist_ok=True)
            self._readline.write_history_file(self._history)


def editor_for(stdin: TextIO, stdout: TextIO) -> Editor | None:
    """An Editor when the console talks to the process's own terminal; None otherwise
    (pipes, tests' streams, a platform without readline): lines are then read as they are."""
    if stdin is not sys.stdin or stdout is not sys.stdout:
        return None
    try:
        if not (stdin.isatty() and stdout.isatty()):
            return None
        import readline

        return Editor(readline, history_path())
    except (ImportError, OSError, ValueError):
        return None
