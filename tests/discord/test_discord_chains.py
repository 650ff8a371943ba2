"""Reply chains in text channels (never mode, and replies to the bot's command answers): every
message of the bot's answer leads back to the same conversation, also after a restart."""

from __future__ import annotations

import contextlib
from typing import Any

from tests.discord.conftest import Bot, StartBot
from tests.fakes.brain import Message, default_reply
from tests.fakes.discord_server import FakeDiscord

ESSAY = "\n\n".join(f"Paragraph {i}: " + "the essay goes on and on " * 14 for i in range(12))


def long_answers(messages: list[Message]) -> str:
    """The default brain, but an essay (three Discord messages) or a long summary on request."""
    latest = messages[-1]["content"].lower()
    if "essay" in latest:
        return ESSAY
    if "summar" in latest:
        return default_reply(messages) + "\n\n" + "Details of the discussion follow. " * 80
    return default_reply(messages)


async def restart(bot: Bot, start_bot: StartBot, **settings: Any) -> Bot:
    """Stop ``bot`` and start a fresh client (empty memory) on the same database."""
    bot.task.cancel()
    with contextlib.suppress(BaseException):
        await bot.task
    return await start_bot(**settings)


def sent_to_model(fake_openai: Any) -> list[dict[str, str]]:
    return list(fake_openai.requests[-1].json["messages"])


async def test_a_reply_to_any_part_of_a_long_answer_continues_the_chain_after_a_restart(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    fake_openai.reply_with(long_answers)
    bot = await start_bot(threads="never")
    alice = fake_discord.add_user("Alice")
    ask = await fake_discord.say(alice, "My name is Ada. Write me an essay", mention_bot=True)
    await bot.settle()
    parts = fake_discord.bot_messages()
    assert len(parts) == 3 and " ".join(p["content"] for p in parts).split() == ESSAY.split()
    # every part answers the question, as a Discord reply (so the chain can be walked)
    assert [p["message_reference"]["message_id"] for p in parts] == [ask["id"]] * 3

    bot = await restart(bot, start_bot, threads="never")
    for part in parts[1:]:
        await fake_discord.say(alice, "what is my name?", reply_to=int(part["id"]))
        await bot.settle()
        assert fake_discord.bot_messages()[-1]["content"] == "Your name is Ada."


async def test_a_reply_to_a_channel_summary_continues_with_the_summary_and_its_messages(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    bot = await start_bot()
    alice, bob = fake_discord.add_user("Alice"), fake_discord.add_user("Bob")
    await fake_discord.say(alice, "My name is Ada and I vote for Lisbon")
    await fake_discord.say(bob, "I prefer Porto, the food is better")
    inter = await fake_discord.invoke("summarize", bob)
    await bot.settle()
    summary = fake_discord.response_message(inter)
    assert summary["content"].startswith("Summary:")

    bot = await restart(bot, start_bot)
    asked = await fake_discord.say(alice, "what is my name?", reply_to=int(summary["id"]))
    await bot.settle()
    sent = sent_to_model(fake_openai)
    assert {"role": "assistant", "content": summary["content"]} in sent  # the model saw it
    assert any("the food is better" in m["content"] for m in sent)  # and what it summarised
    answer = fake_discord.bot_messages()[-1]
    assert answer["content"] == "Your name is Ada."
    assert answer["message_reference"]["message_id"] == asked["id"]

    # the conversation goes on from the bot's answer like any reply chain
    await fake_discord.say(bob, "and who prefers Porto?", reply_to=int(answer["id"]))
    await bot.settle()
    assert {"role": "assistant", "content": summary["content"]} in sent_to_model(fake_openai)


async def test_a_reply_to_the_second_part_of_a_long_summary_sees_the_whole_summary(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    fake_openai.reply_with(long_answers)
    alice = fake_discord.add_user("Alice")
    await fake_discord.say(alice, "My name is Ada and the launch is on Friday")
    inter = await fake_discord.invoke("summarize", alice)
    await bot.settle()
    [second] = fake_discord.followup_messages(inter)
    whole = fake_discord.response_message(inter)["content"] + "\n\n" + second["content"]

    await fake_discord.say(alice, "what is my name?", reply_to=int(second["id"]))
    await bot.settle()
    sent = sent_to_model(fake_openai)
    summaries = [m["content"] for m in sent if m["role"] == "assistant"]
    assert [" ".join(s.split()) for s in summaries] == [" ".join(whole.split())]
    assert fake_discord.bot_messages()[-1]["content"] == "Your name is Ada."


async def test_a_summary_in_an_empty_channel_starts_no_conversation(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    inter = await fake_discord.invoke("summarize", alice)
    await bot.settle()
    nothing = fake_discord.response_message(inter)
    assert nothing["content"] == "There's nothing to summarize yet."
    await fake_discord.say(alice, "My name is Ada", reply_to=int(nothing["id"]))
    await bot.settle()
    assert [m["role"] for m in sent_to_model(fake_openai)] == ["system", "user"]
