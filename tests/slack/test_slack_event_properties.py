"""Properties of the pure Slack event functions on arbitrary JSON-ish input: each returns a
value or None (ignore) and never raises; what it returns can be stored and keyed."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.events import (
    Identity,
    display_name,
    history_turn,
    parse_message,
    readable,
    shortcut_target,
    slash_target,
)
from bot.types import ThreadKey, Turn
from tests.slack.payload_strategies import message_events, shortcut_payloads, slash_payloads
from tests.strategies import json_objects, json_values, odd_text

ME = Identity(team_id="T0TEAM", user_id="U0BOT", bot_id="B0BOT")
KEY = ThreadKey("slack", "T0TEAM", "C0GENERAL", "1.1")
FAST = settings(max_examples=300, deadline=None)
names = st.dictionaries(odd_text, odd_text, max_size=3)


def storable(text: str) -> bool:
    """What SQLite and the HTTP clients accept: encodable as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def well_keyed(key: ThreadKey) -> bool:
    return ThreadKey.parse(str(key)) == key and all(storable(part) for part in str(key).split(":"))


def well_formed_turn(turn: Turn) -> bool:
    return (storable(turn.text) and storable(turn.author_name) and well_keyed(turn.key)
            and bool(turn.text.strip()))


@FAST
@given(message_events | json_objects | json_values, odd_text, st.booleans())
def test_parse_message_returns_an_incoming_or_none(event: Any, team_id: str, allow_bots: bool) -> None:
    for team in (team_id, "T0TEAM"):
        incoming = parse_message(event, ME, team_id=team, allow_bots=allow_bots)
        if incoming is not None:
            assert well_keyed(incoming.key) and storable(incoming.text)
            turn = incoming.turn(incoming.author_name, readable(incoming.text, {}), addressed=True)
            assert storable(turn.text) and storable(turn.author_name)


@FAST
@given(message_events | json_objects | json_values, names)
def test_history_turn_returns_a_turn_or_none(message: Any, known: dict[str, str]) -> None:
    turn = history_turn(message, KEY, known, ME)
    assert turn is None or well_formed_turn(turn)


@FAST
@given(odd_text, names)
def test_readable_never_raises(text: str, known: dict[str, str]) -> None:
    assert isinstance(readable(text, known), str)


@FAST
@given(slash_payloads | json_objects | json_values)
def test_slash_target_returns_a_target_or_none(payload: Any) -> None:
    target = slash_target(payload)
    assert target is None or (well_keyed(target.key) and bool(target.channel))


@FAST
@given(shortcut_payloads | json_objects | json_values)
def test_shortcut_target_returns_a_target_or_none(payload: Any) -> None:
    target = shortcut_target(payload)
    assert target is None or (well_keyed(target.key) and bool(target.channel))


user_fields = st.sampled_from(("profile", "display_name", "real_name", "name"))


@FAST
@given(st.dictionaries(user_fields, json_values | st.dictionaries(user_fields, json_values), max_size=4))
def test_display_name_is_always_a_storable_string(user: dict[str, Any]) -> None:
    name = display_name(user)
    assert isinstance(name, str) and storable(name)
