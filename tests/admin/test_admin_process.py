"""The admin controls in a real `threadbot run` (Slack over HTTP, the real SDKs, the
loopback fakes): a reload by `threadbot reload` and by SIGHUP reaches the running process
without a restart, and a denied user is refused there."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.admin.access import NOT_FOR_YOU
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack
from tests.harness import Bot, bot_env, free_port, running
from tests.process import threadbot


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "Alice")
        fake.add_user("U0MALLORY", "Mallory")
        yield fake


async def ask(bot: Bot, slack: FakeSlack, fake_openai: Any, user: str = "U0ALICE") -> str:
    """Mention the bot in a new thread; the system prompt the provider got."""
    before = len(fake_openai.requests)
    root = slack.next_ts()
    assert await bot.post_event(f"<@{BOT_USER_ID}> hello", root, user=user) == 200
    async with asyncio.timeout(10):
        while len(fake_openai.requests) == before:
            await asyncio.sleep(0.02)
    return str(fake_openai.requests[-1].json["messages"][0]["content"])


def persona(path: Path, text: str) -> None:
    path.write_text(f'[defaults]\nsystem_prompt = "{text}"\n')


async def test_reload_and_sighup_reach_the_running_bot(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    config = tmp_path / "threadbot.toml"
    persona(config, "First persona.")
    env = bot_env(tmp_path, slack, fake_openai, THREADBOT_CONFIG=str(config))
    async with running(env, free_port()) as bot:
        assert await ask(bot, slack, fake_openai) == "First persona."
        persona(config, "Second persona.")
        code, out, err = await threadbot("reload", cwd=tmp_path, env=env)
        assert code == 0, err
        await asyncio.sleep(2.5)  # every process looks every 2 s
        assert await ask(bot, slack, fake_openai) == "Second persona."
        persona(config, "Third persona.")
        bot.proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        assert await ask(bot, slack, fake_openai) == "Third persona."
        config.write_text("[defaults\n")  # broken: refused by reload, the one in use stays
        code, _, err = await threadbot("reload", cwd=tmp_path, env=env)
        assert code == 2 and "not valid TOML" in err
        bot.proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        assert await ask(bot, slack, fake_openai) == "Third persona."
        assert bot.proc.returncode is None


async def test_a_denied_user_is_refused_once_by_the_running_bot(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    env = bot_env(tmp_path, slack, fake_openai, THREADBOT_DENIED_USERS="U0MALLORY")
    async with running(env, free_port()) as bot:
        root = slack.next_ts()
        for _ in range(2):
            await bot.post_event(f"<@{BOT_USER_ID}> hello", slack.next_ts(), user="U0MALLORY",
                                 thread_ts=root)
        await asyncio.sleep(1.0)
        assert await ask(bot, slack, fake_openai) != ""  # Alice is answered
    refusals = [p for p in slack.posts if p.thread_ts == root]
    assert [p.text for p in refusals] == [NOT_FOR_YOU]
    assert len(fake_openai.requests) == 1
