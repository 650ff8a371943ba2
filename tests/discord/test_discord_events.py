"""The rules for which Discord messages the bot answers, and how they become turns —
pure functions, no gateway."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from adapters.common.routing import Action
from adapters.discord.events import (
    THREAD_NAME_LIMIT,
    Incoming,
    Route,
    Standing,
    clean_text,
    origin,
    refused_route,
    route,
    thread_name,
    to_turn,
)
from bot.types import Origin, ThreadKey
from tests.pasted_code import CODES, MENTION_LAYOUTS

BOT, GUILD, CHANNEL, ALICE = 100, 200, 300, 400


def msg(**fields: object) -> Incoming:
    base = Incoming(id=500, channel_id=CHANNEL, guild_id=GUILD, place="channel",
                    author_id=ALICE, author_name="Alice", text="hi")
    return replace(base, **fields)  # type: ignore[arg-type]


def decide(m: Incoming, **options: object) -> Route | None:
    return route(m, bot_id=BOT, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("ignored", [
    msg(author_id=BOT, mentions_bot=True),  # its own message (the gateway echo)
    msg(author_is_bot=True, mentions_bot=True),  # another bot or a webhook
    msg(system=True, mentions_bot=True),  # member joined, pinned, thread created…
    msg(),  # a channel message not for the bot
    msg(reply_to=9, reply_to_bot=False),  # a reply between people
])
def test_ignored(ignored: Incoming) -> None:
    assert decide(ignored) is None


def test_other_bots_are_answered_when_allowed() -> None:
    assert decide(msg(author_is_bot=True, mentions_bot=True), allow_bots=True) is not None
    assert decide(msg(author_id=BOT, mentions_bot=True), allow_bots=True) is None


def test_dm_is_always_a_turn_keyed_by_the_dm_channel() -> None:
    assert decide(msg(place="dm", guild_id=None)) == Route(
        Action.ANSWER, ThreadKey("discord", "", str(CHANNEL), ""))


def test_mention_in_a_channel_opens_a_thread_with_the_messages_id() -> None:
    assert decide(msg(mentions_bot=True)) == Route(
        Action.OPEN_THREAD, ThreadKey("discord", str(GUILD), "500", ""))


def test_mention_in_never_mode_starts_a_reply_chain() -> None:
    assert decide(msg(mentions_bot=True), threads="never") == Route(
        Action.ANSWER, ThreadKey("discord", str(GUILD), str(CHANNEL), "500"), reply_to=500)


def test_reply_to_the_bot_continues_the_chain_in_either_mode() -> None:
    reply = msg(reply_to=7, reply_to_bot=True, mentions_bot=True)  # a reply pings by default
    for mode in ("auto", "never"):
        decision = decide(reply, threads=mode)
        assert decision is not None and decision.action is Action.CONTINUE_CHAIN
        assert decision.reply_to == 500


def test_threads_answer_mentions_and_the_bots_own_threads_else_only_if_followed() -> None:
    in_thread = msg(place="thread", channel_id=600, thread_owner_id=ALICE)
    key = ThreadKey("discord", str(GUILD), "600", "")
    assert decide(in_thread) == Route(Action.ANSWER_IF_FOLLOWING, key)
    # mentioned in someone else's thread: join it (read it once if new), then answer
    assert decide(replace(in_thread, mentions_bot=True)) == Route(Action.JOIN, key)
    assert decide(replace(in_thread, thread_owner_id=BOT)) == Route(Action.ANSWER, key)


def test_clean_text_drops_the_bots_mention_and_names_the_others() -> None:
    text = clean_text(f"<@{BOT}> ask <@!{ALICE}> and <@&9> in <#8> about <@77>",
                      bot_id=BOT, users={ALICE: "Alice"}, roles={9: "mods"},
                      channels={8: "general"})
    assert text == "ask @Alice and @mods in #general about @someone"
    assert clean_text(f"<@{BOT}>", bot_id=BOT) == ""


def test_thread_name_is_the_prompts_first_line_trimmed_at_a_word() -> None:
    assert thread_name("**Deploy** plan?\nmore detail", "Alice") == "Deploy plan?"
    long = thread_name("word " * 40, "Alice")
    assert len(long) <= THREAD_NAME_LIMIT and long.endswith("word…")
    assert thread_name("   ", "Alice") == "Chat with Alice"


def test_turn_carries_ids_display_name_and_attachment_names() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    key = ThreadKey("discord", str(GUILD), "600", "")
    turn = to_turn(msg(text="see this", attachments=("plot.png",), at=at), key)
    assert (turn.key, turn.message_id, turn.author_id, turn.author_name) == (
        key, "500", str(ALICE), "Alice")
    assert turn.text == "see this\n[attachment: plot.png]" and turn.at == at
    assert turn.addressed


MODS, PARENT = Standing(roles=("901", "902"), manager=True), 700


@pytest.mark.parametrize(("message", "route_options", "expected"), [
    # a DM: nothing about a server
    (msg(place="dm", guild_id=None, standing=MODS), {}, Origin(direct=True)),
    # a mention about to open a thread: the conversation is keyed by the message, the rules
    # look at the channel it was written in
    (msg(mentions_bot=True, standing=MODS), {},
     Origin(roles=("901", "902"), manager=True, channel=str(CHANNEL))),
    # a thread: its parent channel
    (msg(place="thread", channel_id=600, parent_id=PARENT, thread_owner_id=BOT), {},
     Origin(channel=str(PARENT))),
    # a reply chain in a text channel: the key names the channel already
    (msg(mentions_bot=True, standing=MODS), {"threads": "never"},
     Origin(roles=("901", "902"), manager=True)),
    (msg(reply_to=7, reply_to_bot=True), {}, Origin()),
])
def test_turns_say_where_they_come_from(message: Incoming, route_options: dict[str, str],
                                        expected: Origin) -> None:
    decision = decide(message, **route_options)
    assert decision is not None
    assert to_turn(message, decision.key).origin == expected


def test_someone_refused_is_answered_where_they_wrote_once_per_channel() -> None:
    channel_key = ThreadKey("discord", str(GUILD), str(CHANNEL), "")
    for mention in (msg(mentions_bot=True), msg(id=501, mentions_bot=True),
                    msg(reply_to=7, reply_to_bot=True)):
        for mode in ("auto", "never"):
            decision = decide(mention, threads=mode)
            assert decision is not None
            assert refused_route(mention, decision) == Route(Action.ANSWER, channel_key,
                                                             reply_to=mention.id)
    in_thread = msg(place="thread", channel_id=600, parent_id=PARENT, mentions_bot=True)
    decision = decide(in_thread)
    assert decision is not None and refused_route(in_thread, decision) == decision


def test_a_command_in_a_thread_names_the_threads_channel() -> None:
    key = ThreadKey("discord", str(GUILD), "600", "")
    assert origin("thread", PARENT, key, MODS) == Origin(roles=("901", "902"), manager=True,
                                                         channel=str(PARENT))
    channel_key = ThreadKey("discord", str(GUILD), str(CHANNEL), "")
    assert origin("channel", CHANNEL, channel_key, Standing()) == Origin()
    assert origin("dm", 600, key, MODS) == Origin(direct=True)


@pytest.mark.parametrize("me", [f"<@{BOT}>", f"<@!{BOT}>"])
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize(("sent", "expected"), MENTION_LAYOUTS)
def test_pasted_code_keeps_its_indentation(me: str, code: str, sent: str, expected: str) -> None:
    text = clean_text(sent.format(me=me, code=code), bot_id=BOT)
    assert text == expected.format(code=code)


def test_only_the_bots_mention_is_tidied_away() -> None:
    text = clean_text(f"<@{ALICE}>  look:\n    x  =  1\n<@{BOT}>", bot_id=BOT, users={ALICE: "Alice"})
    assert text == "@Alice  look:\n    x  =  1"
    assert clean_text("  as sent \t\n", bot_id=BOT) == "  as sent \t\n"
