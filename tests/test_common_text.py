"""The incoming-text helpers every platform shares: removing the bot's mention touches
nothing else, files are named one per line, lone surrogates become U+FFFD."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.common.text import sanitized, with_attachments, without_mention
from tests.strategies import odd_text

MENTION = "<@BOT>"
FAST = settings(max_examples=500, deadline=None)
pieces = st.lists(odd_text | st.just(MENTION) | st.sampled_from((" ", "\t", "\n", "    ")), max_size=10)


@FAST
@given(pieces.map("".join))
def test_removing_the_mention_keeps_every_other_character(text: str) -> None:
    out = without_mention(text, re.escape(MENTION))
    assert MENTION not in out
    # Only whitespace next to a mention goes: the rest, in order, is untouched...
    assert re.sub(r"\s", "", out) == re.sub(r"\s", "", text.replace(MENTION, ""))
    # ...and every line without a mention arrives whole (indentation included).
    untouched = [line for line in re.split(r"\r?\n", text) if MENTION not in line]
    lines = iter(re.split(r"\r?\n", out))
    assert all(any(line == seen for seen in lines) for line in untouched)


@FAST
@given(odd_text)
def test_text_without_the_mention_is_unchanged(text: str) -> None:
    assert without_mention(text, re.escape(MENTION)) == text


def test_attachments_are_named_one_per_line() -> None:
    named = with_attachments("see", ["plot.png", "a\nb.txt"])
    assert named == "see\n[attachment: plot.png]\n[attachment: a b.txt]"
    assert with_attachments("", ["plot.png"]) == "[attachment: plot.png]"
    assert with_attachments("just text", []) == "just text"


def test_lone_surrogates_become_replacement_characters() -> None:
    assert sanitized("a\ud800b\udfff 👩\u200d💻 \x00\u202e") == "a\ufffdb\ufffd 👩\u200d💻 \x00\u202e"


def test_removing_the_mention_takes_linear_time() -> None:
    text = " \t" * 200_000 + MENTION + "\n" + f"{MENTION} " * 50_000 + "x"
    started = time.monotonic()
    assert without_mention(text, re.escape(MENTION)) == "x"
    assert time.monotonic() - started < 1
