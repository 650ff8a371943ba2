"""Discord after a crash: the reply a dead process was writing is marked, and what was left
waiting is answered once — real discord.py against the fake Discord, a real SQLite file."""

from __future__ import annotations

from typing import Any

from bot.types import ThreadKey
from tests.crash import left_by_a_crash
from tests.discord.conftest import StartBot
from tests.fakes.discord_server import FakeDiscord


async def test_a_reply_cut_by_a_crash_is_marked_and_the_question_answered_once(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any, settings: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    asked = await fake_discord.say(alice, "My name is Ada.", mention_bot=True)
    thread = await fake_discord.start_thread(asked, fake_discord.bot, "Ada")
    channel = int(thread["id"])
    half = fake_discord._message(channel, fake_discord.bot, "Nice to meet")  # then killed
    key = ThreadKey("discord", str(fake_discord.guild_id), str(channel), "")
    await left_by_a_crash(settings.db, key, ["My name is Ada."], author_id=str(alice["id"]),
                          author_name="Alice", message_ids=[str(asked["id"])],
                          refs=[f"{channel}/{half['id']}"])

    bot = await start_bot()  # the new process: connects, tidies, answers
    # answers resumed after a crash run outside the client's tracked work, and a reply's
    # last edit waits out the edit interval: wait for the reply's end, not only its start
    await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(channel)) == 2
                                and fake_discord.bot_messages(channel)[-1]["content"].endswith("."))
    await bot.settle()
    [cut, answer] = [m["content"] for m in fake_discord.bot_messages(channel)]
    assert cut.startswith("Nice to meet") and "answering again" in cut
    assert answer == "You said: My name is Ada."
    assert len(fake_openai.requests) == 1
