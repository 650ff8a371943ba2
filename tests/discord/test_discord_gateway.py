"""Bad data from the gateway never ends the Discord adapter: a malformed event is logged and
skipped, a broken connection is reconnected; only a configuration error (token, intents)
stops it, with one clear line."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.engine import Engine
from bot.errors import ConfigError
from tests.discord.conftest import Bot, StartBot
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord


def malformed_messages(fake: FakeDiscord, author: dict[str, Any]) -> list[Any]:
    """MESSAGE_CREATE payloads discord.py (or the adapter) cannot read."""
    channel = fake.channels[fake.channel_id]

    def mention(**changes: Any) -> dict[str, Any]:
        msg = p.message(channel, author, f"<@{fake.bot['id']}> hello", mentions=[fake.bot])
        msg.update(changes)
        return msg

    no_author = mention()
    del no_author["author"]
    return [
        no_author,
        mention(channel_id="general"),  # not a snowflake
        mention(content=None),
        mention(type=9999),  # a message type from the future
        mention(mentions="everyone"),  # a list expected
        "MESSAGE_CREATE as a string",  # not an object at all
        [mention()],
    ]


def warned(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


async def test_malformed_events_are_skipped_and_the_next_message_is_answered(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    alice = fake_discord.add_user("Alice")
    for data in malformed_messages(fake_discord, alice):
        await fake_discord.dispatch("MESSAGE_CREATE", data)
    await fake_discord.dispatch("SOMETHING_NEW", {"id": "1"})  # an event type from the future
    await fake_discord.dispatch("THREAD_CREATE", None)
    msg = await fake_discord.say(alice, "still there?", mention_bot=True)
    await bot.settle()

    assert not bot.task.done()
    thread = int(msg["id"])
    assert [m["content"] for m in fake_discord.bot_messages(thread)] == ["You said: still there?"]
    assert warned(caplog, "malformed Discord") >= 6  # each one said, none silently


async def test_a_broken_gateway_connection_is_reconnected_not_the_end(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot.client.reconnect_delay = 0.05
    alice = fake_discord.add_user("Alice")
    for frame in ("this is not JSON", "[1, 2, 3]"):
        connections = len(fake_discord.identifies)
        await fake_discord.send_frame(frame)
        await fake_discord.wait_for(lambda n=connections: (
            len(fake_discord.identifies) > n and fake_discord.seq >= 2))
    msg = await fake_discord.say(alice, "back again?", mention_bot=True)
    await bot.settle()

    assert not bot.task.done()
    assert len(fake_discord.identifies) == 3  # connected, then twice again
    assert [m["content"] for m in fake_discord.bot_messages(int(msg["id"]))] == [
        "You said: back again?"]
    assert warned(caplog, "reconnecting") == 2


async def test_a_token_revoked_while_connected_ends_with_one_clear_line(
    bot: Bot, fake_discord: FakeDiscord
) -> None:
    fake_discord.token = "a-new-token"  # the admin reset the token in the developer portal
    await fake_discord.drop_connection(code=4004)
    async with asyncio.timeout(5):
        with pytest.raises(ConfigError, match="rejected DISCORD_BOT_TOKEN"):
            await bot.task


async def test_a_gateway_that_goes_silent_is_noticed_resumed_and_nothing_is_lost(
    start_bot: StartBot, engine: Engine, fake_discord: FakeDiscord, fake_openai: Any,
) -> None:
    engine.health.watchdog_s = 1.0  # THREADBOT_WATCHDOG_S
    fake_discord.heartbeat_ms = 200
    bot = await start_bot()
    alice = fake_discord.add_user("Alice")
    link = engine.health.links["discord"]
    assert link.connected and link.mode == "gateway"

    fake_discord.silence()  # no heartbeat ACKs, no events, the socket stays open
    msg = await fake_discord.say(alice, "are you there?", mention_bot=True)
    await fake_discord.wait_for(lambda: fake_discord.resumes, within=5)
    await bot.settle()

    assert [m["content"] for m in fake_discord.bot_messages(int(msg["id"]))] == [
        "You said: are you there?"]  # the event the dead connection missed, after the resume
    assert link.connected and link.last_event > 0
    ok, report = await engine.health.report()
    assert ok and report["platforms"]["discord"]["ok"] is True
