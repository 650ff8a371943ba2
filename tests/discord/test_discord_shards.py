"""Sharding (THREADBOT_DISCORD_SHARDS / _SHARD_IDS): real discord.py AutoShardedClients
against the fake Discord, which sends a server's events only to the shard that owns it and
DMs only to shard 0, as Discord does; two "processes" (clients with their own engine) share
one SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from adapters.discord import platform
from adapters.discord.settings import DiscordSettings
from bot.app import open_engine
from bot.config import Settings
from bot.engine import Engine
from bot.errors import ConfigError
from bot.serving import supervise
from bot.types import ThreadKey
from tests.crash import left_by_a_crash
from tests.discord.conftest import Bot, StartBot
from tests.fakes.discord_server import FakeDiscord

SHARDS = 2
SKIPS_SYNC = "slash commands are registered by the process that runs shard 0"


@pytest.fixture
def channels(fake_discord: FakeDiscord) -> tuple[int, int]:
    """A text channel in a server of shard 0 and one in a server of shard 1 (of 2)."""
    return (fake_discord.add_channel("zero", guild=fake_discord.add_guild(
                "Shard Zero", shard=(0, SHARDS))),
            fake_discord.add_channel("one", guild=fake_discord.add_guild(
                "Shard One", shard=(1, SHARDS))))


@pytest.fixture
async def other_engine(settings: Settings) -> AsyncIterator[Engine]:
    """A second process's engine on the same database."""
    async with open_engine(settings) as engine:
        yield engine


async def two_processes(start_bot: StartBot, other_engine: Engine) -> tuple[Bot, Bot]:
    first = await start_bot(shards=SHARDS, shard_ids=(0,))
    second = await start_bot(engine_=other_engine, shards=SHARDS, shard_ids=(1,))
    return first, second


def answers(fake: FakeDiscord, thread: dict[str, Any]) -> list[str]:
    return [m["content"] for m in fake.bot_messages(int(thread["id"]))]


def command_syncs(fake: FakeDiscord) -> int:
    return len(fake.calls_to("PUT", r"^/applications/\d+/commands$"))


