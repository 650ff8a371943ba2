"""The admin controls as Discord users meet them: who is refused (once, politely, in the
place they wrote, never a model call or a thread), roles that open a channel, "Manage
Server" as admin, and /usage /model /config. Admin settings come from the environment and a
threadbot.toml, read when the engine opens (after the fake server has its roles)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_engine
from bot.config import Settings
from bot.engine import Engine
from storage import open_store
from tests.discord.conftest import Bot
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord

MALLORY = 4242  # denied everywhere
NOT_FOR_YOU = "Sorry, I'm not available to you here."
HISTORY = r"^/channels/\d+/messages$"


@dataclass(frozen=True)
class World:
    helpdesk: int  # a channel only the helpers role may use
    helpers: int
    mods: int  # a role with Manage Server


@pytest.fixture
async def world(fake_discord: FakeDiscord) -> World:
    return World(helpdesk=fake_discord.add_channel("helpdesk"),
                 helpers=await fake_discord.add_role("helpers"),
                 mods=await fake_discord.add_role("mods", permissions=p.MANAGE_GUILD))


@pytest.fixture
async def engine(settings: Settings, world: World, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Engine]:
    """The engine as `threadbot run` opens it: the admin variables and THREADBOT_CONFIG."""
    config = tmp_path / "threadbot.toml"
    config.write_text(f'[channels."{world.helpdesk}"]\nallowed_roles = ["{world.helpers}"]\n')
    monkeypatch.setenv("THREADBOT_CONFIG", str(config))
    monkeypatch.setenv("THREADBOT_DENIED_USERS", str(MALLORY))
    monkeypatch.setenv("THREADBOT_MODELS", "gpt-4o-mini,gpt-4.1")
    async with open_engine(settings) as engine:
        yield engine


def mallory(fake: FakeDiscord) -> dict[str, Any]:
    return fake.add_user("Mallory", id=MALLORY)


async def member(fake: FakeDiscord, name: str, *roles: int) -> dict[str, Any]:
    person = fake.add_user(name)
    for role in roles:
        fake.member_roles.setdefault(person["id"], []).append(str(role))
    return person


def refusals(fake: FakeDiscord, channel: int | None = None) -> list[dict[str, Any]]:
    return [m for m in fake.bot_messages(channel) if m["content"].startswith(NOT_FOR_YOU)]


def threads_opened(fake: FakeDiscord) -> int:
    return len(fake.calls_to("POST", r"/threads$"))


def models(fake_openai: Any) -> list[str]:
    return [r.json["model"] for r in fake_openai.requests]


async def test_a_denied_mention_in_a_channel_gets_one_reply_and_no_thread(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    asked = await fake_discord.say(mallory(fake_discord), "hello?", mention_bot=True)
    await bot.settle()
    [refusal] = fake_discord.bot_messages()
    assert refusal["content"].startswith(NOT_FOR_YOU)
    assert refusal["channel_id"] == str(fake_discord.channel_id)
    assert refusal["message_reference"]["message_id"] == asked["id"]  # a reply to them
    assert refusal["allowed_mentions"] == {"parse": []}  # which pings nobody
    await fake_discord.say(mallory(fake_discord), "HELLO??", mention_bot=True)
    await bot.settle()
    assert len(fake_discord.bot_messages()) == 1
    assert threads_opened(fake_discord) == 0 and fake_openai.requests == []


async def test_a_denied_user_in_a_dm_is_told_once(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    dm = fake_discord.open_dm(mallory(fake_discord))
    for text in ("hi", "hi again"):
        await fake_discord.say(mallory(fake_discord), text, channel=dm)
        await bot.settle()
    assert len(refusals(fake_discord, dm)) == 1 and fake_openai.requests == []


async def test_a_denied_user_in_the_bots_thread_is_told_once_and_the_others_go_on(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    thread = int((await fake_discord.say(alice, "My name is Ada", mention_bot=True))["id"])
    await bot.settle()
    for text in ("psst, bot", "tell me a secret"):
        await fake_discord.say(mallory(fake_discord), text, channel=thread)
        await bot.settle()
    assert len(refusals(fake_discord, thread)) == 1
    await fake_discord.say(alice, "what is my name?", channel=thread)
    await bot.settle()
    assert fake_discord.bot_messages(thread)[-1]["content"] == "Your name is Ada."
    assert len(fake_openai.requests) == 2 and "secret" not in str(fake_openai.requests[-1].json)


async def test_a_denied_mention_in_someone_elses_thread_reads_nothing(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    bob = fake_discord.add_user("Bob")
    starter = await fake_discord.say(bob, "release notes draft")
    thread = await fake_discord.start_thread(starter, bob, "notes")
    await fake_discord.say(mallory(fake_discord), "summarize this", channel=int(thread["id"]),
                           mention_bot=True)
    await bot.settle()
    assert not fake_discord.calls_to("GET", HISTORY)  # no catch-up for someone refused
    assert len(refusals(fake_discord, int(thread["id"]))) == 1 and fake_openai.requests == []


async def test_a_role_opens_a_channel_and_only_its_holders_are_answered_there(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any, world: World
) -> None:
    helper = await member(fake_discord, "Helper", world.helpers)
    alice = fake_discord.add_user("Alice")
    asked = await fake_discord.say(helper, "printer is on fire", channel=world.helpdesk,
                                   mention_bot=True)
    await bot.settle()
    thread = int(asked["id"])
    assert fake_discord.bot_messages(thread)[0]["content"] == "You said: printer is on fire"
    # someone without the role: refused in the channel, and in the helper's thread (the
    # thread belongs to the channel the rule is about)
    await fake_discord.say(alice, "me too", channel=world.helpdesk, mention_bot=True)
    await fake_discord.say(alice, "any news?", channel=thread)
    await bot.settle()
    assert len(refusals(fake_discord, world.helpdesk)) == 1
    assert len(refusals(fake_discord, thread)) == 1
    assert threads_opened(fake_discord) == 1 and len(fake_openai.requests) == 1
    # elsewhere the channel rule does not apply
    await fake_discord.say(alice, "hello", mention_bot=True)
    await bot.settle()
    assert len(fake_openai.requests) == 2


async def test_a_server_manager_is_an_admin_everywhere(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any, world: World
) -> None:
    mod = await member(fake_discord, "Mod", world.mods)
    await fake_discord.say(mod, "status?", channel=world.helpdesk, mention_bot=True)
    await bot.settle()
    assert not refusals(fake_discord) and len(fake_openai.requests) == 1


async def test_slash_model_switches_the_threads_model(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    thread = int((await fake_discord.say(alice, "hello", mention_bot=True))["id"])
    await bot.settle()
    listed = await fake_discord.invoke("model", alice, channel=thread)
    switched = await fake_discord.invoke("model", alice, channel=thread, name="gpt-4.1")
    await bot.settle()
    assert listed.content and "gpt-4.1" in listed.content
    assert switched.content == "Switched this conversation to gpt-4.1."
    assert not switched.ephemeral  # the thread sees which model answers it now
    await fake_discord.say(alice, "and now?", channel=thread)
    await bot.settle()
    assert models(fake_openai) == ["gpt-4o-mini", "gpt-4.1"]


async def test_slash_usage_is_private_and_so_is_model_in_a_text_channel(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    await fake_discord.say(alice, "hello", mention_bot=True)
    await bot.settle()
    usage = await fake_discord.invoke("usage", alice)
    listed = await fake_discord.invoke("model", alice)
    await bot.settle()
    assert usage.ephemeral and usage.content and "Your usage" in usage.content
    assert "1 reply" in usage.content
    assert listed.ephemeral and listed.content and "gpt-4.1" in listed.content


async def test_slash_config_is_for_managers_and_a_channels_persona_reaches_its_threads(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any, world: World
) -> None:
    alice, mod = fake_discord.add_user("Alice"), await member(fake_discord, "Mod", world.mods)
    thread = int((await fake_discord.say(alice, "hello", mention_bot=True))["id"])
    await bot.settle()
    denied = await fake_discord.invoke("config", alice, channel=thread)
    shown = await fake_discord.invoke("config", mod, channel=thread)
    halfway = await fake_discord.invoke("config", mod, channel=thread, value="Be brief.")
    changed = await fake_discord.invoke("config", mod, channel=thread, key="persona",
                                        value="You are a pirate.")
    await bot.settle()
    assert all(i.ephemeral for i in (denied, shown, halfway, changed))
    assert denied.content and denied.content.startswith("Only an admin")
    assert shown.content and "Settings here" in shown.content
    assert halfway.content and "Say which setting" in halfway.content
    assert changed.content == "Set system_prompt for this channel."
    await fake_discord.say(alice, "ahoy?", channel=thread)  # the setting is the channel's
    await bot.settle()
    system = fake_openai.requests[-1].json["messages"][0]
    assert system["role"] == "system" and "You are a pirate." in system["content"]


async def test_a_denied_users_commands_are_refused_and_read_nothing(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    summary = await fake_discord.invoke("summarize", mallory(fake_discord))
    switch = await fake_discord.invoke("model", mallory(fake_discord), name="gpt-4.1")
    await bot.settle()
    assert summary.content and summary.content.startswith(NOT_FOR_YOU)
    assert switch.content and switch.content.startswith(NOT_FOR_YOU)
    assert not fake_discord.calls_to("GET", HISTORY) and fake_openai.requests == []


async def test_help_names_the_new_commands(bot: Bot, fake_discord: FakeDiscord) -> None:
    helped = await fake_discord.invoke("help", fake_discord.add_user("Alice"))
    await bot.settle()
    assert helped.content and all(f"`/{name}`" in helped.content
                                  for name in ("usage", "model", "config"))


async def test_slash_model_with_a_name_in_a_text_channel_points_to_the_threads(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    switched = await fake_discord.invoke("model", alice, name="gpt-4.1")
    await bot.settle()
    assert switched.content is not None and switched.content.startswith(
        "Conversations here live in threads: use /model inside one.")
    await fake_discord.say(alice, "hello", mention_bot=True)
    await bot.settle()
    assert models(fake_openai) == ["gpt-4o-mini"]


async def test_a_channel_summary_stopped_by_a_quota_is_not_kept_as_a_summary(
    bot: Bot, engine: Engine, fake_discord: FakeDiscord, fake_openai: Any, settings: Settings,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = fake_discord.add_user("Alice")
    await fake_discord.say(alice, "hello there", mention_bot=True)
    await bot.settle()
    monkeypatch.setenv("THREADBOT_USER_DAILY_TOKENS", "1")
    assert engine.gate.reload()  # a reload brings the quota in
    await fake_discord.say(alice, "lunch at noon?")
    summary = await fake_discord.invoke("summarize", alice)
    await bot.settle()
    assert summary.content is not None and "daily token limit" in summary.content
    assert len(fake_openai.requests) == 1
    store = await open_store(settings.db)
    try:
        kept = [m for t in await store.list_threads() for _, m in await store.history(t.key)]
    finally:
        await store.close()
    assert not [m for m in kept if "limit" in m.content]
