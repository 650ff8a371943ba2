"""Scale benchmark: N Slack conversations in flight in HTTP mode against a slow fake LLM.

    .venv/bin/python bench/scale_bench.py [--events 10000] [--latency 5] [--deadline 300]

A real `threadbot run` child process serves Slack's HTTP mode; the bench posts N signed
``app_mention`` events (each a new thread) as fast as the bot acknowledges them, while the
fake LLM (bench/fake_llm.py, its own process) waits ``--latency`` seconds before each reply
and the fake Slack (bench/fake_slack.py, its own process) records what the bot posts.
Reported: replies answered exactly once (one message per thread with the model's full
text, counted by the fake Slack), timeout messages, event-loop stalls over 100 ms (the
bot's THREADBOT_STALL_WARN_MS ticker), /healthz latency while loaded, the bot's peak RSS,
and the TCP connections the bot opened to Slack and to the LLM. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from bench.engine_bench import QUESTION, REPLY, pct  # noqa: E402
from bench.fake_llm import connections, fake_openai  # noqa: E402
from bench.fake_slack import SlackProcess, fake_slack  # noqa: E402
from bot.errors import USER_MESSAGES, ErrorKind  # noqa: E402
from tests.fakes.slack_payloads import BOT_USER_ID, event_callback, message_event, signed_headers  # noqa: E402

SECRET = "bench-signing-secret"
STALL = re.compile(r"event loop stalled for (\d+) ms \((\d+) ms of it running\)")
TIMED_OUT = USER_MESSAGES[ErrorKind.TIMEOUT]
CHANNELS = 100  # the threads are spread over this many channels


@dataclass
class Bot:
    proc: asyncio.subprocess.Process
    url: str
    stalls: list[tuple[float, int, int]] = field(default_factory=list)  # (when, ms, running ms)
    problems: list[str] = field(default_factory=list)  # other WARNING/ERROR lines

    async def read_log(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if (match := STALL.search(line)) is not None:
                self.stalls.append((time.monotonic(), int(match.group(1)), int(match.group(2))))
            elif " WARNING " in line or " ERROR " in line:  # (garbage collections too)
                self.problems.append(line)

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
        return kb / 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_bot(slack: SlackProcess, llm_url: str, db: str, root: Path,
                    profile: str = "") -> Bot:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "ANTHROPIC_", "THREADBOT_", "SLACK_", "DISCORD_"))
           and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    env.update(
        PYTHONPATH=str(root), SLACK_BOT_TOKEN=slack.token, SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.base_url, THREADBOT_HTTP_HOST="127.0.0.1", THREADBOT_HTTP_PORT=str(port),
        OPENAI_API_KEY="bench", OPENAI_BASE_URL=llm_url, THREADBOT_DB=db,
        THREADBOT_STALL_WARN_MS="100", THREADBOT_LOG_LEVEL="INFO",
    )
    profiling = ["-m", "cProfile", "-o", profile] if profile else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *profiling, "-m", "bot.cli", "run", env=env, cwd=root, stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    bot = Bot(proc, f"http://127.0.0.1:{port}")
    asyncio.get_running_loop().create_task(bot.read_log())
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(bot.url + "/healthz") as resp:
                    if resp.status == 200:
                        return bot
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the bot did not start: " + "\n".join(bot.problems[-5:]))


def thread_of(i: int) -> tuple[str, str]:
    return f"C{i % CHANNELS:04d}BENCH", f"1700000000.{i:06d}"


async def send_events(bot: Bot, n: int, acks: list[float]) -> int:
    """Post n signed app_mention events, 64 at a time (as fast as the bot acks them);
    returns how many were not acked 200."""
    failed = 0
    slots = asyncio.Semaphore(64)  # an ack is timed from when its request goes out
    connector = aiohttp.TCPConnector(limit=64)
    no_limit = aiohttp.ClientTimeout(total=None, sock_read=60)  # queued posts wait their turn
    async with aiohttp.ClientSession(connector=connector, timeout=no_limit) as http:
        async def one(i: int) -> None:
            nonlocal failed
            channel, ts = thread_of(i)
            event = message_event(f"<@{BOT_USER_ID}> {QUESTION}", ts=ts, channel=channel,
                                  kind="app_mention")
            body = json.dumps(event_callback(event))
            async with slots:
                started = time.monotonic()
                try:
                    async with http.post(bot.url + "/slack/events", data=body,
                                         headers=signed_headers(SECRET, body)) as resp:
                        failed += resp.status != 200
                except aiohttp.ClientError:
                    failed += 1
                acks.append(time.monotonic() - started)

        await asyncio.gather(*(one(i) for i in range(n)))
    return failed


async def probe_health(bot: Bot, samples: list[float], stop: asyncio.Event) -> None:
    """GET /healthz every 50 ms (one at a time) until ``stop``; latencies in seconds."""
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                async with http.get(bot.url + "/healthz") as resp:
                    await resp.read()
            except aiohttp.ClientError:
                pass
            samples.append(time.monotonic() - started)
            await asyncio.sleep(0.05)


async def wait_answered(slack: SlackProcess, n: int, deadline: float) -> float:
    """Seconds until every thread has a finished reply (or the deadline passed)."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        if (await slack.ask("count"))["finished"] >= n:
            break
        await asyncio.sleep(1.0)
    return time.monotonic() - started


