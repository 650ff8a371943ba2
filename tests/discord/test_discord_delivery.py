"""How replies reach Discord: streaming edits, long replies, mentions, rate limits,
missing permissions, provider errors and gateway resumes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.discord.conftest import EDIT_INTERVAL, Bot
from tests.fakes.discord_server import FakeDiscord

MESSAGE_PATH = r"/channels/\d+/messages/(\d+)$"


def edits_of(fake: FakeDiscord, message_id: str) -> list[float]:
    return [c.at for c in fake.calls_to("PATCH", MESSAGE_PATH) if c.path.endswith(message_id)]


async def test_streaming_edits_are_throttled_per_message(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    words = " ".join(f"word{i}" for i in range(60))
    fake_openai.reply_with(words)
    fake_openai.chunk_size, fake_openai.delay = 8, 0.03  # ~60 deltas over ~1.8 s
    msg = await fake_discord.say(alice, "talk to me", mention_bot=True)
    await bot.settle()

    [reply] = fake_discord.bot_messages(int(msg["id"]))  # exactly one reply message
    assert reply["content"] == words
    edits = edits_of(fake_discord, reply["id"])
    assert len(edits) >= 3  # the user watched it grow
    gaps = [b - a for a, b in zip(edits, edits[1:-1], strict=False)]  # the last edit is final
    print(f"{len(edits)} edits, gaps {[round(g, 3) for g in gaps]}")
    assert min(gaps) >= EDIT_INTERVAL * 0.9, gaps
    assert len(edits) <= (edits[-1] - edits[0]) / EDIT_INTERVAL + 2


async def test_two_replies_stream_side_by_side_not_behind_one_global_throttle(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice, bob = fake_discord.add_user("Alice"), fake_discord.add_user("Bob")
    fake_openai.reply_with(" ".join(f"w{i}" for i in range(60)))
    fake_openai.chunk_size, fake_openai.delay = 6, 0.03
    await fake_discord.say(alice, "one", mention_bot=True)
    await fake_discord.say(bob, "two", mention_bot=True)
    await bot.settle()
    first, second = fake_discord.bot_messages()
    a, b = edits_of(fake_discord, first["id"]), edits_of(fake_discord, second["id"])
    assert len(a) >= 3 and len(b) >= 3
    # each message is edited on its own schedule: edits of the two land close together
    assert min(abs(x - y) for x in a for y in b) < EDIT_INTERVAL * 0.9


async def test_long_reply_is_split_into_messages_with_code_blocks_intact(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    code = "\n".join(f"    print('line {i:03d} of the example program')" for i in range(66))
    prose = " ".join(["Some explanation of the code follows here."] * 12)
    reply = f"{prose}\n\n```python\n{code}\n```\n\n{prose}\n\n{prose}"
    assert 4400 < len(reply) < 4600
    fake_openai.reply_with(reply)
    fake_openai.chunk_size = 400
    msg = await fake_discord.say(alice, "show me code", mention_bot=True)
    await bot.settle()

    parts = [m["content"] for m in fake_discord.bot_messages(int(msg["id"]))]
    assert len(parts) == 3
    assert all(len(p) <= 2000 for p in parts)
    for part in parts:
        assert part.count("```") % 2 == 0  # every chunk opens and closes its fences
    joined = "\n".join(parts)
    for i in range(66):
        assert f"line {i:03d} of the example program" in joined
    reopened = [p for p in parts if p.startswith("```python")]
    assert reopened  # a code block cut in two is reopened with its language


async def test_model_output_can_never_ping_anyone(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    fake_openai.reply_with(f"@everyone @here <@{alice['id']}> <@&123> look!")
    fake_openai.chunk_size, fake_openai.delay = 5, 0.02
    msg = await fake_discord.say(alice, "ping everybody", mention_bot=True)
    await bot.settle()
    [reply] = fake_discord.bot_messages(int(msg["id"]))
    assert reply["content"].startswith("@everyone @here")
    writes = fake_discord.calls_to("POST", r"/messages$") + fake_discord.calls_to(
        "PATCH", MESSAGE_PATH)
    assert len(writes) >= 2
    for call in writes:
        assert call.json["allowed_mentions"]["parse"] == []
        assert not call.json["allowed_mentions"].get("users")
        assert not call.json["allowed_mentions"].get("roles")
        assert not call.json["allowed_mentions"].get("replied_user")


async def test_a_rate_limited_edit_is_retried(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    fake_openai.reply_with("a fairly short answer that streams in a few pieces")
    fake_openai.chunk_size, fake_openai.delay = 10, 0.1
    fake_discord.fail_next("PATCH", MESSAGE_PATH, 429, retry_after=0.2)
    msg = await fake_discord.say(alice, "hi", mention_bot=True)
    await bot.settle()
    [reply] = fake_discord.bot_messages(int(msg["id"]))
    assert reply["content"] == "a fairly short answer that streams in a few pieces"
    patches = fake_discord.calls_to("PATCH", MESSAGE_PATH)
    assert len(patches) >= 2
    assert patches[1].at - patches[0].at >= 0.2  # waited retry_after, then sent it again
    assert patches[1].json["content"] == patches[0].json["content"]


async def test_missing_thread_permission_falls_back_to_a_channel_reply_logged_once(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    alice = fake_discord.add_user("Alice")
    fake_discord.fail_next("POST", r"/threads$", 403, code=50013, times=2)
    first = await fake_discord.say(alice, "My name is Ada", mention_bot=True)
    await bot.settle()
    second = await fake_discord.say(alice, "another question", mention_bot=True)
    await bot.settle()

    replies = fake_discord.bot_messages(fake_discord.channel_id)
    assert [r["message_reference"]["message_id"] for r in replies] == [first["id"], second["id"]]
    assert [r["content"] for r in replies] == ["You said: My name is Ada",
                                               "You said: another question"]
    warnings = [r for r in caplog.records if "cannot create a thread" in r.getMessage()]
    assert len(warnings) == 1 and "50013" in warnings[0].getMessage()

    # a reply to the bot's message continues that conversation in the channel
    await fake_discord.say(alice, "what is my name?", reply_to=int(replies[0]["id"]))
    await bot.settle()
    assert fake_discord.bot_messages()[-1]["content"] == "Your name is Ada."


async def test_provider_failure_shows_a_short_message_not_an_exception(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    fake_openai.fail_next(401)
    msg = await fake_discord.say(alice, "hello", mention_bot=True)
    await bot.settle()
    [reply] = fake_discord.bot_messages(int(msg["id"]))
    assert reply["content"] == "_The bot's AI credentials were rejected. Please tell the bot's admin._"


async def test_events_missed_while_disconnected_are_answered_once_after_resume(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    await fake_discord.drop_connection(hold=True)
    msg = await fake_discord.say(alice, "are you there?", mention_bot=True)  # missed for now
    await asyncio.sleep(0.1)
    fake_discord.release()
    await bot.settle()
    assert len(fake_discord.resumes) == 1
    assert [m["content"] for m in fake_discord.bot_messages(int(msg["id"]))] == [
        "You said: are you there?"]


async def test_an_event_delivered_again_on_resume_is_not_answered_twice(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "hello once", mention_bot=True)
    await bot.settle()
    fake_discord.redeliver_on_resume = 50  # at-least-once: replay everything on resume
    await fake_discord.drop_connection()
    await bot.settle()
    await asyncio.sleep(0.1)
    await bot.settle()

    assert len(fake_discord.resumes) == 1
    assert len(fake_openai.requests) == 1
    assert [m["content"] for m in fake_discord.bot_messages(int(msg["id"]))] == [
        "You said: hello once"]
    # the replay is recognised as stored before anything is posted for it
    assert len(fake_discord.calls_to("POST", r"/threads$")) == 1
    assert len(fake_discord.calls_to("POST", "/typing$")) == 1  # the replay showed no typing
