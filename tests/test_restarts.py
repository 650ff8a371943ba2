"""`threadbot run` as a real process serving Slack over HTTP (fake Slack Web API, fake
OpenAI), stopped the two ways production stops it: SIGTERM (a deploy) and kill -9 (a crash).
What a user sees must be whole: every message answered exactly once, nothing left
"thinking", the database intact."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.slack_server import BOT_USER_ID, FakeSlack
from tests.harness import bot_env, free_port, running


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "Alice")
        yield fake


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


async def test_a_console_killed_mid_reply_answers_the_question_on_its_next_start(
    tmp_path: Path, fake_openai: Any
) -> None:
    from tests.process import child_env, command, llm_env, threadbot

    env = llm_env(fake_openai, tmp_path)
    fake_openai.reply_with("word " * 200)
    fake_openai.delay = 0.05
    proc = await asyncio.create_subprocess_exec(
        *command("console", "--thread", "t"), env=child_env(env), cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"My name is Ada.\n")
    await proc.stdin.drain()
    assert await asyncio.wait_for(proc.stdout.readexactly(9), 10) == b"bot> word"
    proc.kill()
    await proc.wait()

    fake_openai.delay = 0
    fake_openai.reply_with(lambda messages: "Hello again, " + messages[-1]["content"])
    code, out, err = await threadbot("console", "--thread", "t", cwd=tmp_path, env=env)
    assert code == 0, err
    assert out.strip() == "bot> Hello again, My name is Ada."
    code, out, _ = await threadbot("console", "--thread", "t", cwd=tmp_path, env=env)
    assert code == 0 and out == ""  # answered once
