"""What a Discord user sees: mentions open threads, follow-ups, reply chains, DMs, ignores."""

from __future__ import annotations

from typing import Any

from tests.discord.conftest import Bot, StartBot
from tests.fakes.discord_server import FakeDiscord


def texts(fake: FakeDiscord, channel: int | str) -> list[str]:
    return [m["content"] for m in fake.bot_messages(int(channel))]


def prompts(fake_openai: Any) -> list[str]:
    """The last user message of every model request."""
    return [r.json["messages"][-1]["content"] for r in fake_openai.requests]


async def test_mention_opens_a_thread_named_from_the_prompt_and_answers_inside(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    fake_openai.reply_with("Paris is the capital of France.")
    msg = await fake_discord.say(alice, "what is the capital of France?", mention_bot=True)
    await bot.settle()

    thread = fake_discord.channels[int(msg["id"])]
    assert thread["type"] == 11 and thread["parent_id"] == str(fake_discord.channel_id)
    assert thread["name"] == "what is the capital of France?"
    assert texts(fake_discord, thread["id"]) == ["Paris is the capital of France."]
    assert texts(fake_discord, fake_discord.channel_id) == []  # nothing in the channel itself
    # typing was shown in the thread before the reply was posted
    typing = fake_discord.calls_to("POST", rf"/channels/{thread['id']}/typing$")
    post = fake_discord.calls_to("POST", rf"/channels/{thread['id']}/messages$")
    assert typing and typing[0].at <= post[0].at
    assert prompts(fake_openai) == ["what is the capital of France?"]


async def test_follow_up_in_the_bots_thread_needs_no_mention(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "My name is Ada", mention_bot=True)
    await bot.settle()
    thread = int(msg["id"])
    await fake_discord.say(alice, "what is my name?", channel=thread)
    await bot.settle()
    assert texts(fake_discord, thread)[-1] == "Your name is Ada."
    assert len(fake_openai.requests) == 2


async def test_unfollowed_thread_needs_a_mention_then_the_bot_follows_with_context(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice, bob = fake_discord.add_user("Alice"), fake_discord.add_user("Bob")
    starter = await fake_discord.say(alice, "planning the offsite")
    thread = int((await fake_discord.start_thread(starter, alice, "offsite"))["id"])
    await fake_discord.say(bob, "My name is Bob and I vote for Lisbon", channel=thread)
    await bot.settle()
    assert fake_openai.requests == [] and texts(fake_discord, thread) == []

    await fake_discord.say(alice, "what is my name?", channel=thread, mention_bot=True)
    await bot.settle()
    # the earlier message was read as context; several people → names attributed
    sent = fake_openai.requests[0].json["messages"]
    assert any("Bob: My name is Bob" in m["content"] for m in sent)
    assert sent[-1]["content"].endswith("Alice: what is my name?")
    assert len(texts(fake_discord, thread)) == 1

    await fake_discord.say(bob, "and the dates?", channel=thread)  # no mention: followed now
    await bot.settle()
    assert len(fake_openai.requests) == 2 and len(texts(fake_discord, thread)) == 2


async def test_several_people_in_a_thread_are_attributed_by_display_name(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice, bob = fake_discord.add_user("Alice"), fake_discord.add_user("Bob")
    msg = await fake_discord.say(alice, "My name is Alice", mention_bot=True)
    await bot.settle()
    await fake_discord.say(bob, "hello from me too", channel=int(msg["id"]))
    await bot.settle()
    sent = fake_openai.requests[-1].json["messages"]
    assert sent[-1]["content"] == "Bob: hello from me too"
    assert any(m["content"].startswith("Alice: ") for m in sent)


async def test_never_mode_replies_and_a_reply_to_the_bot_continues_the_chain(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    bot = await start_bot(threads="never")
    alice = fake_discord.add_user("Alice")
    first = await fake_discord.say(alice, "My name is Ada", mention_bot=True)
    await bot.settle()
    assert fake_discord.calls_to("POST", "/threads$") == []
    [answer] = fake_discord.bot_messages()
    assert answer["message_reference"]["message_id"] == first["id"]

    await fake_discord.say(alice, "what is my name?", reply_to=int(answer["id"]))
    await bot.settle()
    assert texts(fake_discord, fake_discord.channel_id)[-1] == "Your name is Ada."

    # a second reply to the bot's *latest* message is still the same chain
    latest = fake_discord.bot_messages()[-1]
    await fake_discord.say(alice, "what's my name again?", reply_to=int(latest["id"]),
                           ping=False)
    await bot.settle()
    assert texts(fake_discord, fake_discord.channel_id)[-1] == "Your name is Ada."

    # a new mention (not a reply) starts a fresh conversation
    await fake_discord.say(alice, "what is my name?", mention_bot=True)
    await bot.settle()
    assert texts(fake_discord, fake_discord.channel_id)[-1] == "I don't know your name."


async def test_reply_chain_survives_a_restart(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    first_bot = await start_bot(threads="never")
    alice = fake_discord.add_user("Alice")
    await fake_discord.say(alice, "My name is Ada", mention_bot=True)
    await first_bot.settle()
    await fake_discord.say(alice, "nice", reply_to=int(fake_discord.bot_messages()[-1]["id"]))
    await first_bot.settle()
    first_bot.task.cancel()

    second = await start_bot(threads="never")  # empty memory: walks the chain via REST
    await fake_discord.say(alice, "what is my name?",
                           reply_to=int(fake_discord.bot_messages()[-1]["id"]))
    await second.settle()
    assert texts(fake_discord, fake_discord.channel_id)[-1] == "Your name is Ada."
    assert fake_discord.calls_to("GET", r"/channels/\d+/messages/\d+$")  # walked the chain


async def test_dm_every_message_is_a_turn(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    dm = fake_discord.open_dm(alice)
    await fake_discord.say(alice, "My name is Ada", channel=dm)
    await bot.settle()
    await fake_discord.say(alice, "what is my name?", channel=dm)
    await bot.settle()
    assert texts(fake_discord, dm) == ["You said: My name is Ada", "Your name is Ada."]


async def test_own_echo_other_bots_system_messages_and_edits_are_ignored(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice, other = fake_discord.add_user("Alice"), fake_discord.add_user("Helper", bot=True)
    msg = await fake_discord.say(alice, "hello", mention_bot=True)
    await bot.settle()
    thread = int(msg["id"])
    # the bot's own reply came back as MESSAGE_CREATE (and its edits as MESSAGE_UPDATE)
    assert len(texts(fake_discord, thread)) == 1 and len(fake_openai.requests) == 1

    await fake_discord.say(other, "hello bot", channel=thread, mention_bot=True)
    await fake_discord.say(alice, "joined", mention_bot=True, type=7)  # member join notice
    await fake_discord.edit(msg, f"<@{bot.id}> hello, edited")
    await bot.settle()
    assert len(fake_openai.requests) == 1 and len(texts(fake_discord, thread)) == 1
    assert len(fake_discord.calls_to("POST", "/threads$")) == 1


async def test_other_bots_are_answered_when_allowed(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    bot = await start_bot(allow_bots=True)
    other = fake_discord.add_user("Helper", bot=True)
    msg = await fake_discord.say(other, "ping", mention_bot=True)
    await bot.settle()
    assert texts(fake_discord, msg["id"]) == ["You said: ping"]


async def test_unmentioned_channel_messages_are_not_read(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    await fake_discord.say(alice, "just chatting")
    await bot.settle()
    assert fake_openai.requests == [] and fake_discord.bot_messages() == []


async def test_messages_during_a_reply_are_answered_together_in_one_next_reply(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice, bob = fake_discord.add_user("Alice"), fake_discord.add_user("Bob")
    fake_openai.chunk_size, fake_openai.delay = 5, 0.03
    msg = await fake_discord.say(alice, "first question", mention_bot=True)
    thread = int(msg["id"])
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(thread))
    await fake_discord.say(alice, "second", channel=thread)
    await fake_discord.say(bob, "third", channel=thread)
    await bot.settle()
    assert len(fake_discord.bot_messages(thread)) == 2  # one reply, then one for both
    assert len(fake_openai.requests) == 2
    last = fake_openai.requests[-1].json["messages"][-1]["content"]
    assert "Alice: second" in last and "Bob: third" in last
