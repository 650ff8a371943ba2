"""A reasoning model on Discord: its thinking is never posted, and when it thinks again after
some text the typing indicator comes back until the rest of the answer."""

from __future__ import annotations

from typing import Any

from tests.discord.conftest import Bot
from tests.fakes.discord_server import FakeDiscord

REPLY = "First part. <think>wait, let me check that again</think>\n\nSecond part."


async def test_thinking_mid_reply_shows_typing_and_is_never_posted(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    fake_openai.reply_with(REPLY)
    fake_openai.thinking = "I should answer in two parts."  # <think>…</think> first, too
    fake_openai.chunk_size, fake_openai.delay = 4, 0.03
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "go", mention_bot=True)
    await bot.settle()

    thread = int(msg["id"])
    posted = fake_discord.bot_messages(thread)
    assert [m["content"] for m in posted] == ["First part. Second part."]
    calls = fake_discord.calls_to("POST", rf"/channels/{thread}/typing$")
    first_post = fake_discord.calls_to("POST", rf"/channels/{thread}/messages$")[0]
    assert calls[0].at <= first_post.at  # typing while it first thought
    assert any(c.at > first_post.at for c in calls)  # and again when it thought mid-reply
    every_call = " ".join(str(c) for c in fake_discord.calls)
    assert "check that again" not in every_call and "two parts" not in every_call


async def test_a_slash_commands_reply_shows_a_note_while_it_thinks(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    """/summarize streams into the deferred response ("is thinking…" before any text); when
    the model thinks again after some text, a note under it says so until the rest."""
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "we ship on friday", mention_bot=True)
    await bot.settle()
    fake_openai.reply_with(REPLY)
    fake_openai.thinking = "I should answer in two parts."
    fake_openai.chunk_size, fake_openai.delay = 4, 0.03
    inter = await fake_discord.invoke("summarize", alice, channel=int(msg["id"]))
    await bot.settle()

    noted = [e for e in inter.edits if e.endswith("_Thinking…_")]
    assert noted and noted[0].startswith("First part.")
    assert inter.edits.index(noted[0]) < len(inter.edits) - 1
    assert inter.content == "First part. Second part."
    every_call = " ".join(str(c) for c in fake_discord.calls)
    assert "check that again" not in every_call and "two parts" not in every_call
