"""THREADBOT_DISCORD_SHARDS / _SHARD_IDS as an admin writes them: every mistake is one line
naming the variable (`threadbot run` exits with it), and a good value runs those shards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.commands import DESCRIPTIONS
from adapters.discord.settings import DiscordSettings
from adapters.discord.sharding import Sharding, shard_of
from bot.errors import ConfigError
from tests.fakes.discord_server import FakeDiscord
from tests.process import ROOT, child_env, command, llm_env, threadbot

IDS = "THREADBOT_DISCORD_SHARD_IDS"


def load(monkeypatch: pytest.MonkeyPatch, **variables: str) -> DiscordSettings:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return DiscordSettings.load(_env_file=None)


@pytest.mark.parametrize(("shards", "ids", "said"), [
    (None, "0,1", "set THREADBOT_DISCORD_SHARDS (the total number of shards) too"),
    ("2", "2", "there is no shard 2: with THREADBOT_DISCORD_SHARDS=2 the ids run from 0 to 1"),
    ("2", "-1", "there is no shard -1"),
    ("4", "0,x", "'x' is not a shard id; list whole numbers separated by commas, e.g. 0,1"),
    ("4", "1.5", "'1.5' is not a shard id"),
    ("4", "1,3,1", "shard 1 is listed twice"),
    ("4", "0,,1", "an empty entry in '0,,1'"),
    ("4", " , ", "no shard ids given"),
])
def test_a_wrong_shard_id_list_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, shards: str | None, ids: str, said: str
) -> None:
    variables = {IDS: ids} | ({"THREADBOT_DISCORD_SHARDS": shards} if shards else {})
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, **variables)
    message = str(caught.value)
    assert message.startswith(f"Invalid setting {IDS}: ") and said in message
    assert "\n" not in message and "Value error" not in message


@pytest.mark.parametrize("shards", ["0", "-2", "two"])
def test_a_wrong_shard_count_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, shards: str
) -> None:
    with pytest.raises(ConfigError, match="^Invalid setting THREADBOT_DISCORD_SHARDS: "):
        load(monkeypatch, THREADBOT_DISCORD_SHARDS=shards, **{IDS: "0"})


def test_the_shards_a_process_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Sharding.of(load(monkeypatch)) is None  # unset: one plain connection
    assert Sharding.of(load(monkeypatch, THREADBOT_DISCORD_SHARDS="3")) == Sharding(3, (0, 1, 2))
    picked = Sharding.of(load(monkeypatch, **{IDS: " 2, 0 "}))
    assert picked == Sharding(3, (2, 0))
    assert picked.registers_commands and str(picked) == "shards 2, 0 of 3"
    assert not Sharding(3, (1,)).registers_commands
    # Discord's formula, as its libraries document it; DMs go to shard 0.
    assert shard_of(81384788765712384, 17) == 7 and shard_of(None, 17) == 0
    assert Sharding(2, (0,)).runs(None) and not Sharding(2, (1,)).runs(None)


async def test_threadbot_run_with_a_bad_shard_id_exits_with_one_line(tmp_path: Path) -> None:
    env = {"DISCORD_BOT_TOKEN": "token", "THREADBOT_DISCORD_SHARDS": "2", IDS: "0,2",
           "THREADBOT_DB": str(tmp_path / "bot.db")}
    code, out, err = await threadbot("run", cwd=tmp_path, env=env)
    assert code == 2 and out == ""
    assert err == (f"threadbot: Invalid setting {IDS}: there is no shard 2: with "
                   "THREADBOT_DISCORD_SHARDS=2 the ids run from 0 to 1\n")


@contextlib.asynccontextmanager
async def threadbot_run(env: dict[str, str], log: Path) -> AsyncIterator[None]:
    """`threadbot run` as a child process until the block ends; then SIGTERM, and it must
    exit cleanly. Its log is printed at the end (pytest shows it for a failing test)."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *command("run"), env=child_env(env), cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=out)
    try:
        yield
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        print(await asyncio.to_thread(log.read_text, errors="replace"))


async def test_two_threadbot_processes_share_the_shards_and_one_database(
    tmp_path: Path, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    channels = [fake_discord.add_channel(f"shard{n}", guild=fake_discord.add_guild(
        f"Shard {n}", shard=(n, 2))) for n in (0, 1)]
    env = {**llm_env(fake_openai, tmp_path), "DISCORD_BOT_TOKEN": fake_discord.token,
           "DISCORD_API_URL": fake_discord.api_url,
           "DISCORD_GATEWAY_URL": fake_discord.gateway_url, "THREADBOT_DISCORD_SHARDS": "2"}
    # One after the other, (the SQLite migrations also cope with processes starting together).
    async with threadbot_run({**env, IDS: "0"}, tmp_path / "shard0.log"):
        await fake_discord.wait_for(lambda: len(fake_discord.sessions()) == 1, within=30)
        async with threadbot_run({**env, IDS: "1"}, tmp_path / "shard1.log"):
            await fake_discord.wait_for(lambda: len(fake_discord.sessions()) == 2, within=30)
            alice = fake_discord.add_user("Alice")
            asked = [await fake_discord.say(alice, f"hello {n}", channel=c, mention_bot=True)
                     for n, c in enumerate(channels)]
            await fake_discord.wait_for(lambda: all(
                fake_discord.bot_messages(int(m["id"])) for m in asked), within=30)
            await asyncio.sleep(0.5)  # time for a second answer, were there one

    assert fake_discord.sessions() == {0: (0, 2), 1: (1, 2)}
    assert [[m["content"] for m in fake_discord.bot_messages(int(a["id"]))] for a in asked] == [
        ["You said: hello 0"], ["You said: hello 1"]]
    assert len(fake_openai.requests) == 2
    assert len(fake_discord.calls_to("PUT", r"^/applications/\d+/commands$")) == 1
    logs = [(tmp_path / f"shard{n}.log").read_text() for n in (0, 1)]
    assert f"registered {len(DESCRIPTIONS)} slash commands" in logs[0]
    assert "slash commands are registered by the process that runs shard 0" in logs[1]
    assert not any("Traceback" in log or " ERROR " in log for log in logs)
