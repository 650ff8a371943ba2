"""Three `threadbot run` replicas on one database behind a "load balancer" (the test picks a
replica per event), Slack over HTTP: 1,000 messages over 100 threads, each event sent to a
random replica and about 20 % delivered again to another one (as Slack retries), one replica
killed -9 mid-run and started again. Every message must end answered exactly once, in
order per thread, none lost.

The fake model answers "ack" and the ids of the messages it was asked to answer (those
after the last reply in its request), so the stored replies show which reply answered what.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.types import Ending, ThreadKey
from storage import open_store
from tests.fakes.slack_payloads import BOT_USER_ID, TEAM_ID
from tests.fakes.slack_server import FakeSlack
from tests.harness import Bot, bot_env, free_port, post_event, running

THREADS, PER_THREAD, REPLICAS = 100, 10, 3
CHANNEL = "C0GENERAL"
ID = re.compile(r"\bq\d+-\d+\b")


def ack_new_messages(messages: list[dict[str, Any]]) -> str:
    last_reply = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    asked = [ID.findall(str(m["content"])) for m in messages[last_reply + 1:] if m["role"] == "user"]
    return "ack " + " ".join(i for ids in asked for i in ids)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "Alice")
        yield fake


class Balancer:
    """Sends each event to a random live replica; a refused connection (a dead replica) is
    retried on another, as Slack retries an event that got no answer."""

    def __init__(self, bots: list[Bot | None], rng: random.Random) -> None:
        self.bots = bots
        self.rng = rng

    async def deliver(self, text: str, ts: str, **kw: Any) -> None:
        first: Bot | None = None
        for attempt in range(50):
            live = [b for b in self.bots if b is not None and b is not first]
            bot = self.rng.choice(live or [b for b in self.bots if b is not None])
            try:
                status = await post_event(bot.url, text, ts, retry=attempt, **kw)
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
                continue
            assert status == 200
            if first is None and self.rng.random() < 0.2:
                first = bot  # Slack delivers it again, to another replica
                continue
            return
        raise AssertionError("no replica took the event")


async def conversation(balancer: Balancer, slack: FakeSlack, n: int) -> str:
    root = slack.next_ts()
    await balancer.deliver(f"<@{BOT_USER_ID}> q{n}-0", root)
    for i in range(1, PER_THREAD):
        await asyncio.sleep(balancer.rng.uniform(0, 0.05))
        await balancer.deliver(f"q{n}-{i}", slack.next_ts(), thread_ts=root)
    return root


async def answered_in_order(url: str, roots: dict[int, str]) -> dict[int, list[str]]:
    """Per thread, the message ids the finished replies acknowledged, in reply order."""
    store = await open_store(url)
    try:
        acked: dict[int, list[str]] = {}
        for n, root in roots.items():
            history = await store.history(ThreadKey("slack", TEAM_ID, CHANNEL, root))
            replies = [m for _, m in history if m.role == "assistant" and m.ending is Ending.ANSWERED]
            acked[n] = [i for m in replies for i in ID.findall(m.content)]
        return acked
    finally:
        await store.close()


async def until_all_answered(url: str, roots: dict[int, str]) -> dict[int, list[str]]:
    async with asyncio.timeout(60):
        while True:
            acked = await answered_in_order(url, roots)
            if sum(len(v) for v in acked.values()) >= THREADS * PER_THREAD:
                return acked
            await asyncio.sleep(0.5)


async def test_three_replicas_answer_every_message_exactly_once_in_order(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any, database: str
) -> None:
    """On each store: a SQLite file (processes on one machine) and PostgreSQL."""
    fake_openai.reply_with(ack_new_messages)
    fake_openai.delay = 0.01
    url = database
    env = bot_env(tmp_path, slack, fake_openai, THREADBOT_DB=url, THREADBOT_LEASE_S="3")
    rng = random.Random(9)
    ports = [free_port() for _ in range(REPLICAS)]
    async with AsyncExitStack() as stack:
        bots: list[Bot | None] = [
            await stack.enter_async_context(running(env, port, quiet=True)) for port in ports
        ]
        balancer = Balancer(bots, rng)
        talks = [asyncio.create_task(conversation(balancer, slack, n)) for n in range(THREADS)]
        await asyncio.sleep(1.0)  # mid-run: one replica dies
        victim = bots[1]
        assert victim is not None
        bots[1] = None
        victim.proc.kill()
        await victim.proc.wait()
        await asyncio.sleep(0.5)
        bots[1] = await stack.enter_async_context(running(env, ports[1], quiet=True))
        roots = dict(enumerate(await asyncio.gather(*talks)))
        acked = await until_all_answered(url, roots)
        # the killed replica's streams are closed by whichever replica takes its leftovers
        # over (within two sweeps)
        async with asyncio.timeout(30):
            while [p for p in slack.posts if p.open]:
                await asyncio.sleep(0.2)
    for n in range(THREADS):
        assert acked[n] == [f"q{n}-{i}" for i in range(PER_THREAD)], f"thread {n}"
