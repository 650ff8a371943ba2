"""`threadbot run` as a real process serving Slack over HTTP (fake Slack Web API, fake
OpenAI), stopped the two ways production stops it: SIGTERM (a deploy) and kill -9 (a crash).
What a user sees must be whole: every message answered exactly once, nothing left
"thinking", the database intact."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.slack_server import (
    BOT_USER_ID,
    FakeSlack,
    event_callback,
    message_event,
    signed_headers,
)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "restart-secret"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "Alice")
        yield fake


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Bot:
    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    async def post_event(self, text: str, ts: str, **kw: Any) -> int:
        body = json.dumps(event_callback(message_event(text, ts=ts, **kw)))
        async with aiohttp.ClientSession() as http, http.post(
            self.url + "/slack/events", data=body, headers=signed_headers(SECRET, body)
        ) as resp:
            return resp.status


@asynccontextmanager
async def running(env: dict[str, str], port: int) -> AsyncIterator[Bot]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("OPENAI_", "THREADBOT_", "SLACK_", "DISCORD_"))}
    clean.update(env, PYTHONPATH=str(ROOT), THREADBOT_HTTP_HOST="127.0.0.1",
                 THREADBOT_HTTP_PORT=str(port))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=clean, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(url + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("threadbot never served /healthz")
        yield Bot(proc, url)
    finally:
        if proc.returncode is None:
            proc.kill()
        _, err = await proc.communicate()
        print(err.decode(errors="replace"))  # shown when a test fails


def bot_env(tmp_path: Path, slack: FakeSlack, fake_openai: Any, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "k",
        "THREADBOT_PROVIDER_RETRIES": "0", "THREADBOT_DB": str(tmp_path / "bot.db"),
        "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.base_url, **extra,
    }


async def streamed(slack: FakeSlack, root: str, chars: int) -> None:
    """Until the bot has shown at least ``chars`` characters in the thread."""
    async with asyncio.timeout(10):
        while sum(len(p.text) for p in slack.posts if p.thread_ts == root) < chars:
            await asyncio.sleep(0.01)


async def test_sigterm_lets_the_reply_finish_within_the_grace_period(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with("one two three four five six seven eight")
    fake_openai.delay = 0.05
    env = bot_env(tmp_path, slack, fake_openai, THREADBOT_SHUTDOWN_GRACE="10")
    async with running(env, free_port()) as bot:
        root = slack.next_ts()
        assert await bot.post_event(f"<@{BOT_USER_ID}> count", root) == 200
        await streamed(slack, root, 4)
        bot.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.proc.wait(), 15) == 0
    [reply] = [p for p in slack.posts if p.thread_ts == root]
    assert reply.text == "one two three four five six seven eight" and not reply.open


async def test_sigterm_past_the_grace_period_keeps_the_text_marked_interrupted(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with("word " * 200)
    fake_openai.delay = 0.05
    env = bot_env(tmp_path, slack, fake_openai, THREADBOT_SHUTDOWN_GRACE="0.3")
    async with running(env, free_port()) as bot:
        root = slack.next_ts()
        await bot.post_event(f"<@{BOT_USER_ID}> a long story", root)
        await streamed(slack, root, 10)
        bot.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.proc.wait(), 15) == 0
    [reply] = [p for p in slack.posts if p.thread_ts == root]
    assert reply.text.startswith("word") and "interrupted" in reply.text and not reply.open
    async with running(bot_env(tmp_path, slack, fake_openai), free_port()):
        await asyncio.sleep(0.5)  # a restart: nothing is answered again
    assert len(fake_openai.requests) == 1


async def test_kill_9_mid_reply_is_tidied_up_and_answered_once_after_restart(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with("word " * 200)
    fake_openai.delay = 0.05
    env = bot_env(tmp_path, slack, fake_openai)
    async with running(env, free_port()) as bot:
        root = slack.next_ts()
        await bot.post_event(f"<@{BOT_USER_ID}> My name is Ada.", root)
        await streamed(slack, root, 10)
        bot.proc.kill()
        await bot.proc.wait()
    fake_openai.delay = 0
    fake_openai.reply_with("Welcome back, Ada.")
    async with running(env, free_port()):
        async with asyncio.timeout(10):
            while not any(p.text == "Welcome back, Ada." and not p.open for p in slack.posts):
                await asyncio.sleep(0.02)
    [cut, answer] = [p for p in slack.posts if p.thread_ts == root]
    assert "answering again" in cut.text and not cut.open
    assert answer.text == "Welcome back, Ada."
    assert len(fake_openai.requests) == 2
    with sqlite3.connect(tmp_path / "bot.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM messages WHERE awaits_answer = 1").fetchone() == (0,)
