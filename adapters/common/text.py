"""Incoming message text, the same on every platform: the bot's own mention removed without
touching the rest (pasted code keeps its indentation), lone surrogates made storable, and
shared files named so the model knows they are there."""

from __future__ import annotations

import re
from collections.abc import Iterable

_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile(r"[\r\n]+")


def sanitized(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD.

    JSON may carry ``"\\ud800"``; Python decodes it into a string that cannot be encoded as
    UTF-8, so SQLite, HTTP clients and the model's API would all refuse the message.
    Everything else (NUL, bidi marks, joiners, emoji) is valid text and passes unchanged.
    """
    return _SURROGATE.sub("\ufffd", text)


def without_mention(text: str, mention: str) -> str:
    """``text`` without the bot's mention (``mention`` is a regex), tidying only where it was.

    The mention only says who is addressed, so it goes with the spaces or tabs beside it: at
    the start or end of a line nothing is left, inside a line one space joins the words, and
    a line that held nothing but the mention disappears. Every other character — the
    indentation of pasted code above all — arrives unchanged.

    Linear in the length of ``text`` (a regex with ``[ \t]*`` before the mention would retry
    every start in a long run of spaces: seconds for one 40,000-character message).
    """
    parts: list[str] = []
    last = 0
    for match in re.finditer(rf"(?:{mention})(?:[ \t]*(?:{mention}))*", text):
        start, end = _widened(text, match.start(), match.end(), last)
        kept = text[last:start]
        line_start = start == 0 or text[start - 1] == "\n"
        line_end = end == len(text) or text[end] in "\r\n"
        if line_start and line_end:  # the line held only the mention: the line goes
            if end == len(text) and kept.endswith("\n"):  # the last line: with the break before it
                kept = kept[:-1].removesuffix("\r")
            end = _past_line_break(text, end)
        parts.append(kept if line_start or line_end else kept + " ")
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _widened(text: str, start: int, end: int, floor: int) -> tuple[int, int]:
    """``start``/``end`` moved over the spaces and tabs on either side (not before ``floor``)."""
    while start > floor and text[start - 1] in " \t":
        start -= 1
    while end < len(text) and text[end] in " \t":
        end += 1
    return start, end


def _past_line_break(text: str, at: int) -> int:
    if text.startswith("\r\n", at):
        return at + 2
    return at + 1 if text.startswith("\n", at) else at


def file_title(name: str) -> str:
    """A shared file's name on one line, storable (names come from users)."""
    return _LINE_BREAK.sub(" ", sanitized(name)).strip() or "unnamed file"


def attachment_line(name: str, note: str = "") -> str:
    """``[attachment: name]``, or ``[attachment: name — note]`` saying why it is not read."""
    return f"[attachment: {file_title(name)}{f' — {note}' if note else ''}]"


def with_attachments(text: str, names: Iterable[str]) -> str:
    """``text`` followed by one ``[attachment: name]`` line per shared file.

    The model cannot see the files, but it should know they were shared (a message with
    only a file would otherwise be empty). Names are one line each.
    """
    return with_blocks(text, [attachment_line(name) for name in names])


def with_blocks(text: str, blocks: Iterable[str]) -> str:
    """``text`` followed by what the model reads of each shared file (``extract.py``): a
    labelled block of its text, or its ``[attachment: …]`` line."""
    lines = list(blocks)
    if not lines:
        return text
    return "\n".join([text, *lines]) if text.strip() else "\n".join(lines)
