"""Pasted code in chat messages, with the bot's mention in different places: what the
platform sends (``{me}`` is the mention) and what the model must read. Used by the Slack
and Discord tests alike."""

from __future__ import annotations

SNIPPET = (
    "def total(items):\n"
    "    result = 0\n"
    "    for item in items:\n"
    "\tresult  +=  item   # tab, two spaces\n"
    "    return result"
)
FENCED = f"```python\n{SNIPPET}\n```"
CODES = [SNIPPET, FENCED, "    indented first line\n\tand a tab"]
# The mention at the start, in the middle of a line, on a line of its own, and at the end.
MENTION_LAYOUTS = [
    ("{me} why does this fail?\n{code}", "why does this fail?\n{code}"),
    ("hey {me}  can you check\n{code}\nthanks", "hey can you check\n{code}\nthanks"),
    ("{code}\n{me}\n{code}", "{code}\n{code}"),
    ("see\n{code}\nplease {me}", "see\n{code}\nplease"),
    ("{me}\n{code}", "{code}"),
    ("{code}\n{me}", "{code}"),
]
