"""Slash commands: registered on start, answered within Discord's 3-second deadline."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.discord.conftest import Bot, StartBot
from tests.fakes.discord_server import FakeDiscord, Interaction

NAMES = {"reset", "summarize", "stop", "help", "usage", "model", "config", "forget"}


def first_ack(inter: Interaction) -> tuple[int, float]:
    kind, at = inter.callbacks[0]
    return kind, at - inter.created


async def test_commands_are_registered_globally_on_start(
    bot: Bot, fake_discord: FakeDiscord
) -> None:
    assert {c["name"] for c in fake_discord.commands["global"]} == NAMES
    assert all(c["description"] for c in fake_discord.commands["global"])


async def test_model_and_config_take_optional_text_options(
    bot: Bot, fake_discord: FakeDiscord
) -> None:
    synced = {c["name"]: c for c in fake_discord.commands["global"]}
    options = {name: [(o["name"], o["type"], o.get("required", False))
                      for o in synced[name].get("options", [])] for name in synced}
    string = 3  # APPLICATION_COMMAND_OPTION_TYPE string
    assert options["model"] == [("name", string, False)]
    assert options["config"] == [("key", string, False), ("value", string, False)]
    assert options["usage"] == [] and options["reset"] == []
    assert all(o["description"] for c in synced.values() for o in c.get("options", []))


async def test_commands_are_registered_in_one_server_when_configured(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    await start_bot(guild_id=fake_discord.guild_id)
    assert {c["name"] for c in fake_discord.commands[str(fake_discord.guild_id)]} == NAMES


async def test_reset_in_a_thread_forgets_the_conversation(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "My name is Ada", mention_bot=True)
    await bot.settle()
    thread = int(msg["id"])

    inter = await fake_discord.invoke("reset", alice, channel=thread)
    await bot.settle()
    kind, after = first_ack(inter)
    assert kind == 4 and after < 3.0  # answered directly, in time
    assert inter.content is not None and inter.content.startswith("Conversation reset")

    await fake_discord.say(alice, "what is my name?", channel=thread)
    await bot.settle()
    assert fake_discord.bot_messages(thread)[-1]["content"] == "I don't know your name."
    last = fake_openai.requests[-1].json["messages"]
    assert not any("Ada" in m["content"] for m in last)  # old history left the context


async def test_summarize_is_deferred_then_edited_with_the_summary(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "we ship on friday", mention_bot=True)
    await bot.settle()
    fake_openai.chunk_size, fake_openai.delay = 4, 0.05  # a slow model
    fake_openai.reply_with("Summary: the team ships on Friday.")
    inter = await fake_discord.invoke("summarize", alice, channel=int(msg["id"]))
    await bot.settle()

    kind, after = first_ack(inter)
    assert kind == 5 and after < 0.5  # "threadbot is thinking…" at once
    assert inter.content == "Summary: the team ships on Friday."
    assert len(inter.edits) >= 2  # streamed into the deferred response
    summary_request = fake_openai.requests[-1].json["messages"]
    assert "we ship on friday" in summary_request[-1]["content"]


async def test_summarize_in_a_channel_summarises_its_recent_messages(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice, bob = fake_discord.add_user("Alice"), fake_discord.add_user("Bob")
    await fake_discord.say(alice, "lunch at noon?")
    await fake_discord.say(bob, "yes, the usual place")
    inter = await fake_discord.invoke("summarize", bob)
    await bot.settle()
    assert first_ack(inter)[0] == 5
    prompt = fake_openai.requests[-1].json["messages"][-1]["content"]
    assert "Alice: lunch at noon?" in prompt and "Bob: yes, the usual place" in prompt
    assert inter.content and inter.content.startswith("Summary:")


async def test_stop_ends_the_reply_being_written(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    fake_openai.reply_with(" ".join(["blah"] * 200))
    fake_openai.chunk_size, fake_openai.delay = 5, 0.05  # ~10 s if not stopped
    msg = await fake_discord.say(alice, "tell me a long story", mention_bot=True)
    thread = int(msg["id"])
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(thread))
    inter = await fake_discord.invoke("stop", alice, channel=thread)
    await fake_discord.wait_for(lambda: inter.content)
    assert inter.content == "Stopped."
    await bot.settle()
    [reply] = fake_discord.bot_messages(thread)
    assert reply["content"].endswith("_(stopped)_")
    assert len(reply["content"]) < 500


async def test_stop_in_a_channel_stops_its_reply_chains(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    bot = await start_bot(threads="never")
    alice = fake_discord.add_user("Alice")
    fake_openai.reply_with(" ".join(["blah"] * 200))
    fake_openai.chunk_size, fake_openai.delay = 5, 0.05
    await fake_discord.say(alice, "tell me a long story", mention_bot=True)
    await fake_discord.wait_for(lambda: fake_discord.bot_messages())
    inter = await fake_discord.invoke("stop", alice)
    await bot.settle()
    assert inter.content == "Stopped."
    assert fake_discord.bot_messages()[0]["content"].endswith("_(stopped)_")


async def test_help_and_channel_reset_answer_privately(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    helped = await fake_discord.invoke("help", alice)
    reset = await fake_discord.invoke("reset", alice)
    await bot.settle()
    assert helped.ephemeral and helped.content and "/reset" in helped.content
    assert reset.ephemeral and reset.content and "inside the thread" in reset.content
    assert fake_openai.requests == []


async def test_commands_work_in_dms(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    dm = fake_discord.open_dm(alice)
    await fake_discord.say(alice, "My name is Ada", channel=dm)
    await bot.settle()
    inter = await fake_discord.invoke("reset", alice, channel=dm)
    await bot.settle()
    assert inter.content and inter.content.startswith("Conversation reset")
    await fake_discord.say(alice, "what is my name?", channel=dm)
    await bot.settle()
    assert fake_discord.bot_messages(dm)[-1]["content"] == "I don't know your name."


async def test_a_slow_command_is_deferred_before_the_deadline(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any, settings: Any
) -> None:
    bot = await start_bot()
    bot.client.command_deadline = 0.2
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "hello", mention_bot=True)
    await bot.settle()
    # another process (say, a backup) holds the database's write lock for a while
    other = sqlite3.connect(settings.db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        inter = await fake_discord.invoke("reset", alice, channel=int(msg["id"]))
        await fake_discord.wait_for(lambda: inter.callbacks)
        assert inter.content is None  # acknowledged ("thinking…") before the answer exists
    finally:
        other.execute("ROLLBACK")
        other.close()
    await bot.settle()
    kind, after = first_ack(inter)
    assert kind == 5 and after < 1.0
    assert inter.content and inter.content.startswith("Conversation reset")


async def test_forget_in_a_thread_deletes_your_messages_and_tells_only_you(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "My PIN is 4321", mention_bot=True)
    await bot.settle()
    thread = int(msg["id"])

    inter = await fake_discord.invoke("forget", alice, channel=thread)
    await bot.settle()
    assert inter.ephemeral and inter.content is not None
    assert inter.content.startswith("Deleted 1 message of yours")
    denied = await fake_discord.invoke("forget", alice, channel=thread, scope="all")
    await bot.settle()
    assert denied.content is not None and denied.content.startswith("Only an admin")

    await fake_discord.say(alice, "what do you know?", channel=thread)
    await bot.settle()
    sent = fake_openai.requests[-1].json["messages"]
    assert not any("4321" in m["content"] for m in sent if m["role"] == "user")


async def test_forget_in_a_text_channel_says_to_use_it_in_the_thread(
    bot: Bot, fake_discord: FakeDiscord
) -> None:
    alice = fake_discord.add_user("Alice")
    inter = await fake_discord.invoke("forget", alice)
    await bot.settle()
    assert inter.ephemeral and inter.content is not None and "inside the thread" in inter.content
