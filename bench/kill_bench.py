"""Crash benchmark: kill -9 `threadbot run` (Slack, HTTP mode) at random moments during a
steady stream of turns, start it again each time, and check what users would see.

    .venv/bin/python bench/kill_bench.py [--kills 20] [--rate 15] [--seed 1]

Slack's side is played as Slack plays it: every event is POSTed, signed, until it gets its
acknowledgement (a refused connection or an error is delivered again, marked as a retry).
The fake LLM streams each answer over ~0.3 s, so kills land before, during and after
replies. At the end the bot is stopped with SIGTERM and the benchmark reports:

- acknowledged messages that are not in the database (lost),
- messages still waiting for an answer (unanswered), answers that covered a message twice,
- Slack messages left "thinking" (an open stream, a lone placeholder),
- SQLite's integrity check.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack  # noqa: E402
from tests.harness import bot_env, free_port, post_event, running  # noqa: E402


@dataclass
class Traffic:
    """Slack's side: events to deliver until acknowledged."""

    rng: random.Random
    url: str = ""
    roots: list[str] = field(default_factory=list)  # threads the bot was mentioned in
    acked: set[str] = field(default_factory=set)
    sent: int = 0
    retries: int = 0

    async def deliver(self, slack: FakeSlack, text: str, thread_ts: str | None) -> None:
        ts = slack.next_ts()
        attempt = 0
        while True:
            try:
                status = await post_event(self.url, text, ts, retry=attempt, thread_ts=thread_ts)
            except (OSError, aiohttp.ClientError):
                status = 0  # the bot is down, or died mid-request: Slack tries again later
            if status == 200:
                self.acked.add(ts)
                if thread_ts is None:
                    self.roots.append(ts)
                return
            attempt += 1
            self.retries += 1
            await asyncio.sleep(0.2)

    async def run(self, slack: FakeSlack, rate: float, stop: asyncio.Event) -> None:
        pending: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            self.sent += 1
            if self.roots and self.rng.random() < 0.7:
                task = asyncio.create_task(self.deliver(
                    slack, f"follow-up {self.sent}", self.rng.choice(self.roots[-20:])))
            else:
                task = asyncio.create_task(self.deliver(
                    slack, f"<@{BOT_USER_ID}> question {self.sent}", None))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(self.rng.expovariate(rate))
        await asyncio.gather(*pending)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rate", type=float, default=15.0, help="new messages per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeSlack() as slack, FakeOpenAI() as llm:
            slack.add_user("U0ALICE", "Alice")
            llm.reply_with("A steady answer that streams in over a few hundred milliseconds.")
            llm.chunk_size, llm.delay = 6, 0.025
            env = bot_env(Path(tmp), slack, llm, THREADBOT_LOG_LEVEL="WARNING")
            port = free_port()
            traffic = Traffic(rng, url=f"http://127.0.0.1:{port}")
            stop = asyncio.Event()
            sender = asyncio.create_task(traffic.run(slack, args.rate, stop))
            started = time.monotonic()
            for _ in range(args.kills):
                async with running(env, port, quiet=True) as bot:
                    await asyncio.sleep(rng.uniform(0.2, 2.0))
                    bot.proc.kill()  # kill -9
                    await bot.proc.wait()
            async with running(env, port, quiet=True) as bot:
                stop.set()
                await sender
                await settle(Path(tmp) / "bot.db", slack)
                bot.proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bot.proc.wait(), 30)
            report(Path(tmp) / "bot.db", slack, traffic, args.kills, time.monotonic() - started)
            if args.debug:
                debug(Path(tmp) / "bot.db", slack)


async def settle(db: Path, slack: FakeSlack, within: float = 60.0) -> None:
    """Until nothing waits for an answer and nothing shows "thinking"."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if waiting(db) == 0 and not thinking(slack):
            return
        await asyncio.sleep(0.2)


def waiting(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT COUNT(*) FROM messages WHERE awaits_answer = 1")
                   .fetchone()[0])


def thinking(slack: FakeSlack) -> int:
    return sum(1 for p in slack.posts if p.open or p.text == "_Thinking…_")


def report(db: Path, slack: FakeSlack, traffic: Traffic, kills: int, seconds: float) -> None:
    with sqlite3.connect(db) as con:
        stored = {r[0] for r in con.execute(
            "SELECT platform_msg_id FROM messages WHERE role = 'user'")}
        unanswered = waiting(db)
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        replies = con.execute(
            "SELECT COUNT(*) FROM messages WHERE role = 'assistant' AND ending IS NOT NULL"
        ).fetchone()[0]
        interrupted = con.execute(
            "SELECT COUNT(*) FROM messages WHERE ending = 'interrupted'").fetchone()[0]
    lost = traffic.acked - stored
    print(f"kill -9: {kills} times over {seconds:.0f} s, then SIGTERM")
    print(f"messages sent {traffic.sent:,}, acknowledged {len(traffic.acked):,}, "
          f"redelivered after no ack {traffic.retries:,}")
    print(f"lost (acknowledged, not stored): {len(lost)}")
    print(f"left unanswered after the last restart: {unanswered}")
    print(f"replies stored: {replies:,} (interrupted by the SIGTERM: {interrupted})")
    print(f"left thinking on Slack (open streams, placeholders): {thinking(slack)}")
    for post in slack.posts:
        if post.open or post.text == "_Thinking…_":
            print(f"  {post.kind} {post.ts} in {post.thread_ts or post.channel}: {post.text[:60]!r}")
    print(f"PRAGMA integrity_check: {integrity}")



def debug(db: Path, slack: FakeSlack) -> None:
    with sqlite3.connect(db) as con:
        for post in slack.posts:
            if not (post.open or post.text == "_Thinking…_"):
                continue
            print("OPEN", post.ts, post.thread_ts)
            for row in con.execute(
                """SELECT m.id, m.role, m.ending, m.refs, m.awaits_answer, substr(m.content,1,30)
                   FROM messages m JOIN threads t ON t.id = m.thread_id
                   WHERE t.thread = ? ORDER BY m.id""", (post.thread_ts,)):
                print("   ", row)


if __name__ == "__main__":
    asyncio.run(main())
