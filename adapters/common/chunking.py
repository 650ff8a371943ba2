"""Split a reply into platform-sized messages without breaking Markdown code blocks.

Slack rejects long messages (~4,000 chars in practice) and Discord at 2,000. A split inside a
``` fence would render the rest of the reply as code (or the code as prose), so a fence that
has to be cut is closed at the end of one chunk and reopened, with its language, at the start
of the next. Fences are recognised as CommonMark does: three or more backticks or tildes, any
info string after them (no backtick in it for a backtick fence), closed by a bare run of the
same character at least as long.
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^(\s*)(`{3,}(?=[^`]*$)|~{3,})(.*)$")


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most ``limit`` characters, cut at the best boundary available.

    Preference: blank line (paragraph) > line break > space > hard cut. Returns [] for "".
    """
    if limit < 20:
        raise ValueError("limit too small to split Markdown safely")
    chunks: list[str] = []
    rest = text.strip("\n")
    reopen = ""  # fence line to prepend when the previous chunk ended inside a code block
    while rest:
        body = reopen + rest
        if len(body) <= limit:
            chunks.append(body)
            break
        # Keep room for the closing fence of any block the cut may land in.
        reserve = fence_reserve(body[:limit], limit)
        cut = best_cut(body, limit - reserve)
        head, rest = body[:cut].rstrip(), body[cut:].lstrip("\n")
        fence = open_fence(head) if reserve else None
        if fence is not None:
            head += closing_fence(fence)
            reopen = reopen_line(fence, limit) + "\n"
        else:
            reopen = ""
        chunks.append(head)
    return [c for c in chunks if c.strip()]


def best_cut(text: str, limit: int, floor: int | None = None) -> int:
    """Where to end a message with ``text[:cut]`` (≤ limit): the last paragraph break, else
    line break, else space at or after ``floor`` (default: half the limit, so one long
    paragraph does not become many tiny messages); a hard cut when there is none."""
    window = text[: limit + 1]
    start = min(limit // 2 if floor is None else floor, limit)
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep, start)
        # A cut at a space before ``` would start the next message with a code fence.
        while sep == " " and at > 0 and text.startswith(("```", "~~~"), at + 1):
            at = window.rfind(sep, start, at)
        if at > 0:
            return at + len(sep) if sep == " " else at
    return max(limit, 1)


def open_fence(text: str) -> str | None:
    """The opening fence line (e.g. "```python") if ``text`` ends inside a code block."""
    open_line: str | None = None
    for line in text.split("\n"):
        match = FENCE.match(line)
        if not match:
            continue
        if open_line is None:
            open_line = line.strip()
        elif closes(match, fence_marker(open_line)):
            open_line = None
    return open_line


def closes(match: re.Match[str], marker: str) -> bool:
    """Whether a fence line (a ``FENCE`` match) ends the block opened by ``marker``."""
    return match.group(2).startswith(marker) and not match.group(3).strip()


def fence_marker(fence_line: str) -> str:
    match = FENCE.match(fence_line)
    return match.group(2) if match else "```"


def closing_fence(fence_line: str) -> str:
    """What ends a chunk cut inside the block ``fence_line`` opened (a line of its own)."""
    return "\n" + fence_marker(fence_line)


def fence_reserve(window: str, limit: int) -> int:
    """Characters to keep free for closing a code block a cut within ``window`` may land in:
    the longest closing fence it could need, or 0 (no repair) when there is no fence or one
    so long (over a quarter of ``limit``) that repairing it would leave no room for text."""
    need = max((len(m.group(2)) + 1 for m in map(FENCE.match, window.split("\n")) if m), default=0)
    return need if need <= limit // 4 else 0


def reopen_line(fence_line: str, limit: int) -> str:
    """The line that reopens a cut block in the next chunk: the fence with its info string
    (the language), or the bare marker when the info is too long to repeat."""
    return fence_line if len(fence_line) <= limit // 4 else fence_marker(fence_line)