def verdicts(replies: dict[str, list[str]], n: int) -> dict[str, int]:
    once = timeouts = missing = duplicates = wrong = 0
    for i in range(n):
        channel, ts = thread_of(i)
        texts = replies.get(f"{channel}/{ts}", [])
        timeouts += any(TIMED_OUT in t for t in texts)
        if not texts:
            missing += 1
        elif len(texts) > 1:
            duplicates += 1
        elif texts[0].strip() == REPLY:
            once += 1
        else:
            wrong += 1
    return {"answered exactly once": once, "timeout message": timeouts, "no reply": missing,
            "more than one message": duplicates, "other text": wrong}


async def run(args: argparse.Namespace) -> None:
    n = args.events
    with (fake_slack() as slack,
          fake_openai(reply=REPLY, latency=args.latency) as llm_url,
          tempfile.TemporaryDirectory() as tmp):
        bot = await start_bot(slack, llm_url, str(Path(tmp) / "scale.db"), args.bot_root.resolve(),
                              args.profile)
        try:
            before = await slack.ask("full")
            health: list[float] = []
            acks: list[float] = []
            stop = asyncio.Event()
            prober = asyncio.create_task(probe_health(bot, health, stop))
            load_start = time.monotonic()
            refused = await send_events(bot, n, acks)
            sent_in = time.monotonic() - load_start
            took = await wait_answered(slack, n, args.deadline) + sent_in
            stop.set()
            await prober
            await asyncio.sleep(args.settle)  # a late duplicate would show up now
            rss = bot.peak_rss_mb()
            result = await slack.ask("full")
            llm_connections = connections(llm_url)
        finally:
            bot.proc.terminate()
            await bot.proc.wait()
    load_stalls = [ms for when, ms, _ in bot.stalls if when >= load_start]
    running = [ms for when, _, ms in bot.stalls if when >= load_start]
    start_stalls = [ms for when, ms, _ in bot.stalls if when < load_start]
    print_report(args, result, before, {
        "events": n, "not acked 200": refused, "sent in s": sent_in, "all answered in s": took,
        "ack p50 ms": pct(acks, 0.5) * 1000, "ack p99 ms": pct(acks, 0.99) * 1000,
        "healthz p50 ms": pct(health, 0.5) * 1000, "healthz p99 ms": pct(health, 0.99) * 1000,
        "healthz max ms": max(health) * 1000, "healthz samples": len(health),
        "stalls > 100 ms (load)": len(load_stalls), "longest stall ms (load)": max(load_stalls, default=0),
        "stalled ms in total (load)": sum(load_stalls),
        "stalls > 100 ms of the bot's own running (load)": sum(ms > 100 for ms in running),
        "longest own running in a stall ms (load)": max(running, default=0),
        "stalls > 100 ms (start-up)": len(start_stalls), "peak RSS MB": rss,
        "LLM connections": llm_connections,
    }, bot.problems)


def print_report(args: argparse.Namespace, result: dict[str, Any], before: dict[str, Any],
                 figures: dict[str, Any], problems: list[str]) -> None:
    n = figures["events"]
    calls = {k: v - before["calls"].get(k, 0) for k, v in result["calls"].items()}
    print(f"machine: {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, "
          f"Python {platform.python_version()}; fake LLM latency {args.latency:g} s\n")
    rows = {**verdicts(result["replies"], n), **figures,
            "Slack connections (during load)": result["connections"] - before["connections"],
            "Slack API calls": sum(calls.values()),
            "appendStream per reply": calls.get("chat.appendStream", 0) / max(1, n),
            "calls on one message that overlapped": result["overlaps"],
            "shortest gap between calls on one message ms": result["min_gap"] * 1000}
    print("| figure | value |\n|---|---:|")
    for name, value in rows.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        print(f"| {name} | {shown} |")
    print("\ncalls by method:", json.dumps(dict(sorted(calls.items()))))
    if problems:
        print(f"\n{len(problems)} other warning/error line(s) in the bot's log, first ones:")
        for line in dict.fromkeys(re.sub(r"^\S+ \S+ ", "", p) for p in problems[:200]):
            print("  ", line[:200])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=5.0, help="fake LLM latency (s)")
    parser.add_argument("--deadline", type=float, default=300.0,
                        help="seconds to wait for every reply after the last event")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--profile", default="", help="write the bot's cProfile stats here")
    parser.add_argument("--bot-root", type=Path, default=Path.cwd(),
                        help="the threadbot checkout the bot runs from (to measure another version)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
