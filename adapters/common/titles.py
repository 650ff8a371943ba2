"""A short title from a message — a Slack AI-app thread title, a Discord thread name."""

from __future__ import annotations

import re

_MARKUP = re.compile(r"[*_~`>#|]+")
_SPACE = re.compile(r"\s+")


def title_from(text: str, limit: int) -> str:
    """The first non-empty line without Markdown markers, cut at a word boundary (with "…")
    to at most ``limit`` characters; "" when there is no text."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = _SPACE.sub(" ", _MARKUP.sub("", line)).strip()
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"
