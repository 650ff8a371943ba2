"""Properties of the pure Discord event functions on arbitrary messages: ``route``,
``clean_text`` and ``to_turn`` never raise, and what they return can be stored."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.common.routing import Action
from adapters.discord.events import Incoming, Route, clean_text, route, to_turn
from bot.types import ThreadKey
from tests.strategies import ODD_CHARS, odd_text

FAST = settings(max_examples=300, deadline=None)
BOT = 100
snowflakes = st.integers(min_value=0, max_value=2**64) | st.sampled_from((BOT, 7))
markup = st.builds(lambda kind, ident: f"<{kind}{ident}>", st.sampled_from(("@", "@!", "@&", "#")),
                   snowflakes | st.just(10**30))
content = st.lists(odd_text | markup | st.sampled_from(ODD_CHARS), max_size=8).map("".join)
messages = st.builds(
    Incoming,
    id=snowflakes,
    channel_id=snowflakes,
    guild_id=st.none() | snowflakes,
    place=st.sampled_from(("dm", "thread", "channel")),
    author_id=snowflakes,
    author_name=odd_text,
    author_is_bot=st.booleans(),
    system=st.booleans(),
    text=content,
    mentions_bot=st.booleans(),
    thread_owner_id=st.none() | snowflakes,
    reply_to=st.none() | snowflakes,
    reply_to_bot=st.booleans(),
    attachments=st.lists(odd_text, max_size=3).map(tuple),
)


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@FAST
@given(messages, st.sampled_from(("auto", "never")), st.booleans())
def test_route_decides_or_ignores(msg: Incoming, threads: str, allow_bots: bool) -> None:
    decision = route(msg, bot_id=BOT, threads=threads, allow_bots=allow_bots)
    assert decision is None or isinstance(decision, Route)
    if decision is not None:
        assert isinstance(decision.action, Action)
        assert ThreadKey.parse(str(decision.key)) == decision.key


@FAST
@given(content, snowflakes, st.dictionaries(snowflakes, odd_text, max_size=3))
@example("<@100>", 0, {100: "\ud800"})  # a member's name with a lone surrogate
def test_clean_text_never_raises_and_is_storable(text: str, bot_id: int, users: dict[int, str]) -> None:
    assert storable(clean_text(text, bot_id=bot_id, users=users, roles=users, channels=users))
    plain = text.replace("<", "")  # no markup: every character arrives, lone surrogates replaced
    assert clean_text(plain, bot_id=bot_id) == re.sub("[\ud800-\udfff]", "\ufffd", plain)


@FAST
@given(messages, st.booleans())
def test_to_turn_is_always_storable(msg: Incoming, addressed: bool) -> None:
    key = ThreadKey("discord", "1", "2", "")
    turn = to_turn(msg, key, addressed=addressed)
    assert storable(turn.text) and storable(turn.author_name)
    assert turn.text.count("[attachment: ") >= len(msg.attachments)
