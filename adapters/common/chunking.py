"""Split a reply into platform-sized messages without breaking Markdown code blocks.

Slack rejects long messages (~4,000 chars in practice) and Discord at 2,000. A split inside a
``` fence would render the rest of the reply as code (or the code as prose), so a fence that
has to be cut is closed at the end of one chunk and reopened, with its language, at the start
of the next.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")


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
        # Reserve room for a closing fence in case the cut lands inside a code block.
        cut = best_cut(body, limit - 4)
        head, rest = body[:cut].rstrip(), body[cut:].lstrip("\n")
        fence = open_fence(head)
        if fence is not None:
            head += "\n" + fence_marker(fence)
            reopen = fence + "\n"
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
        if at > 0:
            return at + len(sep) if sep == " " else at
    return max(limit, 1)


def open_fence(text: str) -> str | None:
    """The opening fence line (e.g. "```python") if ``text`` ends inside a code block."""
    open_line: str | None = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not match:
            continue
        if open_line is None:
            open_line = line.strip()
        elif match.group(1).startswith(fence_marker(open_line)) and not match.group(2).strip():
            open_line = None
    return open_line


def fence_marker(fence_line: str) -> str:
    match = _FENCE.match(fence_line)
    return match.group(1) if match else "```"
