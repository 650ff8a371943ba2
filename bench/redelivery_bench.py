"""Redelivery benchmark: every event Slack might send twice, sent many times, to a real
`threadbot run` (Slack, HTTP mode), including across a restart — each message must be
answered exactly once, each command and hint given once.

    .venv/bin/python bench/redelivery_bench.py [--messages 2000] [--seed 1]

Each message is delivered as Slack does and then again: two copies at the same moment
(two Slack retries racing), the ``app_mention`` twin of a mention, a marked retry
(``X-Slack-Retry-Num``) a little later, and — after the bot is stopped and started again
— once more. Some messages are ``!help`` commands and bare mentions (a hint). Counted at
the end, from what the fake LLM was asked and what the fake Slack shows:

- user messages that were the new input of more than one model request (answered twice)
  or of none (never answered);
- help texts and hints shown more than once for one message.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack  # noqa: E402
from tests.harness import bot_env, free_port, post_event, running  # noqa: E402

HINT = "Send me a message with some text"
HELP = "!reset"  # the help text lists the commands


@dataclass(frozen=True)
class Event:
    text: str
    ts: str
    thread_ts: str | None
    mention: bool


async def deliver(url: str, event: Event, *, retry: int = 0, kind: str = "message") -> int:
    return await post_event(url, event.text, event.ts, retry=retry, thread_ts=event.thread_ts,
                            kind=kind)


async def all_copies(url: str, event: Event, stats: Counter[str]) -> None:
    """The first delivery, two racing copies, the app_mention twin, and a late retry."""
    copies = [deliver(url, event), deliver(url, event, retry=1), deliver(url, event, retry=1)]
    if event.mention:
        copies.append(deliver(url, event, kind="app_mention"))
    statuses = await asyncio.gather(*copies)
    stats["deliveries"] += len(copies)
    stats["not acknowledged"] += sum(s != 200 for s in statuses)
    await asyncio.sleep(0.05)
    stats["deliveries"] += 1
    stats["not acknowledged"] += await deliver(url, event, retry=2) != 200


def plan(slack: FakeSlack, n: int, rng: random.Random) -> list[Event]:
    events: list[Event] = []
    roots: list[str] = []
    for i in range(n):
        ts = slack.next_ts()
        roll = rng.random()
        if roll < 0.05:
            events.append(Event(f"<@{BOT_USER_ID}>", ts, None, True))  # a hint
        elif roots and roll < 0.10:
            events.append(Event("!help", ts, rng.choice(roots), False))
        elif roots and roll < 0.65:
            events.append(Event(f"follow-up [{i}]", ts, rng.choice(roots[-30:]), False))
        else:
            events.append(Event(f"<@{BOT_USER_ID}> question [{i}]", ts, None, True))
            roots.append(ts)
    return events


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    stats: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeSlack() as slack, FakeOpenAI() as llm:
            slack.add_user("U0ALICE", "Alice")
            llm.reply_with("ok")
            env = bot_env(Path(tmp), slack, llm, THREADBOT_LOG_LEVEL="WARNING")
            events = plan(slack, args.messages, rng)
            started = time.monotonic()
            port = free_port()
            async with running(env, port, quiet=True) as bot:
                for i in range(0, len(events), 50):  # 50 messages in flight at a time
                    await asyncio.gather(*(all_copies(bot.url, e, stats)
                                           for e in events[i:i + 50]))
                await asyncio.sleep(2)
                bot.proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bot.proc.wait(), 30)
            async with running(env, port, quiet=True) as bot:  # after a restart, all again
                for i in range(0, len(events), 100):
                    statuses = await asyncio.gather(*(deliver(bot.url, e, retry=3)
                                                      for e in events[i:i + 100]))
                    stats["deliveries"] += len(statuses)
                    stats["not acknowledged"] += sum(s != 200 for s in statuses)
                await asyncio.sleep(2)
            report(events, llm, slack, stats, time.monotonic() - started)


def report(events: list[Event], llm: Any, slack: FakeSlack, stats: Counter[str],
           seconds: float) -> None:
    asked = [new_input(r.json) for r in llm.requests if r.path.endswith("/chat/completions")]
    said = [e for e in events if "[" in e.text]
    times: Counter[str] = Counter()
    for text in asked:
        for e in said:
            if e.text.split("> ")[-1] in text.split("\n\n"):
                times[e.ts] += 1
    twice = sum(1 for e in said if times[e.ts] > 1)
    never = sum(1 for e in said if times[e.ts] == 0)
    hints = Counter(p.thread_ts for p in slack.posts if HINT in p.text)
    helps = Counter(p.thread_ts for p in slack.posts if HELP in p.text)
    hint_events = [e for e in events if e.text == f"<@{BOT_USER_ID}>"]
    help_events = [e for e in events if e.text == "!help"]
    print(f"{len(events):,} messages ({len(said):,} to answer, {len(help_events)} !help, "
          f"{len(hint_events)} bare mentions) delivered {stats['deliveries']:,} times: "
          f"{stats['deliveries'] - len(events):,} redeliveries, one restart, {seconds:.0f} s")
    print(f"not acknowledged: {stats['not acknowledged']}")
    print(f"model requests: {len(asked):,}")
    print(f"messages answered twice: {twice}; never answered: {never}")
    print(f"hints shown more than once for one message: {sum(1 for n in hints.values() if n > 1)}"
          f" (shown {sum(hints.values())} for {len(hint_events)})")
    per_thread = Counter(e.thread_ts or "" for e in help_events)
    extra = sum(max(0, helps[t] - n) for t, n in per_thread.items())
    print(f"help texts shown more than once: {extra} (shown {sum(helps.values())} "
          f"for {len(help_events)})")


def new_input(body: dict[str, Any]) -> str:
    messages = [m for m in body["messages"] if m["role"] != "system"]
    return str(messages[-1]["content"]) if messages and messages[-1]["role"] == "user" else ""


if __name__ == "__main__":
    asyncio.run(main())