async def test_each_process_answers_the_servers_of_its_shard_once(
    start_bot: StartBot, other_engine: Engine, fake_discord: FakeDiscord, fake_openai: Any,
    channels: tuple[int, int], caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = await two_processes(start_bot, other_engine)
    alice = fake_discord.add_user("Alice")
    to_zero = await fake_discord.say(alice, "hello zero", channel=channels[0], mention_bot=True)
    to_one = await fake_discord.say(alice, "hello one", channel=channels[1], mention_bot=True)
    dm = await fake_discord.say(alice, "hello dm", channel=fake_discord.open_dm(alice))
    await first.settle()
    await second.settle()

    assert [i["shard"] for i in fake_discord.identifies] == [[0, SHARDS], [1, SHARDS]]
    assert answers(fake_discord, to_zero) == ["You said: hello zero"]
    assert answers(fake_discord, to_one) == ["You said: hello one"]
    assert [m["content"] for m in fake_discord.bot_messages(int(dm["channel_id"]))] == [
        "You said: hello dm"]
    assert len(fake_openai.requests) == 3
    ids = {int(to_zero["id"]), int(to_one["id"]), int(dm["id"])}
    assert ids & set(first.client.handled) == {int(to_zero["id"]), int(dm["id"])}
    assert ids & set(second.client.handled) == {int(to_one["id"])}
    # Slash commands: registered once, by shard 0's process; the other one says why not.
    assert command_syncs(fake_discord) == 1
    assert sum(SKIPS_SYNC in r.getMessage() for r in caplog.records) == 1


async def test_a_command_is_answered_once_by_the_shard_of_its_server(
    start_bot: StartBot, other_engine: Engine, fake_discord: FakeDiscord,
    channels: tuple[int, int],
) -> None:
    first, second = await two_processes(start_bot, other_engine)
    alice = fake_discord.add_user("Alice")
    helps = [await fake_discord.invoke("help", alice, channel=c) for c in channels]
    await first.settle()
    await second.settle()
    # Both clients got it would mean a second acknowledgement (40060): an error in the test.
    assert [len(h.callbacks) for h in helps] == [1, 1]
    assert all(h.content and "threadbot" in h.content for h in helps)


async def test_after_a_crash_each_process_answers_only_its_shards_conversations(
    start_bot: StartBot, other_engine: Engine, fake_discord: FakeDiscord, fake_openai: Any,
    settings: Settings, channels: tuple[int, int],
) -> None:
    alice = fake_discord.add_user("Alice")
    threads = []
    for channel, text in zip(channels, ("left in zero", "left in one"), strict=True):
        asked = fake_discord._message(channel, alice, text)  # stored, then the process died
        thread = await fake_discord.start_thread(asked, fake_discord.bot, text)
        key = ThreadKey("discord", thread["guild_id"], thread["id"], "")
        await left_by_a_crash(settings.db, key, [text], author_id=str(alice["id"]),
                              author_name="Alice", message_ids=[str(asked["id"])], refs=[])
        threads.append(thread)

    first, second = await two_processes(start_bot, other_engine)
    # resumed answers run outside the clients' tracked work and a reply's last edit waits
    # out the edit interval: wait for each reply's end, not only its start
    await fake_discord.wait_for(
        lambda: all(answers(fake_discord, t) and answers(fake_discord, t)[-1].endswith(t["name"])
                    for t in threads))
    await first.settle()
    await second.settle()

    assert answers(fake_discord, threads[0]) == ["You said: left in zero"]
    assert answers(fake_discord, threads[1]) == ["You said: left in one"]
    assert len(fake_openai.requests) == 2


async def test_one_process_without_shard_ids_runs_every_shard(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any, channels: tuple[int, int],
) -> None:
    bot = await start_bot(shards=SHARDS)
    alice = fake_discord.add_user("Alice")
    asked = [await fake_discord.say(alice, f"hello {n}", channel=c, mention_bot=True)
             for n, c in enumerate(channels)]
    await bot.settle()

    assert sorted(i["shard"] for i in fake_discord.identifies) == [[0, SHARDS], [1, SHARDS]]
    assert [answers(fake_discord, m) for m in asked] == [["You said: hello 0"],
                                                        ["You said: hello 1"]]
    assert command_syncs(fake_discord) == 1


async def test_a_bot_in_too_many_servers_for_one_connection_is_told_to_shard(
    start_bot: StartBot, fake_discord: FakeDiscord, channels: tuple[int, int],
) -> None:
    fake_discord.guilds_per_shard = 2  # it is in 3: the fake's own server and two more
    with pytest.raises(ConfigError, match="code 4011: sharding required.*set "
                                          "THREADBOT_DISCORD_SHARDS"):
        await start_bot()
    await start_bot(shards=SHARDS)  # one or two servers per shard: welcome


async def test_without_shards_one_plain_connection_gets_everything(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any, channels: tuple[int, int],
) -> None:
    bot = await start_bot()
    alice = fake_discord.add_user("Alice")
    asked = [await fake_discord.say(alice, f"hello {n}", channel=c, mention_bot=True)
             for n, c in enumerate(channels)]
    await bot.settle()

    assert len(fake_discord.identifies) == 1 and "shard" not in fake_discord.identifies[0]
    assert not isinstance(bot.client, discord.AutoShardedClient)
    assert not fake_discord.calls_to("GET", "^/gateway/bot$")
    assert [answers(fake_discord, m) for m in asked] == [["You said: hello 0"],
                                                        ["You said: hello 1"]]


async def test_a_broken_shard_connection_starts_discord_anew_not_the_end(
    discord_settings: DiscordSettings, engine: Engine, fake_discord: FakeDiscord,
    fake_openai: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    """discord.py's AutoShardedClient closes itself when a frame breaks a shard's loop (the
    plain client is reconnected in place: test_discord_gateway.py); the platform is then
    started again, as serving.py does for any platform that stops."""
    settings = discord_settings.model_copy(update={"shards": 1})
    running = asyncio.create_task(supervise(platform, engine, settings))
    try:
        await fake_discord.wait_for(lambda: len(fake_discord.identifies) == 1, within=10)
        await fake_discord.send_frame("this is not JSON")
        await fake_discord.wait_for(lambda: len(fake_discord.identifies) == 2, within=10)
        alice = fake_discord.add_user("Alice")
        asked = await fake_discord.say(alice, "back again?", mention_bot=True)
        await fake_discord.wait_for(lambda: bool(answers(fake_discord, asked)), within=10)
    finally:
        await engine.close(grace=5)  # the reply ends before Discord stops, as on SIGTERM
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    assert answers(fake_discord, asked) == ["You said: back again?"]
    assert [i["shard"] for i in fake_discord.identifies] == [[0, 1], [0, 1]]
    assert sum("starting anew" in r.getMessage() for r in caplog.records) == 1
