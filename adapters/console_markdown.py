"""Replies as rendered Markdown in a terminal (rich); plain text through a pipe.

A reply streams as plain text, so it can be read (and stopped) as it comes. When it ends
and holds Markdown, the streamed lines are erased and the rendered reply is written in
their place: code blocks, lists, headings, emphasis. The erasing counts the terminal rows
the streamed text took (its cell widths over the terminal's width); when the user pressed
Enter meanwhile their line is among them, and the reply is left as streamed instead.
Colours follow ``NO_COLOR`` (rich reads it); rich is imported only here, only on a terminal.
"""

from __future__ import annotations

import math
import re
import shutil
from typing import TextIO

INDENT = "     "  # under "bot> "
# What makes rendering worth it: blocks (fences, headings, lists, quotes, tables) and inline
# emphasis, code and links. Plain sentences stay exactly as streamed.
MARKDOWN = re.compile(
    r"(?m)^\s*(```|~~~|#{1,6} |[-*+] |\d+[.)] |> |\|)|\*\*[^*\n]+\*\*|`[^`\n]+`"
    r"|\[[^\]\n]+\]\([^)\n]+\)"
)


def has_markdown(text: str) -> bool:
    return MARKDOWN.search(text) is not None


class Renderer:
    """Markdown → the terminal's text (with its escape codes), one reply at a time."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console

        self._out = out
        self._console = Console(file=out, highlight=False, soft_wrap=False)

    @property
    def columns(self) -> int:
        return shutil.get_terminal_size().columns

    def render(self, text: str) -> str:
        """``text`` rendered to fit beside the ``bot> `` prefix, without a final newline."""
        from rich.markdown import Markdown

        self._console.width = max(20, self.columns - len(INDENT))
        with self._console.capture() as captured:
            self._console.print(Markdown(text))
        lines = captured.get().rstrip("\n").split("\n")
        return ("\n" + INDENT).join(line.rstrip() for line in lines)

    def erase(self, shown: str) -> str:
        """The escape codes that take the cursor back to where ``shown`` began (at the
        start of a line) and clear everything from there down."""
        rows = rows_taken(shown, self.columns)
        return "\r" + (f"\x1b[{rows - 1}A" if rows > 1 else "") + "\x1b[J"


def rows_taken(text: str, columns: int) -> int:
    """Terminal rows ``text`` takes written from the start of a row (the cursor stays on
    the last one)."""
    from rich.cells import cell_len

    return sum(max(1, math.ceil(cell_len(line) / columns)) for line in text.split("\n"))


def renderer_for(out: TextIO) -> Renderer | None:
    try:
        return Renderer(out) if out.isatty() else None
    except (OSError, ValueError):  # a closed or odd stream: plain text
        return None
