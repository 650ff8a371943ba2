"""Markdown (what models write) → Slack mrkdwn (what chat.postMessage / chat.update render).

Native streaming (chat.startStream) takes Markdown as it is; the post-then-update path and
ephemeral messages use ``text``, which Slack renders as mrkdwn: ``*bold*``, ``_italic_``,
``~strike~``, ``<url|label>``, no headings, no language tag on code fences, and ``&``, ``<``,
``>`` escaped. Code (fenced and inline) is escaped but otherwise left alone.

Every path that sends model text escapes it with ``escape``, so nothing a model writes reaches
Slack as markup that notifies people (``<!channel>``, ``<!here>``, ``<@U…>``,
``<!subteam^…>``): the only ``<`` left in mrkdwn opens a link to a web or mail address.
Plain ``@channel`` words notify nobody: the bot never sends ``parse`` or ``link_names``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from adapters.common.chunking import FENCE, closes

# Private-use characters mark spans that later rules must not touch.
_HOLD = "\ue000"
_BOLD_MARK = "\ue001"

_URL = rf"(?:[^()\s<>{_HOLD}]|\([^()\s<>{_HOLD}]*\))+"  # parentheses in a URL come in pairs
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(rf"!\[([^\]]*)\]\(({_URL})(?:\s+\"[^\"]*\")?\)")
_LINK = re.compile(rf"\[([^\]]+)\]\(({_URL})(?:\s+\"[^\"]*\")?\)")
_AUTOLINK = re.compile(rf"<((?:https?://|mailto:)[^<>\s{_HOLD}]+)>")
_BARE_URL = re.compile(rf"(?<![\w/])https?://[^\s<>{_HOLD}]+")
_WEB = re.compile(r"(?:https?://|mailto:)\S", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^(\s{0,3})#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?!\[[ xX]\]\s)")
_TASK = re.compile(r"^(\s*)[-*+]\s+\[([ xX])\]\s+")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^(\s*)((?:&gt;\s?)+)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_IDENTIFIER = re.compile(r"\w+")
_TRAILING = ".,:;!?*_~'\""  # after a bare URL: the sentence's punctuation, not the URL's


def escape(text: str) -> str:
    """Escape the three characters Slack treats as markup (mentions, links, entities)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Convert a Markdown reply to Slack mrkdwn, keeping code blocks intact."""
    out: list[str] = []
    table: list[str] = []
    fence: str | None = None  # the marker of the open code block
    for line in markdown.split("\n"):
        match = FENCE.match(line)
        if fence is None and _TABLE_ROW.match(line):
            table.append(escape(line.strip()))
            continue
        if table:
            out.extend(["```", *table, "```"])
            table = []
        if match and fence is None:
            fence = match.group(2)  # Slack shows an info string as a code line: drop it
            out.append("```")
            continue
        if match and fence is not None and closes(match, fence):
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

    # Inline code first: nothing inside it is formatting. Links may hold code in their label.
    line = _INLINE_CODE.sub(lambda m: hold(f"`{escape(m.group(2))}`"), line)
    line = _AUTOLINK.sub(lambda m: hold(_link(m.group(1), m.group(1))), line)
    line = _IMAGE.sub(lambda m: hold(_link(m.group(2), escape(m.group(1)) or m.group(2))), line)
    line = _LINK.sub(lambda m: hold(_link(m.group(2), _inline(escape(m.group(1))))), line)
    line = _BARE_URL.sub(lambda m: _bare_url(m.group(0), hold), line)
    line = escape(line)
    heading = _HEADING.match(line)
    if heading:
        line = f"{heading.group(1)}{_BOLD_MARK}{_strip_emphasis(heading.group(2))}{_BOLD_MARK}"
    line = _QUOTE.sub(lambda m: m.group(1) + m.group(2).replace("&gt;", ">"), line)
    line = _TASK.sub(lambda m: f"{m.group(1)}{'☑' if m.group(2) != ' ' else '☐'} ", line)
    line = _BULLET.sub(lambda m: f"{m.group(1)}• ", line)
    line = _inline(line)
    # Newest first: a held span (a link) may contain an older one (its code label).
    for i in reversed(range(len(held))):
        line = line.replace(f"{_HOLD}{i}{_HOLD}", held[i])
    return line


def _inline(text: str) -> str:
    text = _BOLD.sub(lambda m: _bold(m, f"{_BOLD_MARK}{{}}{_BOLD_MARK}"), text)
    text = _ITALIC_STAR.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    return text.replace(_BOLD_MARK, "*")


def _strip_emphasis(text: str) -> str:
    """A heading becomes bold as a whole; bold markers inside it would cancel out."""
    return _BOLD.sub(lambda m: _bold(m, "{}"), text)


def _bold(match: re.Match[str], template: str) -> str:
    """``**x**`` anywhere, ``__x__`` only between words (never ``my__var__name``), and
    never a lone identifier such as ``__init__``: models write Python's dunder names
    without backticks far more often than they write ``__`` for bold."""
    if match.group(1) is not None:
        return template.format(match.group(1))
    if _IDENTIFIER.fullmatch(match.group(2)):
        return match.group(0)
    return template.format(match.group(2))


def _bare_url(url: str, hold: Callable[[str], str]) -> str:
    """A URL written out in the text: as a Slack link, so its parentheses stay in it (and no
    ``__``/``*`` inside it turns into formatting); trailing punctuation and unbalanced
    closing parentheses belong to the sentence, as in GitHub's autolinks."""
    end = len(url)
    while end and (url[end - 1] in _TRAILING or (url[end - 1] == ")" and _unbalanced(url[:end]))):
        end -= 1
    if not url[:end].partition("//")[2]:  # a scheme and no address
        return url
    return hold(_link(url[:end], url[:end])) + url[end:]


def _unbalanced(url: str) -> bool:
    return url.count(")") > url.count("(")


def _link(url: str, label: str) -> str:
    """A Slack link. Only web and mail addresses: ``<!channel|x>`` or ``<@U1|x>`` built from
    a Markdown link such as ``[x](!channel)`` would notify people."""
    if not _WEB.match(url):
        return f"{label} ({escape(url)})" if label != url else escape(url)
    target = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    if not label or label == url:
        return f"<{target}>"
    return f"<{target}|{label.replace('|', '¦')}>"
