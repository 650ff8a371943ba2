"""Markdown (what models write) → Slack mrkdwn (what chat.postMessage / chat.update render).

Native streaming (chat.startStream) takes Markdown as it is; the post-then-update path and
ephemeral messages use ``text``, which Slack renders as mrkdwn: ``*bold*``, ``_italic_``,
``~strike~``, ``<url|label>``, no headings, no language tag on code fences, and ``&``, ``<``,
``>`` escaped. Code (fenced and inline) is escaped but otherwise left alone.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+#.-]*)\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^(\s{0,3})#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?!\[[ xX]\]\s)")
_TASK = re.compile(r"^(\s*)[-*+]\s+\[([ xX])\]\s+")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^(\s*)((?:&gt;\s?)+)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")

# Private-use characters mark spans that later rules must not touch.
_HOLD = "\ue000"
_BOLD_MARK = "\ue001"


def escape(text: str) -> str:
    """Escape the three characters Slack treats as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Convert a Markdown reply to Slack mrkdwn, keeping code blocks intact."""
    out: list[str] = []
    table: list[str] = []
    fence: str | None = None  # the marker of the open code block
    for line in markdown.split("\n"):
        match = _FENCE.match(line)
        if fence is None and _TABLE_ROW.match(line):
            table.append(escape(line.strip()))
            continue
        if table:
            out.extend(["```", *table, "```"])
            table = []
        if match and fence is None:
            fence = match.group(2)  # Slack shows a language tag as a code line: drop it
            out.append("```")
            continue
        if match and fence is not None and match.group(2).startswith(fence) and not match.group(3):
            fence = None
            out.append("```")
            continue
        out.append(escape(line) if fence is not None else _convert_line(line))
    if table:
        out.extend(["```", *table, "```"])
    if fence is not None:  # unterminated block: close it so the rest does not vanish
        out.append("```")
    return "\n".join(out)


def _convert_line(line: str) -> str:
    if _RULE.match(line):
        return "――――――――"
    held: list[str] = []

    def hold(text: str) -> str:
        held.append(text)
        return f"{_HOLD}{len(held) - 1}{_HOLD}"

    # Inline code first: nothing inside it is formatting.
    line = _INLINE_CODE.sub(lambda m: hold(f"`{escape(m.group(2))}`"), line)
    line = _AUTOLINK.sub(lambda m: hold(f"<{m.group(1)}>"), line)
    line = _IMAGE.sub(lambda m: hold(_link(m.group(2), m.group(1) or m.group(2))), line)
    line = _LINK.sub(lambda m: hold(_link(m.group(2), _inline(escape(m.group(1))))), line)
    line = escape(line)
    heading = _HEADING.match(line)
    if heading:
        line = f"{heading.group(1)}{_BOLD_MARK}{_strip_emphasis(heading.group(2))}{_BOLD_MARK}"
    line = _QUOTE.sub(lambda m: m.group(1) + m.group(2).replace("&gt;", ">"), line)
    line = _TASK.sub(lambda m: f"{m.group(1)}{'☑' if m.group(2) != ' ' else '☐'} ", line)
    line = _BULLET.sub(lambda m: f"{m.group(1)}• ", line)
    line = _inline(line)
    for i, text in enumerate(held):
        line = line.replace(f"{_HOLD}{i}{_HOLD}", text)
    return line


def _inline(text: str) -> str:
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC_STAR.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    return text.replace(_BOLD_MARK, "*")


def _strip_emphasis(text: str) -> str:
    """A heading becomes bold as a whole; bold markers inside it would cancel out."""
    return _BOLD.sub(lambda m: m.group(2), text)


def _link(url: str, label: str) -> str:
    url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    label = label.replace("|", "¦")
    return f"<{url}|{label}>" if label and label != url else f"<{url}>"
